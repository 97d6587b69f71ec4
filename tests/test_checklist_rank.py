"""The checklist's rank on hand-built result sets: tiers by what users lose, weight by entry points and
workloads, one item per root cause, the kit's own error paths no item (docs/reports.md, "What to fix first")."""
from __future__ import annotations

from conformance import render, results as res
from conformance.render import checklist, fixes, ranking, roots
from conformance.render.snippets import backend_path, exec_command
from test_reports import header, rec


def _run(records, target="t", **env) -> dict:
    run = {"target": target, "oracle": header("torch", "2.13.0+cpu"), "target_env": {**header(target, "0.1.0"), **env},
           "catalog": "0", "cases_in_catalog": len(records), "expectations": "e.txt", "gate_problems": []}
    return res.build(run, records)


def _ranked(records):
    report = render.from_results([_run(records)])
    return report, report.causes(report.runs[0])


def _tensor(shape, stride, data="00"):
    return {"dtype": "float32", "shape": shape, "stride": stride, "bytes": data}


def _stride_row(cid, api, origin, shape, good, bad, module="view2torch"):
    diffs = [{"path": f"value.stride[{i}]", "oracle": g, "target": b} for i, (g, b) in enumerate(zip(good, bad)) if g != b]
    return rec(cid, api, origin, "FAIL", "stride", module=module, diffs=diffs,
               oracle={"value": _tensor(shape, good)}, observed={"value": _tensor(shape, bad)},
               cause={"api": api, "phase": "call", "evidence": "stride"})


def _bytes_row(cid, api, origin, module="view2torch"):
    return rec(cid, api, origin, "FAIL", "bytes", module=module,
               diffs=[{"path": "value.result.bytes", "kind": "bytes", "first_offset": 0, "oracle_len": 4, "target_len": 4,
                       "excerpt_start": 0, "oracle_hex": "00 00 80 3f", "target_hex": "00 00 00 40"}],
               oracle={"value": {"result": _tensor([1], [1], "0000803f")}},
               observed={"value": {"result": _tensor([1], [1], "00000040")}},
               cause={"api": api, "phase": "call", "evidence": "bytes"})


def _missing(cid, api, origin, module="view2torch", phase="call", cause_api=None):
    return rec(cid, api, origin, "BLOCKED" if phase != "call" else "MISSING", "AttributeError", module=module,
               observed={"raises": "AttributeError", "message": f"module has no attribute {api!r}"},
               cause={"api": cause_api or api, "phase": phase, "evidence": f"AttributeError: no {cause_api or api}"})


def _e2e(cid, origin, cause_api, module="st_entrypoints"):
    return _missing(cid, origin, origin, module=module, phase="chain", cause_api=cause_api)


def _passing(cid, origin, module="st_entrypoints"):
    return rec(cid, origin, origin, "PASS", module=module)


def test_tiers_come_before_rows_and_entry_points_before_rows_within_a_tier():
    records = [
        # tier "metadata": a zero-size stride on 20 per-API rows, no end-to-end row fails for it
        *[_stride_row(f"empty_zero_size[f32-{i}]", "torch.empty", "_view2torch", [0, i + 1], [i + 1, 1], [0, 0])
          for i in range(20)],
        # tier "wrong": one row of wrong bytes
        _bytes_row("reshape[f32]", "Tensor.reshape", "_view2torch"),
        # tier "broken": frombuffer missing, breaking load(bytes) and safe_open(pt) end to end (2 entry points) ...
        _missing("frombuffer[f32]", "torch.frombuffer", "_view2torch"),
        _e2e("load_bytes[f32]", "safetensors.torch.load", "torch.frombuffer"),
        _e2e("safe_open_pt[a]", "safetensors.safe_open(pt)", "torch.frombuffer"),
        # ... and layout missing with more rows, in one entry point only
        *[_e2e(f"save_bytes[{i}]", "safetensors.torch.save", "Tensor.layout") for i in range(30)],
        _passing("load_bytes[i8]", "safetensors.torch.load"),
    ]
    _, ranked = _ranked(records)
    assert [(c.section, c.api) for c in ranked] == [
        ("wrong", "Tensor.reshape"), ("broken", "torch.frombuffer"), ("broken", "Tensor.layout"),
        ("metadata", "torch.empty")]
    fb, layout = ranked[1].weight, ranked[2].weight
    assert sorted(fb.uses) == ["load(bytes)", "safe_open(pt)"] and fb.rows == 3
    assert list(layout.uses) == ["save"] and layout.rows == 30, "more rows, fewer entry points: ranks after"
    assert ranked[3].weight.note.startswith("no entry point's result depends on it")
    assert ranked[0].weight.note == ranked[1].weight.note == ""


