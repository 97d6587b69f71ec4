"""What import transformers needs, as one item (conformance/render/import_surface.py): the missing names of the
recorded import surface, the optional ones apart, and why transformers treats torch as absent."""
from __future__ import annotations

from records import judged

from conformance.render import causes, import_surface as surf


def need(name: str, raw: str = "MISSING", *, optional=False, present=None, how="read", where="t.py:1", **kw) -> dict:
    display = {"where": where, "how": how, "optional": optional, "present_in_target": present}
    return judged({"id": f"transformers_import[{name}]", "api": name, "module": surf.SURFACE_MODULE,
                   "origin": "import transformers", "raw_outcome": raw, "outcome": raw,
                   "observed": {"display": display}, **kw})


def step(raw="FAIL", available=True, **kw) -> dict:
    diffs = [] if available else [{"path": "value.is_torch_available", "oracle": True, "target": False}]
    return judged({"id": "transformers[import]", "api": surf.API, "module": surf.STEP_MODULE, "origin": "o",
                   "raw_outcome": raw, "outcome": raw, "diffs": diffs, **kw})


def test_needs_are_the_absent_required_names_and_optional_ones_stand_apart():
    recs = [need("torch.a"), need("torch.b", "PASS"), need("torch.c", optional=True, present=False),
            need("torch.d", optional=True, present=True),
            need("torch.m.f", "BLOCKED", cause={"api": "torch.m", "phase": "input", "evidence": "e"})]
    s = surf.surface(recs, {})
    assert [(n.name, n.waits_on) for n in s.needs] == [("torch.a", ""), ("torch.m.f", "torch.m")]
    assert [n.name for n in s.optional] == ["torch.c"]
    assert s.target_does() == "lacks 2 of them (1 missing themselves, 1 inside a missing module); " \
                              "1 optional ones are absent too (no blocker)."


def test_how_and_where_come_from_the_display_else_the_contract_line():
    assert surf.touch(need("torch.a", how="imported", where="x.py:9")) == ("imported", "x.py:9")
    r = judged({"id": "i", "api": "torch.a", "raw_outcome": "MISSING", "doc":
                "transformers reads torch.a behind hasattr/getattr with a default (optional), at y.py:3"})
    assert surf.touch(r) == ("guarded", "y.py:3")


def test_transformers_treating_torch_as_absent_is_explained_from_the_header():
    s = surf.surface([step(available=False)], {"target_env": {"torch_metadata": None, "version": "1.0"}})
    assert "presents no torch distribution metadata" in s.torch_absent
    assert "below the 2.1.0" in surf.why_torch_absent({"target_env": {"torch_metadata": "2.0.9"}})
    assert "recent enough" in surf.why_torch_absent({"target_env": {"torch_metadata": "2.13.0"}})
    assert "below" not in surf.why_torch_absent({"target_env": {"torch_metadata": None, "version": "2.5.0.dev1"}})
    assert surf.surface([step(available=True)], {}).torch_absent == ""


def test_members_are_failing_surface_rows_the_import_step_and_steps_that_found_no_torch():
    assert surf.member(need("torch.a")) and not surf.member(need("torch.a", "PASS"))
    assert surf.member(step())
    no_torch = judged({"id": "transformers[gpt2-load]", "api": "x", "module": surf.STEP_MODULE, "raw_outcome": "FAIL",
                       "summary": "AutoModel requires the PyTorch library but it was\nnot found in your environment"})
    assert surf.member(no_torch)
    assert not surf.member({**no_torch, "summary": "other"} | {"cause": {"api": "x", "phase": "call", "evidence": ""}})


def test_the_whole_surface_is_one_cause_item():
    recs = [need("torch.a"), need("torch.b"), step(available=False)]
    items = causes.causes(recs, {"target_env": {"torch_metadata": "1.0"}})
    (item,) = items
    assert item.api == surf.API and len(item.own) == 2 and len(item.blocked) == 1
    assert item.title == "what import transformers needs: 2 missing, and transformers treats torch as absent"


def test_the_snippet_touches_every_needed_name():
    s = surf.surface([need("torch.a", how="imported"), need("torch.b")], {})
    code, shows = surf.snippet_code(s)
    assert shows == ("missing",) and "('torch.a', True)" in code and "('torch.b', False)" in code
    compile(code, "snippet", "exec")
    assert surf.snippet_code(surf.Surface()) is None


def test_its_snippet_is_known_once_every_row_it_is_made_from_has_run():
    """The snippet check runs it while the last cases run: only once no row it is made from can still change it,
    and then it is the very code the item's fix measures at the end (same digest, so the same verdict)."""
    from types import SimpleNamespace as Case

    from conformance.render import fixes

    catalog = {"transformers_import[torch.a]": Case(module=surf.SURFACE_MODULE, api="torch.a"),
               "transformers_import[torch.b]": Case(module=surf.SURFACE_MODULE, api="torch.b"),
               "transformers[import]": Case(module=surf.STEP_MODULE, api=surf.API),
               "transformers[load]": Case(module=surf.STEP_MODULE, api="x"),
               "frombuffer[x]": Case(module="view2torch", api="torch.frombuffer")}
    header = {"target_env": {"torch_metadata": None, "version": "1.0"}}
    recs = [need("torch.a"), need("torch.b", "PASS")]
    assert surf.snippet_once_judged(recs, header, catalog) is None, "the import step has not run"
    recs.append(step(available=False))
    code = surf.snippet_once_judged(recs, header, catalog)
    other = judged({"id": "frombuffer[x]", "api": "torch.frombuffer", "module": "view2torch", "raw_outcome": "FAIL",
                    "outcome": "FAIL", "cause": {"api": "torch.frombuffer", "phase": "call", "evidence": "e"}})
    (item,) = [c for c in causes.causes([*recs, other], header) if c.surface is not None]
    assert [s.code for _, s in fixes.candidates(item, {})] == [code]
    assert "('torch.a', False)" in code and "torch.b" not in code and "is_torch_available" in code
    assert surf.snippet_once_judged([step(available=True), need("torch.a", "PASS"), need("torch.b", "PASS")],
                                    {}, catalog) is None, "nothing to show"
