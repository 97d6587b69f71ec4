"""What a report shows to reproduce a case (conformance/render/sources.py): the repro command of the run's exact
target, and a catalog that fails to load reported rather than fatal."""
from __future__ import annotations

from conformance.render import sources


def test_the_repro_command_names_the_exact_target_quoted_for_a_shell():
    header = {"target": "old", "target_spec": {"target": "mindtorch_v2", "backend_path": ["/a b/src"],
                                              "sources": {"digest": "abc123"}}}
    assert sources.repro_command(header, "frombuffer[x y]") == (
        "python -m conformance.repro --target mindtorch_v2 --backend-path '/a b/src' --sources abc123 'frombuffer[x y]'")
    dist = {"target_spec": {"target": "pyborch", "sources": {"distribution": "pyborch 1.14.1"}}}
    assert sources.repro_command(dist, "a").endswith("--sources pyborch==1.14.1 a")


def test_an_older_header_gives_the_target_name_alone():
    assert sources.repro_command({"target": "pyborch"}, "a") == "python -m conformance.repro --target pyborch a"


def test_a_broken_catalog_is_reported_not_fatal(monkeypatch):
    def broken():
        raise SyntaxError("a catalog module being edited")

    monkeypatch.setattr(sources, "load_catalog", broken)
    c = sources.Catalog()
    assert c.cases == {} and c.digest is None and c.error == "SyntaxError: a catalog module being edited"
    assert c.source("x[1]") is None and c.key("x[1]") is None


def _case_function(dtype):
    return dtype


def test_a_case_source_is_its_functions_and_its_parameters(monkeypatch):
    from types import SimpleNamespace as NS

    cases = {f"f[{d}]": NS(fn=_case_function, params=NS(values={"dtype": d, "n": 2})) for d in ("a", "b")}
    monkeypatch.setattr(sources, "load_catalog", lambda: cases)
    monkeypatch.setattr(sources, "catalog_digest", lambda: "d1")
    c = sources.Catalog()
    a, b = c.source("f[a]"), c.source("f[b]")
    assert a.key == b.key == "test_render_sources._case_function" == c.key("f[a]")
    assert a.source.startswith("def _case_function(dtype):") and a.anchor == "src-" + a.key
    assert (a.params, b.params) == ("dtype='a', n=2", "dtype='b', n=2")