def test_a_broken_fresh_import_counts_as_every_entry_point_and_workload():
    records = [
        _e2e("import_safetensors_torch[plain]", "import safetensors.torch", "torch.nn"),
        _passing("import_safetensors_torch[torch-nn-first]", "import safetensors.torch"),
        _missing("frombuffer[f32]", "torch.frombuffer", "_view2torch"),
        _e2e("load_bytes[f32]", "safetensors.torch.load", "torch.frombuffer"),
        _e2e("safe_open_pt[a]", "safetensors.safe_open(pt)", "torch.frombuffer"),
        _passing("save_bytes[f32]", "safetensors.torch.save"),
        rec("transformers[bert-load]", "x", "transformers.from_pretrained", "PASS", module="transformers_e2e"),
        rec("replay[gpt2-chained]", "x", "replay:gpt2 forward", "PASS", module="replay"),
    ]
    _, ranked = _ranked(records)
    assert [c.api for c in ranked] == ["torch.nn", "torch.frombuffer"], "1 row, but every entry point needs it"
    w = ranked[0].weight
    assert w.fresh and sorted(w.uses) == ["from_pretrained:bert", "import safetensors.torch", "load(bytes)",
                                          "replay:gpt2 forward", "safe_open(pt)", "save"]
    assert "every entry point needs" in w.text() and "all 6 entry points and workloads" in w.text()


def test_optional_dtypes_read_behind_a_guard_rank_last_and_say_so():
    assert {"float8_e4m3fnuz", "uint64"} <= ranking.guarded_names()
    records = [
        *[_missing(f"dtype_object[float8_e4m3fnuz-{i}]", "torch.float8_e4m3fnuz", "_view2torch") for i in range(40)],
        *[_e2e(f"load_path[load-float8_e4m3fnuz-{i}]", "safetensors.torch.load", "torch.float8_e4m3fnuz")
          for i in range(9)],
        _stride_row("empty_zero_size[f32-0]", "torch.empty", "_view2torch", [0], [1], [0]),
    ]
    _, ranked = _ranked(records)
    assert [(c.section, c.api) for c in ranked] == [("metadata", "torch.empty"), ("optional", "torch.float8_e4m3fnuz")]
    assert ranked[1].weight.guard == ["float8_e4m3fnuz"]
    assert ranked[1].weight.text().startswith("needed only to load or save files holding float8_e4m3fnuz")


def test_aliasing_ranks_after_failures_and_before_metadata():
    alias = rec("from_numpy[f32]", "torch.from_numpy", "_view2torch", "FAIL", "aliasing",
                diffs=[{"path": "value.shares_memory", "oracle": True, "target": False}],
                observed={"value": {"shares_memory": False}}, cause={"api": "torch.from_numpy", "phase": "call", "evidence": "x"})
    records = [alias, _stride_row("empty_zero_size[f32-0]", "torch.empty", "_view2torch", [0], [1], [0]),
               _missing("frombuffer[f32]", "torch.frombuffer", "_view2torch")]
    _, ranked = _ranked(records)
    assert [c.section for c in ranked] == ["broken", "aliasing", "metadata"]


