"""Each mutant backend (real torch with one deviation, tests/mutants/) must turn red exactly the rows
that exercise its deviation, and every red row must blame the API the mutant breaks: its own rows FAIL
(or MISSING, CRASH, TIMEOUT), and every other row it reaches is BLOCKED with that API as the cause.

Expected rows are case-id patterns: '*' matches any text, everything else is literal, and a leading
'!' excludes. Each pattern names the API (case name) the deviation lives in; where another catalog
module reaches the same API (e.g. safe_open's pread path calls torch.frombuffer), its rows are
listed too, with a comment saying why.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.compare import same_api
from kitrun import MUTANTS, expand, once_per_session, run_kit


@dataclass(frozen=True)
class Mutant:
    name: str
    api: str                    # the API it breaks: every red row's cause.api
    outcome: str                # what its own API's rows must be: FAIL, MISSING, CRASH or TIMEOUT
    rows: tuple[str, ...]       # id patterns of the rows it must turn red ('!' excludes)
    detail: str                 # regex every red row's summary or diffs must contain
    args: tuple[str, ...] = ()
    keeps_running: bool = False  # the worker dies or hangs: check that every other case still ran
    # Rows that turn red only where transformers is installed (its e2e steps, the replay cases): id patterns,
    # judged like ``rows``, and a regex of their own. A model's forward step names the first diverging call
    # of its forward pass (the chained replay), so it is BLOCKED by the mutant's API like any other row.
    with_transformers: tuple[str, ...] = ()
    transformers_detail: str = ""
    needs_transformers: bool = False   # nothing to see without transformers: skipped there


# safe_open(..., backend="pread") (also under load_file/load_model(backend="pread")) builds every tensor
# with torch.frombuffer(buffer=..., dtype=...), then .reshape(list), except zero-element tensors, which it
# builds with torch.zeros. safetensors.torch.load(bytes) goes through _view2torch: torch.frombuffer too.
PREAD_FROMBUFFER = ("pread_frombuffer[*", "pread_reshape[*", "safe_open_pread_get_tensor[*",
                    "safe_open_pread_get_tensor_multi[*", "safe_open_pread_get_slice[*",
                    "!safe_open_pread_get_*[pread-float32-[0]*", "!safe_open_pread_get_tensor[pread-float32-[2,0]]",
                    # st_entrypoints: load_file/safe_open/load_model with backend="pread"
                    "*[load_file-pread-*", "safe_open_pt_*[pread]", "safe_open_pt_slice[pread-*",
                    "!safe_open_pt_slice[pread-[0:0]]", "load_model[tied-strict-pread]")
LOAD_FROMBUFFER = ("*[load-*",
                   # safetensors.torch.load has no F4 / F8_E8M0 in its dtype table: KeyError before frombuffer,
                   # for the oracle too
                   "!load_path[load-float4_e2m1fn_x2]", "!load_path[load-float8_e8m0fnu]")

MUTANT_LIST = [
    Mutant("mutant_frombuffer_bf16_bytes", "torch.frombuffer", "FAIL",
           ("frombuffer[bfloat16-*]",
            # the same torch.frombuffer(dtype=torch.bfloat16), called by safe_open's pread path
            "pread_frombuffer[bfloat16]", "pread_reshape[bfloat16-*]", "safe_open_pread_get_tensor[pread-bfloat16]",
            "safe_open_pread_get_slice[pread-bfloat16-*]",
            "safe_open_pread_get_tensor_multi[pread-four-tensors]",    # one of its four tensors is bfloat16
            # st_entrypoints: load(bytes) (_view2torch) and the pread paths, on a bf16 tensor
            "load_path[load-bfloat16]", "load_path[load_file-pread-bfloat16]",
            # files of seven tensors, one of which is bfloat16
            "load_multi[load-seven-tensors]", "load_multi[load_file-pread-seven-tensors]",
            "safe_open_pt_get_tensors[pread]", "safe_open_pt_overview[pread]"),
           r"bytes: bytes differ at offset 0 "),
    Mutant("mutant_reshape_strides", "Tensor.reshape", "FAIL", ("reshape[*-transposed-to6]",),
           r"value\.result\.stride\[0\]: oracle 1, target 2",
           # the forward passes reshape viewable tensors only; the replay's non-contiguous variant copies
           with_transformers=("replay[*-Tensor.reshape-float32-4d]",),
           transformers_detail=r"value\.calls\[\d+\]\.result\.stride\[\d\]: oracle \d+, target \d+"),
    Mutant("mutant_no_frombuffer", "torch.frombuffer", "MISSING", ("frombuffer[*", "frombuffer_error[*") + PREAD_FROMBUFFER + LOAD_FROMBUFFER,
           r"has no attribute 'frombuffer'"),
    Mutant("mutant_frombuffer_copies", "torch.frombuffer", "FAIL",
           # pread get_tensor/get_slice rows read the bytes after the file is closed: a copy passes there
           ("frombuffer[*", "pread_frombuffer[*", "pread_reshape[*"),
           r"aliases_buffer: oracle True, target False"),
    Mutant("mutant_frombuffer_ragged_typeerror", "torch.frombuffer", "FAIL", ("frombuffer_error[ragged-*",),
           r"raises: oracle 'ValueError', target 'TypeError'"),
    Mutant("mutant_empty_int16_crash", "torch.empty", "CRASH", ("empty_zero_size[int16-0]",),
           r"worker died \(killed by SIGSEGV\)", keeps_running=True),
    # The case timeout must stay well above the slowest real case: import_safetensors_torch starts a fresh
    # Python that imports torch (seconds on a busy machine).
    Mutant("mutant_empty_float32_hang", "torch.empty", "TIMEOUT", ("empty_zero_size[float32-2x0]",),
           r"no answer within 20\.0 s", args=("--case-timeout", "20"), keeps_running=True),
    # Every case that takes float8_e5m2 as its dtype, in any module (but not float8_e5m2fnuz).
    Mutant("mutant_no_float8_e5m2", "torch.float8_e5m2", "MISSING", ("*float8_e5m2-*", "*float8_e5m2]*"),
           r"has no attribute 'float8_e5m2'|the target has no torch\.float8_e5m2",
           # transformers reads torch.float8_e5m2 while it imports; the replay lists it among the attributes read
           # and torch._dynamo reads it while it imports: transformers_import's _dynamo rows are blocked
           with_transformers=("transformers[*]", "replay[*-torch-attributes]", "transformers_import[torch._dynamo*"),
           transformers_detail=r"has no attribute 'float8_e5m2'"),   # the latter: requires_dtypes
    Mutant("mutant_version_two_parts", "torch.__version__", "FAIL",
           # safe_open(framework="pt") on the default (mmap) path parses torch.__version__ on every open;
           # the pread path does not read it. load_file and load_model (default backend) open files that way.
           ("rust_version[format]", "rust_version[branch]", "safe_open_get_*[mmap-*",
            "safe_open_pt_*[mmap*", "*[load_file-mmap-*", "*[safe_open-pt-*",
            "load_model[*", "!load_model[tied-strict-pread]", "load_model_no_writeback[*"),
           r"Could not parse torch package version 2\.13\.|value\.(rust_parses|branch)",
           # from_pretrained opens the checkpoint with safe_open(framework="pt")
           with_transformers=("transformers[*-load]", "transformers[*-weights]", "transformers[*-forward]",
                              "transformers[*-roundtrip]", "transformers[*-train]"),
           transformers_detail=r"Could not parse torch package version 2\.13\."),
    # int64 views that start inside their storage; the int64 rows of every case that reads data_ptr():
    # a view's offset, _end_ptr (view(-1)[-1].data_ptr(), offset > 0 for any int64 tensor of > 1 element).
    Mutant("mutant_data_ptr_view_offset", "Tensor.data_ptr", "FAIL",
           ("data_ptr_offset[int64-*", "storage_data_ptr[int64-*", "end_ptr[int64-*"),
           r"offset(_bytes|_in_storage)?: oracle (\d+), target"),
    # -- what the kit itself leans on: only their own rows FAIL, everything else they reach is BLOCKED --------
    # safetensors' mmap path builds every tensor with uint8.view(dtype=...) (Rust get_tensor), so the rows of
    # that path are BLOCKED by it; the kit builds and reads through other routes, so no unit row is.
    Mutant("mutant_view_dtype_keyword_rejected", "Tensor.view(dtype)", "FAIL",
           ("view_dtype[*-kw]", "rust_view[*", "rust_reshape[*", "rust_tensor_getitem[*", "rust_to[*",
            "rust_from_file_private[shared-false-no-writeback-float32-mul_]",
            "safe_open_get_tensor[*", "safe_open_get_tensor_multi[*", "safe_open_get_tensor_private[*",
            "safe_open_get_slice[*", "safe_open_pt_*[mmap*", "load_path[load_file-mmap-*", "load_path[safe_open-pt-*",
            "load_multi[load_file-mmap-*", "load_no_writeback[load_file-mmap-*", "load_no_writeback[safe_open-pt-*",
            "load_model[*", "!load_model[tied-strict-pread]", "load_model_no_writeback[*"),
           r"unexpected keyword argument 'dtype'",
           # from_pretrained reads the checkpoint through safe_open(framework="pt")'s mmap path
           with_transformers=("transformers[*-load]", "transformers[*-weights]", "transformers[*-forward]",
                              "transformers[*-roundtrip]", "transformers[*-train]"),
           transformers_detail=r"unexpected keyword argument 'dtype'"),
    # The kit builds inputs with from_numpy and checks aliasing through the input itself: only from_numpy's
    # own rows see the copy.
    Mutant("mutant_from_numpy_copies", "torch.from_numpy", "FAIL", ("from_numpy[*",),
           r"shares_memory: oracle True, target False"),
    # The kit's uint16 inputs are built through another route; the numpy loading path ends in from_numpy.
    Mutant("mutant_from_numpy_uint16_float32", "torch.from_numpy", "FAIL",
           ("from_numpy[uint16]", "load_path[safe_open-numpy-uint16]"), r"dtype: oracle 'uint16', target 'float32'"),
    # The kit reads float16 results through another route: only Tensor.numpy's own row sees it.
    Mutant("mutant_numpy_missing_float16", "Tensor.numpy", "FAIL", ("numpy[float16]",),
           r"raised TypeError \(Got unsupported ScalarType Half\)"),
    # safetensors takes the frombuffer path for it, and the kit judges that path against the oracle recorded
    # as torch 1.10.0: only the row about which branch the version picks differs.
    Mutant("mutant_version_0_1_0", "torch.__version__", "FAIL", ("rust_version[branch]",), r"value\.branch"),
    # Every case imports what it uses (safetensors.torch after torch.nn, as model code does): only the
    # bare `import safetensors.torch` meets the missing attribute.
    Mutant("mutant_no_torch_nn_attribute", "torch.nn", "FAIL", ("import_safetensors_torch[plain]",),
           r"has no attribute 'nn'"),
    # One op of the forward passes: the chained replay of each model names its first layer_norm call, with the
    # caller's line, as the cause; the isolated layer_norm rows FAIL; transformers' own forward step sees only
    # the outputs.
    Mutant("mutant_layer_norm_scaled", "torch.nn.functional.layer_norm", "FAIL", (), "", needs_transformers=True,
           with_transformers=("replay[*-torch.nn.functional.layer_norm-float32-3d]", "replay[*-chained]",
                              "transformers[*-forward]", "transformers[*-train]"),
           transformers_detail=r"values outside|first divergence: call \d+ torch\.nn\.functional\.layer_norm at "
                               r"transformers/models/\w+/modeling_\w+\.py:\d+"),
]


HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None


def _detail_ok(record: dict, regex: str) -> bool:
    text = record["summary"] + " " + json.dumps(record["diffs"], sort_keys=True)
    return re.search(regex, text) is not None


def test_mutants_are_distinct_and_exist():
    names = [m.name for m in MUTANT_LIST]
    assert len(names) == len(set(names)) >= 17
    on_disk = {p.stem for p in MUTANTS.glob("mutant_*.py")}
    assert on_disk == set(names), "every mutant module has a declaration here, and vice versa"
    for m in MUTANT_LIST:
        assert m.outcome in {"FAIL", "MISSING", "CRASH", "TIMEOUT"} and m.api
        assert (MUTANTS / f"{m.name}.py").read_text().rstrip().endswith("sys.modules[__name__] = torch")


NEEDS_TRANSFORMERS = pytest.mark.skipif(not HAS_TRANSFORMERS, reason="its deviation is in a forward pass: needs "
                                        "transformers installed (pip install transformers==4.57.6)")


@pytest.mark.parametrize("mutant", [pytest.param(m, marks=NEEDS_TRANSFORMERS) if m.needs_transformers else m
                                    for m in MUTANT_LIST], ids=lambda m: m.name)
def test_mutant_turns_exactly_its_rows_red(mutant: Mutant, oracle, tmp_path):
    run = run_kit(f"module:{mutant.name}", tmp_path / "report", oracle.cache, *mutant.args)
    assert run.returncode == 1, f"exit code {run.returncode}:\n{run.output[-4000:]}"
    results = run.results
    cases = run.cases
    assert set(cases) == oracle.ids, "the mutant run and the oracle run have different cases"
    hello = results["run"]["target_env"]
    assert hello["module"] == "torch" and hello["uses_real_torch"] is True

    skipped = {i for i, c in cases.items() if c["outcome"] == "SKIP"}
    oracle_skipped = {c["id"] for c in oracle.results["cases"] if c["outcome"] == "SKIP"}
    assert skipped == oracle_skipped, "a mutant can only SKIP what the oracle cannot run here"

    expected, hits = expand(mutant.rows, sorted(cases)) if mutant.rows else (set(), {})
    tf_rows = set()
    if HAS_TRANSFORMERS and mutant.with_transformers:
        tf_rows, tf_hits = expand(mutant.with_transformers, sorted(cases))
        hits.update(tf_hits)
        expected = expected | tf_rows
    assert all(hits.values()), f"patterns that match no case id (stale or mistyped): " \
                               f"{[p for p, n in hits.items() if not n]}"
    red = run.red()
    assert set(red) == expected, (f"red but not expected: {sorted(set(red) - expected)}; "
                                  f"expected but not red: {sorted(expected - set(red))}")
    # Cause precision: every red row blames the API the mutant breaks; its own rows with the mutant's outcome,
    # every other row BLOCKED by it.
    wrong_cause = {i: (r.get("cause") or {}).get("api") for i, r in red.items()
                   if not same_api((r.get("cause") or {}).get("api", ""), mutant.api)}
    assert not wrong_cause, f"red rows that blame another API than {mutant.api}: {wrong_cause}"
    own = {i for i, r in red.items() if same_api(r["api"], mutant.api)}
    wrong_kind = {i: (r["raw_outcome"], r["summary"][:200]) for i, r in red.items()
                  if r["raw_outcome"] != (mutant.outcome if i in own else "BLOCKED")}
    assert not wrong_kind, f"expected {mutant.outcome} on {mutant.api}'s own rows, BLOCKED elsewhere: {wrong_kind}"
    assert all(r["outcome"] == r["raw_outcome"] for r in red.values())     # no expectations file here
    unexplained = {i: r["summary"][:300] for i, r in red.items()
                   if not _detail_ok(r, mutant.transformers_detail if i in tf_rows else mutant.detail)}
    assert not unexplained, f"red for another reason than expected: {unexplained}"

    if mutant.keeps_running:
        # The worker died (or was killed) at one case; a fresh one ran every case after it.
        others = {i: c["outcome"] for i, c in cases.items() if i not in expected}
        assert {i for i, o in others.items() if o == "PASS"} == set(others) - oracle_skipped
        assert results["run"]["cases_run"] == results["run"]["cases_in_catalog"] == len(cases)
        assert results["run"]["interrupted"] is False
        assert (run.report_dir / "index.html").is_file()
        # Recovery is one fresh process from the red case on, not a rerun: the cases before it ran in the
        # first process, each case ran exactly once, and one target process was started again. (Slow
        # cases may have run beside them in a second, "slow lane" process: not for a torch-based target.)
        (bad_id,) = expected
        order = [c["id"] for c in sorted(cases.values(), key=lambda c: c["seq"]) if "-slow#" not in c["process"]]
        before, after = order[:order.index(bad_id)], order[order.index(bad_id) + 1:]
        assert {cases[i]["process"] for i in before} == {"main#1"} and before
        assert {cases[i]["process"] for i in after} == {"main#2"} and after
        assert results["run"]["target_processes"] == len({c["process"] for c in cases.values()})
        if mutant.outcome == "CRASH":
            (rec,) = red.values()
            assert rec["diffs"][0]["path"] == "process" and "SIGSEGV" in rec["diffs"][0]["detail"]


def test_expected_row_patterns():
    """The pattern language used above: literal brackets, '*' wildcards, '!' exclusions."""
    ids = ["frombuffer[bfloat16-special]", "frombuffer_error[ragged-bfloat16]", "pread_frombuffer[float8_e5m2]",
           "frombuffer[float8_e5m2fnuz-special]", "frombuffer[float8_e5m2-special]", "rust_reshape[float32-6to6]"]
    chosen, hits = expand(("frombuffer[bfloat16-*]",), ids)
    assert chosen == {"frombuffer[bfloat16-special]"} and hits == {"frombuffer[bfloat16-*]": 1}
    chosen, _ = expand(("*float8_e5m2-*", "*float8_e5m2]*"), ids)
    assert chosen == {"pread_frombuffer[float8_e5m2]", "frombuffer[float8_e5m2-special]"}
    chosen, hits = expand(("*frombuffer*", "!frombuffer_error[*"), ids)
    assert "frombuffer_error[ragged-bfloat16]" not in chosen and len(chosen) == 4
    assert hits["!frombuffer_error[*"] == 1


# -- unseen mutants (tests/mutants/unseen): kinds the kit was not built against, written before looking at how it
# blames them. Their ground truth is that folder's truth.py; `python benchmarks/verdicts.py unseen --reports DIR`
# prints the same cause precision as the tests here: each has its ground truth, each one the kit catches stays caught,
# and its red rows name the API it breaks (one full run per mutant and session).
UNSEEN = MUTANTS / "unseen"


def _unseen_truth():
    spec = importlib.util.spec_from_file_location("unseen_truth", UNSEEN / "truth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_TRUTH_MODULE = _unseen_truth()
UNSEEN_TRUTH: dict[str, tuple[str, str, tuple[str, ...]]] = _TRUTH_MODULE.TRUTH
# A row each turns red (measured at c83fa81), in the one run of the whole catalog each mutant gets, which the
# precision checks below read too (with CONFORMANCE_UNSEEN_ROWS_ONLY=1: that row's run alone).
UNSEEN_CAUGHT_BY = {
    "mutant_layout_str": "save_bytes[bfloat16-0d]",
    "mutant_tensor_device_cpu0": "device[bfloat16-scalar]",
    "mutant_shape_tuple": "shape[bfloat16-transposed]",
    "mutant_device_str_class": "device_compare[cpu-vs-cpu_0]",
    "mutant_radd_float64": "transformers[albert-forward]",
    "mutant_mul_inplace_out_of_place": "rust_from_file_private[shared-false-no-writeback-float32-mul_]",
    "mutant_storage_nbytes_aligned": "storage_nbytes[float16-2x3]",
    "mutant_storage_getitem_shifted": "rust_storage_getitem[24:40-middle]",
    "mutant_clone_ignores_offset": "clone[float32-element-2-3]",
    "mutant_transpose_copies": "clone[float32-transposed]",
    "mutant_detach_copies": "load_model[missing-key-non-strict]",
    "mutant_untyped_storage_copies": "clone[bfloat16-base]",
    "mutant_view_shape_copies": "end_ptr[float32-transposed]",
    "mutant_version_object": "rust_version[type]",
    "mutant_device_function": "device[bfloat16-scalar]",
    "mutant_load_state_dict_none": "module_load_state_dict[strict-false-all]",
    "mutant_state_dict_clones": "load_model[missing-key-non-strict]",
    "mutant_data_ptr_exit_float16": "save_bytes[float16]",
    "mutant_tanh_strided_scrambled": "replay[albert-torch.tanh-float32-3d]",    # the replay's transposed variant
}
# No row reaches these deviations (truth.py says why): coverage gaps, not attribution ones.
UNSEEN_NOT_CAUGHT: dict[str, str] = _TRUTH_MODULE.UNREACHED


def test_unseen_mutants_have_ground_truth():
    on_disk = {p.stem for p in UNSEEN.glob("mutant_*.py")}
    assert on_disk == set(UNSEEN_TRUTH), "every unseen mutant has its ground truth in truth.py, and vice versa"
    assert set(UNSEEN_CAUGHT_BY) | set(UNSEEN_NOT_CAUGHT) == on_disk
    assert not set(UNSEEN_CAUGHT_BY) & set(UNSEEN_NOT_CAUGHT)
    for name, (kind, api, _also) in UNSEEN_TRUTH.items():
        text = (UNSEEN / f"{name}.py").read_text()
        assert text.rstrip().endswith("sys.modules[__name__] = torch"), name
        doc = text.split('"""')[1]
        assert api.rsplit(".", 1)[-1] in doc, f"{name}'s docstring does not name the API it breaks ({api})"
        assert kind and api


