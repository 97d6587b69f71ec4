"""The loading-strategy matrix (conformance/render/loading_matrix.py): one cell per dtype and loading path,
saying what the target did; a path that fails under the oracle too never blames the backend."""
from __future__ import annotations

from records import judged

from conformance.observe import DTYPE_ABSENT, NOT_IN_THIS_SAFETENSORS
from conformance.render import loading_matrix as lm


def cell(path: str, dtype: str, raw: str, **kw) -> dict:
    return judged({"id": f"load_path[{path}-{dtype}]", "api": "a", "raw_outcome": raw, "outcome": raw,
                   "summary": "s", **kw})


def matrix(*records) -> dict:
    return lm.build({"run": {"target": "t", "target_env": {"safetensors": "0.8.0"}}, "cases": list(records)})


def label(m: dict, dtype: str, path: str) -> str:
    return m["cells"][dtype][path]["label"]


def test_each_cell_says_what_the_target_did():
    m = matrix(cell("load", "float32", "PASS"),
               cell("safe_open-pt", "float32", "MISSING",
                    observed={"raises": "AttributeError", "message": "'FloatTensor' object has no attribute 'untyped_storage'"}),
               cell("load_file-mmap", "float32", "FAIL", observed={"value": {}},
                    diffs=[{"path": "value.stride[0]"}, {"path": "value.bytes"}]),
               cell("load", "bfloat16", "FAIL", observed={"raises": "TypeError", "type": "builtins.TypeError"}),
               cell("load_file-mmap", "bfloat16", "MISSING", observed={DTYPE_ABSENT: "bfloat16"}),
               cell("load_file-pread", "float32", "SKIP",
                    oracle={"value": {NOT_IN_THIS_SAFETENSORS: "backend= needs 0.8.0"}}))
    assert label(m, "float32", "load") == "PASS"
    assert label(m, "float32", "safe_open-pt") == "MISSING Tensor.untyped_storage"
    assert label(m, "float32", "load_file-mmap") == "FAIL silently wrong (bytes, stride)"
    assert label(m, "bfloat16", "load") == "FAIL raised TypeError"
    assert label(m, "bfloat16", "load_file-mmap") == "MISSING torch.bfloat16"
    assert label(m, "float32", "load_file-pread") == "n/a (not in this safetensors)"
    assert m["counts"] == {"FAIL": 2, "MISSING": 2, "N/A": 1, "PASS": 1}


def test_a_path_that_fails_under_the_oracle_never_blames_the_backend():
    oracle = {"raises": "TypeError", "type": "builtins.TypeError"}
    m = matrix(cell("safe_open-numpy", "bfloat16", "PASS", oracle=oracle),
               cell("safe_open-numpy", "float16", "FAIL", oracle=oracle, observed={"value": {}}))
    assert label(m, "bfloat16", "safe_open-numpy") == "fails under oracle too (TypeError; target fails the same way)"
    assert label(m, "float16", "safe_open-numpy") == "fails under oracle too (TypeError; target: no exception)"
    assert m["cells"]["float16"]["safe_open-numpy"]["status"] == "ORACLE-FAILS"


def test_rows_follow_the_dtype_table_and_columns_only_the_paths_run():
    m = matrix(cell("load", "uint8", "PASS"), cell("load", "float32", "PASS"), cell("load", "float64", "PASS"),
               cell("safe_open-pt", "float32", "PASS"), {"id": "load_path[nope-float32]", "raw_outcome": "PASS"})
    from conformance.dtypes import DTYPE_NAMES

    assert m["dtypes"] == sorted(["uint8", "float32", "float64"], key=DTYPE_NAMES.index)
    assert m["paths"] == ["load", "safe_open-pt"]
    md = lm.markdown(m)
    assert "| dtype | load(bytes) | safe_open(pt).get_tensor |" in md
    assert "| float64 | PASS |  |" in md and md.rstrip().endswith("Totals: 4 PASS")
    assert "No load_path cases" in lm.markdown(matrix())
