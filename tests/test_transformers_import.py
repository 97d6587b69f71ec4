"""transformers' import surface (catalog/transformers_import.py, issue 18 item 2): every torch module and
attribute transformers touches is its own row, so one run names every one a backend lacks."""
from __future__ import annotations

import importlib.util

import pytest

from conformance.catalog._transformers_surface import SURFACE
from conformance.dists import dist_version
from kitrun import REPO, run_kit

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None or dist_version("transformers") not in SURFACE,
    reason="transformers 4.57.6 is not installed: pip install torch==2.13.0 -e '.[test]'")


def test_the_surface_holds_what_transformers_imports():
    names = {e["module"] + (f".{e['attr']}" if e["attr"] else "") for v in SURFACE.values() for e in v}
    # the ones a mindtorch_v2 author met one per run (issue 18), recorded at once
    assert {"torch.utils._pytree", "torch.distributions", "torch._dynamo", "torch.version",
            "torch.get_default_dtype"} <= names
    # imported only once the model runs (is_torch_fx_proxy in the forward pass): the seventh of issue 18's list
    assert {"torch.fx", "torch.fx.Proxy"} <= names


def test_every_missing_piece_is_named_in_one_run(tmp_path, oracle):
    run = run_kit("module:mutant_no_import_surface", tmp_path / "report", oracle.cache,
                  "--backend-path", str(REPO / "tests" / "mutants" / "surface"), "-k", "transformers_import")
    rows = {i: c for i, c in run.cases.items() if c["module"] == "transformers_import"}
    assert rows, run.output[-3000:]
    red = {i: c["outcome"] for i, c in rows.items() if c["outcome"] not in ("PASS", "SKIP")}
    assert red.get("transformers_import[torch.get_default_dtype]") == "MISSING", red
    assert red.get("transformers_import[torch.version]") == "MISSING", red
    # what needs the missing pieces (torch._dynamo imports torch.version) is BLOCKED, never blamed on itself
    others = {i: o for i, o in red.items() if i not in ("transformers_import[torch.get_default_dtype]",
                                                         "transformers_import[torch.version]")}
    assert all(o == "BLOCKED" for o in others.values()), others
    assert rows["transformers_import[torch._dynamo]"]["cause"]["api"] == "torch.version", rows["transformers_import[torch._dynamo]"]