# The precision tests need each unseen mutant's whole catalog run: 19 full kit runs, 2.5 min on 2 cores alone
# (they were half an hour before the gate got faster), so every test run makes them; CONFORMANCE_UNSEEN_ROWS_ONLY=1
# checks each mutant's catching row alone, for a quick local run.
FULL_UNSEEN = not os.environ.get("CONFORMANCE_UNSEEN_ROWS_ONLY")
needs_full_runs = pytest.mark.skipif(not FULL_UNSEEN, reason="CONFORMANCE_UNSEEN_ROWS_ONLY is set: the 19 full "
                                     "kit runs the precision needs (2.5 min on 2 cores) were not made; unset it")


def _unseen_run(name: str, oracle, tmp_path_factory) -> dict:
    """The one kit run of unseen mutant ``name`` in this test session (shared by xdist workers: the first test
    that needs it runs it, the others read it): its exit code, output tail and results.json path. Only its
    catching row unless the full runs are asked for."""
    def prepare(shared):
        report = shared / "report"
        rows = () if FULL_UNSEEN else ("-k", UNSEEN_CAUGHT_BY[name])
        run = run_kit(f"module:{name}", report, oracle.cache, "--backend-path", str(UNSEEN), *rows)
        return {"returncode": run.returncode, "output": run.output[-4000:], "results": str(report / "results.json")}
    return once_per_session(tmp_path_factory, f"unseen-{name}{'' if FULL_UNSEEN else '-row'}", prepare)