def test_the_same_wrong_strides_across_apis_are_one_item_listing_them():
    records = [
        _stride_row("empty_zero_size[f32-2x0]", "torch.empty", "_view2torch", [2, 0], [1, 1], [0, 1]),
        _stride_row("pread_zeros[f32-2x0]", "torch.zeros", "rust:safe_open(pt) pread", [2, 0], [1, 1], [0, 1],
                    module="rust_safe_open"),
        _stride_row("reshape[f32-to2x0]", "Tensor.reshape", "_view2torch", [2, 0], [1, 1], [0, 1]),
        # another shape, same API: still the API's item; another wrong stride elsewhere: an item of its own
        _stride_row("empty_zero_size[f32-3x0]", "torch.empty", "_view2torch", [3, 0], [1, 1], [0, 1]),
        _stride_row("view[f32-t]", "Tensor.view", "_view2torch", [2, 3], [3, 1], [1, 2]),
    ]
    _, ranked = _ranked(records)
    assert len(ranked) == 2
    merged = next(c for c in ranked if c.api == "torch.empty")
    assert sorted(merged.apis) == ["Tensor.reshape", "torch.empty", "torch.zeros"] and len(merged.own) == 4
    assert "the same fault also in" in merged.title
    assert [c.api for c in ranked if c is not merged] == ["Tensor.view"]


def test_a_row_with_two_faults_ties_no_item_of_another_kind_of_difference():
    """The journey's merged item: torch.tensor of a strided array gave a wrong dtype and C-order strides; its stride
    tied the dtype fault to Tensor.to's strides, one item promising their rows where a fix of either freed a few."""
    def both(cid):
        row = _stride_row(cid, "torch.tensor", "replay:gpt2 forward", [2, 8], [1, 2], [8, 1], module="replay")
        row["diffs"].append({"path": "value.dtype", "oracle": "int64", "target": "float32"})
        row["oracle"]["value"]["dtype"], row["observed"]["value"]["dtype"] = "int64", "float32"
        return row
    records = [both("replay[gpt2-torch.tensor-int64-2d]"), both("replay[bert-torch.tensor-int64-2d]"),
               *[_stride_row(f"replay[{m}-Tensor.to-int64-2d]", "Tensor.to", "replay:gpt2 forward", [2, 8], [1, 2],
                             [8, 1], module="replay") for m in ("gpt2", "bert", "albert")],
               _stride_row("replay[gpt2-Tensor.__eq__-int64-2d]", "Tensor.__eq__", "replay:gpt2 forward", [2, 8], [1, 2],
                           [8, 1], module="replay")]
    _, ranked = _ranked(records)
    assert sorted((c.section, tuple(sorted(c.apis)), len(c.rows)) for c in ranked) == [
        ("metadata", ("Tensor.__eq__", "Tensor.to"), 4), ("wrong", ("torch.tensor",), 2)]
    tensor = next(c for c in ranked if c.api == "torch.tensor")
    assert "also in" not in tensor.title and tensor.fields == ["dtype", "stride"]


def test_the_same_exception_is_one_item_and_a_different_one_is_not():
    no_ptr = {"raises": "AttributeError", "message": "'Tensor' object has no attribute 'data_ptr'"}
    records = [
        rec("data_ptr[f32]", "Tensor.data_ptr", "_tobytes/_to_ndarray", "MISSING", "x", module="to_ndarray",
            observed=dict(no_ptr, type="builtins.AttributeError"), cause={"api": "Tensor.data_ptr", "phase": "call", "evidence": "x"}),
        rec("meta_tensor[f32]", "torch.empty(device=meta)", "_find_shared_tensors", "FAIL", "x", module="shared_tensors",
            diffs=[{"path": "value.data_ptr_is_zero", "oracle": True, "target": no_ptr}],
            observed={"value": {"data_ptr_is_zero": no_ptr}}, cause={"api": "torch.empty(device=meta)", "phase": "call", "evidence": "x"}),
        rec("cat[f32]", "torch.cat", "_flatten", "FAIL", "x", module="shared_tensors",
            observed={"raises": "ValueError", "message": "zero-dimensional arrays cannot be concatenated"},
            cause={"api": "torch.cat", "phase": "call", "evidence": "x"}),
    ]
    _, ranked = _ranked(records)
    assert sorted(tuple(sorted(c.apis)) for c in ranked) == [("Tensor.data_ptr", "torch.empty(device=meta)"), ("torch.cat",)]
    assert roots.signatures(records[0]) & roots.signatures(records[1])


