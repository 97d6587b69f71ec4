"""benchmarks/bench_loading.py runs on a tiny checkpoint and its perf.json renders (no timing asserted)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conformance.reports import html, perf

ROOT = Path(__file__).resolve().parent.parent


def test_bench_loading_runs_and_verifies_the_oracle(tmp_path):
    out = tmp_path / "perf.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_loading.py"), "--target", "torch", "--size-mb", "5",
                    "--repeat", "1", "--workdir", str(tmp_path), "--json", str(out)], check=True, cwd=ROOT,
                   capture_output=True, timeout=300)
    data = perf.load(out)
    assert set(data["checkpoints"]) == {"mixed", "float32"}
    assert set(data["checkpoints"]["mixed"]["dtypes"]) == {"F16", "F32"} and data["checkpoints"]["float32"]["dtypes"] == ["F32"]
    rows = {(r["checkpoint"], r["path"]): r for r in data["rows"] if r["backend"] == "torch"}
    assert set(rows) >= {(c, p) for c in ("mixed", "float32")
                         for p in ("load(bytes)", "load_file mmap", "safe_open(numpy)+from_numpy")}
    for r in rows.values():
        assert r["status"] in ("ok", "n/a"), r
        if r["status"] == "ok":
            assert r["verified"] is True and r["data"] in ("mapped", "copied")
    assert "Loading-path performance" in perf.markdown(data)


def test_perf_rendering_escapes_backend_messages():
    evil = "<script>alert(1)</script> | `x`"
    data = {"kind": perf.KIND, "format": perf.FORMAT,
            "rows": [{"checkpoint": "mixed", "backend": "b", "path": "load(bytes)", "status": "failed", "error": evil}]}
    text = perf.markdown(data)
    assert "<script>" not in text and "\\<script\\>" in text
    assert perf.markdown(data) == text
    from conformance import reports, results as res
    page = html.render(reports.from_results([res.build({"target": "t", "cases_in_catalog": 0}, [])]), perf=data)
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