def _unseen_cases(info: dict) -> dict[str, dict]:
    assert info["returncode"] == 1, f"exit code {info['returncode']}:\n{info['output']}"
    return {c["id"]: c for c in json.loads(Path(info["results"]).read_text())["cases"]}


@pytest.mark.parametrize("name", sorted(UNSEEN_CAUGHT_BY))
def test_unseen_mutant_is_caught(name, oracle, tmp_path_factory):
    row = UNSEEN_CAUGHT_BY[name]
    if row.startswith(("transformers[", "replay[")) and not HAS_TRANSFORMERS:
        pytest.skip("its row is a transformers step: needs transformers (pip install transformers==4.57.6)")
    cases = _unseen_cases(_unseen_run(name, oracle, tmp_path_factory))
    assert row in cases, f"the run has no row {row}: {sorted(cases)[:10]}"
    assert cases[row]["outcome"] not in ("PASS", "SKIP"), f"{name} no longer turns {row} red: {cases[row]['summary']}"


# Cause precision on the unseen mutants: the share of a mutant's red rows whose cause names the API it breaks
# (truth.py), from the same runs as above. ERROR rows are the kit's own fault (a lost result), no verdict on
# the mutant: left out. The targets are issue 21's; where a mutant is below its target, the measured figure
# is the reason of a strict xfail, so the gap stays visible and closing it is noticed.
PRECISION_EACH, PRECISION_OVERALL = 0.9, 0.95
# Measured with `python benchmarks/verdicts.py unseen --reports DIR` at 0565794 (the reads of torch's own import
# code held against the oracle's attributes): every caught mutant at >= 90% (storage_nbytes_aligned the lowest,
# 18/20), overall 918/923 (99.5%). A mutant that falls below its target again gets a strict xfail here whose
# reason is the measured figure.
UNSEEN_PRECISION_GAPS: dict[str, str] = {
    # (mutant_version_object was here at a0b54bf, 114/140: the bad __version__ read inside torch._inductor's
    # import code was no longer recorded. Those reads now come with the exception (calls.import_reads) and
    # are held against the oracle's attributes: 138/140 on its full run.)
}
UNSEEN_OVERALL_GAP: str | None = None