def _sparse_row(cid):
    return rec(cid, "safetensors.torch.save", "safetensors.torch.save", "BLOCKED", "x", module="st_entrypoints",
               oracle={"raises": "ValueError", "message": "You are trying to save a sparse tensors"},
               observed={"raises": "AttributeError", "message": "'Tensor' object has no attribute 'to_sparse'",
                         "display": {"called_at": "conformance/catalog/st_entrypoints.py:180"}},
               diffs=[{"path": "raises", "oracle": "ValueError", "target": "AttributeError"}],
               cause={"api": "Tensor.to_sparse", "phase": "chain", "evidence": "AttributeError at conformance/catalog/x.py:1"})


def test_rows_that_only_check_the_kits_error_paths_are_no_item_and_do_not_block_the_entry_point(tmp_path):
    records = [_sparse_row("save_error[sparse]"), _passing("save_bytes[f32]", "safetensors.torch.save")]
    report, ranked = _ranked(records)
    assert ranked == []
    save = {v.entry.key: v for v in report.verdicts(report.runs[0])}["save"]
    assert save.state == "works"
    text = checklist.render(report)
    assert "Not items: rows that only check the kit's own error paths" in text and "(blocked by `Tensor.to_sparse`)" in text
    # the same failure inside safetensors (not in the kit's catalog code) is a real item
    real = _sparse_row("save_error[sparse]")
    real["observed"]["display"]["called_at"] = "safetensors/torch.py:544"
    assert [c.api for c in _ranked([real])[1]] == ["Tensor.to_sparse"]


def test_rows_no_recorded_call_isolated_are_their_own_kind_never_an_item():
    """A row whose cause is ``isolated: false`` names a suspect on a guess: the checklist lists it apart,
    and the isolated row beside it stays an item."""
    loose = _bytes_row("frombuffer[f32]", "torch.frombuffer", "_view2torch")
    loose["cause"] = {**loose["cause"], "isolated": False, "evidence": "bytes (not isolated: every call agreed)"}
    seen = _bytes_row("reshape[f32]", "Tensor.reshape", "_view2torch")
    seen["cause"] = {**seen["cause"], "isolated": True}
    report, ranked = _ranked([loose, seen])
    assert [c.api for c in ranked] == ["Tensor.reshape"]
    text = checklist.render(report)
    section = text[text.index("#### Not isolated"):]
    assert "1 failing row: every torch call" in section and "suspect `torch.frombuffer`" in section and "frombuffer\\[f32\\]" in section
    assert "reshape" not in section


def test_identical_snippets_are_one_item():
    # two APIs missing with different messages: two causes, but both probes touch nothing else
    a = _missing("rows[a]", "torch.thing", "_view2torch", phase="input", cause_api="torch.thing")
    b = rec("rows[b]", "Tensor.other", "_view2torch", "BLOCKED", "x", observed={"raises": "AttributeError", "message": "m"},
            cause={"api": "torch.thing", "phase": "read", "evidence": "AttributeError: no torch.thing (read)"})
    c = _missing("rows[c]", "torch.thing2", "_view2torch", phase="input", cause_api="torch.thing2")
    report, ranked = _ranked([a, b, c])
    found = fixes.fixes(ranked, "t", {})
    codes = [f.snippet.code for f in found if f.snippet is not None]
    assert len(codes) == len(set(codes)) == 2
    twin = ranked[0]
    twin2 = type(twin)(twin.api, twin.group, twin.detail, list(twin.own), list(twin.blocked), run_uses=twin.run_uses)
    n = len(twin.rows)
    merged = fixes.fixes([twin, twin2], "t", {})
    assert len(merged) == 1 and len(merged[0].cause.rows) == 2 * n, "the twin's rows go to the first"


