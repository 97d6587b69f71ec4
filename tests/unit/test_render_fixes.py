"""The ranked fix list (conformance/render/fixes.py): each cause told in words from its case data, the snippet
the run measured to show its difference (never one measured to print the same on both sides), and causes
with one snippet made one fix."""
from __future__ import annotations

from records import judged

from conformance.render import causes, fixes
from conformance.snippet_check import digest

DOC = "torch.x returns the input's values."


def row(id: str = "x[1]", raw: str = "FAIL", api: str = "torch.x", **kw) -> dict:
    return judged({"id": id, "api": api, "origin": "_view2torch", "module": "tensors", "raw_outcome": raw,
                   "outcome": raw, "doc": DOC, "summary": kw.pop("summary", "s"), **kw})


def f32(*values: float) -> str:
    import struct

    return struct.pack(f"<{len(values)}f", *values).hex()


def one(records: list[dict], header: dict | None = None) -> fixes.Fix:
    (c,) = causes.causes(records, header or {"target": "t"})
    return fixes.fix(c, "t", {}, header or {"target": "t"})


def test_wrong_bytes_are_told_as_the_values_they_hold():
    o, t = f32(1.0, 2.0), f32(1.0, 3.0)
    r = row(oracle={"value": {"dtype": "float32", "bytes": o}}, observed={"value": {"dtype": "float32", "bytes": t}},
            diffs=[{"path": "value.bytes", "kind": "bytes", "oracle_hex": o, "target_hex": t, "excerpt_start": 0,
                    "first_offset": 4}])
    f = one([r])
    assert f.torch_does == f"{DOC} Here torch gives value.bytes holding [1.0, 2.0]."
    assert f.target_does == "returns [1.0, 3.0] instead (bytes differ)."


def test_bytes_numpy_cannot_read_are_told_in_hex_from_where_they_differ():
    r = row(oracle={"value": {"dtype": "float32", "bytes": "00"}}, observed={"value": {"dtype": "float32", "bytes": "01"}},
            diffs=[{"path": "value.bytes", "kind": "bytes", "oracle_hex": "00", "target_hex": "01", "excerpt_start": 0,
                    "first_offset": 0}])
    f = one([r])
    assert f.torch_does.endswith("torch gives value.bytes = 00 (from byte 0).")
    assert f.target_does.startswith("returns 01 (first difference at byte 0) instead")


def test_long_bytes_are_told_in_hex_not_as_values():
    o, t = f32(*range(17)), f32(*range(16), 99)      # 68 bytes: more than VALUES_BYTES
    r = row(oracle={"value": {"dtype": "float32", "bytes": o}}, observed={"value": {"dtype": "float32", "bytes": t}},
            diffs=[{"path": "value.bytes", "kind": "bytes", "oracle_hex": "00 00 80 41", "target_hex": "00 00 c6 42",
                    "excerpt_start": 64, "first_offset": 66}])
    f = one([r])
    assert f.torch_does.endswith("torch gives value.bytes = 00 00 80 41 (from byte 64).")


def test_an_exception_and_a_blocked_row_are_told_as_what_the_row_saw():
    f = one([row(observed={"raises": "TypeError", "type": "TypeError", "message": "bad  dtype\n here"})])
    assert (f.torch_does, f.target_does) == (DOC, "raises TypeError: bad dtype here")
    f = one([row(cause={"api": "torch.y", "phase": "input", "evidence": "AttributeError: no y"})])
    assert f.cause.api == "torch.y" and f.target_does.startswith("fails before the rows' own call: ")


def test_a_snippet_measured_not_to_reproduce_is_dropped_and_says_why():
    blocked = [row(cause={"api": "torch.y", "phase": "input", "evidence": "AttributeError: module has no attribute y"})]
    (c,) = causes.causes(blocked, {})
    (r, probe), = fixes.candidates(c, {})
    assert "_ = torch.y" in probe.code
    header = {"target": "t", "snippet_checks": {"checked": {digest(probe.code): {"reproduces": False, "why": "same"}}}}
    f = fixes.fix(c, "t", {}, header)
    assert (f.snippet, f.dropped) == (None, "same")
    header["snippet_checks"]["checked"][digest(probe.code)] = {"reproduces": True}
    f = fixes.fix(c, "t", {}, header)
    assert f.snippet.code == probe.code and f.dropped is None
    assert fixes.fix(c, "t", {}, {"target": "t"}).snippet is not None, "a run that measured none shows its first"


def test_causes_with_one_snippet_are_one_fix():
    ev = "AttributeError: module has no attribute y"
    a = causes.Cause("torch.y", "error", "fails before the row's own call", blocked=[row("a[1]", cause={
        "api": "torch.y", "phase": "input", "evidence": ev})])
    b = causes.Cause("torch.y", "error", "other detail", blocked=[row("b[1]", cause={
        "api": "torch.y", "phase": "input", "evidence": ev})])
    (f,) = fixes.fixes([a, b], "t", {}, {"target": "t"})
    assert [r["id"] for r in f.cause.blocked] == ["a[1]", "b[1]"]
    # the causes it was given are the report's, which the page and the checklist both make fixes of
    assert [r["id"] for r in a.blocked] == ["a[1]"]
    (again,) = fixes.fixes([a, b], "t", {}, {"target": "t"})
    assert [r["id"] for r in again.cause.blocked] == ["a[1]", "b[1]"]


def test_the_repro_command_runs_the_example_alone():
    f = one([row("x[long-id]"), row("x[1]")])
    assert f.repro == "python -m conformance.repro --target t 'x[1]'"