def _red_and_right(name: str, cases: dict[str, dict]) -> tuple[int, int]:
    truth = UNSEEN_TRUTH[name]
    spellings = {truth[1], *truth[2]}
    red = [c for c in cases.values() if c["raw_outcome"] not in ("PASS", "SKIP", "ERROR")]
    right = [c for c in red if any(same_api((c.get("cause") or {}).get("api", ""), s) for s in spellings)]
    return len(red), len(right)


def _gap(reason: str | None):
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


@needs_full_runs
@pytest.mark.parametrize("name", [pytest.param(n, marks=_gap(UNSEEN_PRECISION_GAPS.get(n)))
                                  for n in sorted(UNSEEN_CAUGHT_BY)])
def test_unseen_mutant_cause_precision(name, oracle, tmp_path_factory):
    if not HAS_TRANSFORMERS:
        pytest.skip("measured with the transformers rows: needs transformers (pip install transformers==4.57.6)")
    red, right = _red_and_right(name, _unseen_cases(_unseen_run(name, oracle, tmp_path_factory)))
    assert red, f"{name} turns no row red"
    assert right / red >= PRECISION_EACH, f"{name}: {right}/{red} red rows name {UNSEEN_TRUTH[name][1]}"


@needs_full_runs
@pytest.mark.xfail(UNSEEN_OVERALL_GAP is not None, reason=UNSEEN_OVERALL_GAP or "", strict=True)
def test_unseen_cause_precision_overall(oracle, tmp_path_factory):
    if not HAS_TRANSFORMERS:
        pytest.skip("measured with the transformers rows: needs transformers (pip install transformers==4.57.6)")
    counts = {n: _red_and_right(n, _unseen_cases(_unseen_run(n, oracle, tmp_path_factory)))
              for n in sorted(UNSEEN_CAUGHT_BY)}
    red, right = sum(r for r, _ in counts.values()), sum(g for _, g in counts.values())
    assert right / red >= PRECISION_OVERALL, f"{right}/{red} red rows name the deviating API: {counts}"