def test_each_snippet_prints_the_exec_command_of_the_runs_target_and_backend_path(tmp_path):
    mt = {"target": "mindtorch_v2", "target_env": {"module": "mindtorch_v2", "file": "/src/mt/src/mindtorch_v2/__init__.py"}}
    assert backend_path(mt) == "/src/mt/src"
    assert exec_command(mt) == "python -m conformance exec --target mindtorch_v2 --backend-path /src/mt/src -- python snippet.py"
    site = {"target": "pyborch", "target_env": {"module": "borch", "file": "/py/lib/python3.11/site-packages/borch/__init__.py"}}
    assert exec_command(site) == "python -m conformance exec --target pyborch -- python snippet.py"
    single = {"target": "module:mine", "target_env": {"module": "mine", "file": "/work/x/mine.py"}}
    assert exec_command(single) == "python -m conformance exec --target module:mine --backend-path /work/x -- python snippet.py"
    recorded = {"target": "module:m", "backend_path": ["/a b"], "target_env": {"module": "m", "file": "/z/m.py"}}
    assert exec_command(recorded) == "python -m conformance exec --target module:m --backend-path '/a b' -- python snippet.py"
    records = [_missing("frombuffer[f32]", "torch.frombuffer", "_view2torch")]
    data = _run(records, target="mindtorch_v2", module="mindtorch_v2", file="/src/mt/src/mindtorch_v2/__init__.py")
    text = checklist.render(render.from_results([data]))
    assert "`python -m conformance exec --target mindtorch_v2 --backend-path /src/mt/src -- python snippet.py`" in text


def _surface_row(name, outcome, how, where, cause_api=None):
    display = {"where": where, "how": how}
    if outcome == "PASS":
        return rec(f"transformers_import[{name}]", name, "transformers.import", "PASS", module="transformers_import",
                   observed={"value": {"optional": True}, "display": {**display, "optional": True, "present_in_target": False}},
                   oracle={"value": {"optional": True}, "display": {**display, "optional": True, "present_in_target": True}})
    missing = cause_api or name
    return rec(f"transformers_import[{name}]", name, "transformers.import", outcome, "x", module="transformers_import",
               observed={"raises": "ModuleNotFoundError", "message": f"No module named {missing!r}", "display": display},
               oracle={"value": {"present": True}},
               cause={"api": missing, "phase": "call" if cause_api is None else "input", "evidence": f"no {missing}"})


def _import_records():
    return [
        _surface_row("torch.fx", "MISSING", "imported", "import_utils.py:2162"),
        _surface_row("torch.fx.Proxy", "BLOCKED", "read", "import_utils.py:2164", cause_api="torch.fx"),
        _surface_row("torch.get_default_dtype", "MISSING", "called", "modeling_utils.py:275"),
        _surface_row("torch.xpu", "PASS", "guarded", "import_utils.py:1155"),
        rec("transformers[bert-import]", "import transformers", "transformers.from_pretrained", "FAIL", "x",
            module="transformers_e2e", diffs=[{"path": "value.is_torch_available", "oracle": True, "target": False}],
            oracle={"value": {"is_torch_available": True}}, observed={"value": {"is_torch_available": False}},
            cause={"api": "import transformers", "phase": "call", "evidence": "x (not isolated)", "isolated": False}),
        rec("transformers[bert-construct]", "transformers.AutoModel.from_config", "transformers.from_pretrained", "FAIL",
            "raised ImportError (AutoModel requires the PyTorch library but it was not found in your environment.)",
            module="transformers_e2e", observed={"raises": "ImportError", "message": "AutoModel requires the PyTorch "
                                                 "library but it was not found in your environment."},
            cause={"api": "transformers.AutoModel.from_config", "phase": "call", "evidence": "x", "isolated": False}),
        rec("transformers[bert-config]", "transformers.AutoConfig.from_pretrained", "transformers.from_pretrained",
            "PASS", module="transformers_e2e"),
        _missing("frombuffer[f32]", "torch.frombuffer", "_view2torch"),
    ]


def test_what_import_transformers_needs_is_one_item_naming_each_name_where_and_how():
    """Issue 18: the import surface was 11 items, each promising the same rows; it is one, every absent name with
    where transformers touches it and how, optional names apart, and why transformers sees no torch."""
    report = render.from_results([_run(_import_records(), target="mt", torch_metadata=None)])
    ranked = report.causes(report.runs[0])
    assert sorted(c.api for c in ranked) == ["import transformers", "torch.frombuffer"]
    item = next(c for c in ranked if c.api == "import transformers")
    assert sorted(r["id"] for r in item.rows) == ["transformers[bert-construct]", "transformers[bert-import]",
                                                   "transformers_import[torch.fx.Proxy]", "transformers_import[torch.fx]",
                                                   "transformers_import[torch.get_default_dtype]"]
    assert item.section == "broken" and [n.name for n in item.surface.optional] == ["torch.xpu"]
    text = checklist.render(report)
    section = text[text.index("`import transformers`: what import transformers needs"):]
    section = section[:section.index("#####", 5) if "#####" in section[5:] else len(section)]
    assert "what import transformers needs: 3 missing, and transformers treats torch as absent (1 optional absent" in section
    assert "- **Why transformers treats torch as absent:** the target presents no torch distribution metadata" in section
    assert "torch\\_metadata is null" in section and "'0.1.0'" in section
    assert "  - `torch.fx`: imported at `import_utils.py:2162`" in section
    assert "  - `torch.fx.Proxy`: read at `import_utils.py:2164`, inside the missing `torch.fx`" in section
    assert "  - `torch.get_default_dtype`: called at `modeling_utils.py:275`" in section
    optional = next(line for line in section.splitlines() if line.startswith("- **Optional, absent**"))
    assert "never a blocker" in optional and "`torch.xpu` at `import_utils.py:1155`" in optional
    assert "torch.xpu" not in section.split("- **Optional, absent**")[0], "an optional name is never listed as needed"
    assert "print(\"missing\"" in section and "is_torch_available" in section     # its snippet checks both
    assert "#### Not isolated" not in text, "the import step's rows are the item's, not suspects"


def test_why_transformers_sees_no_torch_comes_from_the_run_header():
    from conformance.render.import_surface import why_torch_absent
    assert "below the 2.1.0 it requires" in why_torch_absent({"target_env": {"torch_metadata": "1.13.1", "version": "1.13.1"}})
    assert "below the 2.1.0" in why_torch_absent({"target_env": {"torch_metadata": None, "version": "0.9.dev1"}})
    assert "raised PackageNotFoundError" in why_torch_absent({"target_env": {"torch_metadata": "raised PackageNotFoundError"}})
    assert "something else turned it off" in why_torch_absent({"target_env": {"torch_metadata": "2.7.1+dev"}})
    # a step whose torch is there names no reason, and the item says only what is missing
    records = [r for r in _import_records() if r["module"] != "transformers_e2e"]
    report = render.from_results([_run(records, target="mt", torch_metadata="2.7.1+dev")])
    item = next(c for c in report.causes(report.runs[0]) if c.api == "import transformers")
    assert item.surface.torch_absent == "" and item.title.startswith("what import transformers needs: 3 missing (")
