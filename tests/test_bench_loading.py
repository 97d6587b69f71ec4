"""benchmarks/bench_loading.py runs on a tiny checkpoint and its perf.json renders (no timing asserted)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conformance.render import html, perf

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
    from conformance import render, results as res
    page = html.render(render.from_results([res.build({"target": "t", "cases_in_catalog": 0}, [])]), perf=data)
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_run_carries_loading_measurements_into_results_and_report(oracle, tmp_path):
    """`--perf perf.json` puts the (informational) loading ratios into results.json and index.html,
    and `report` finds them there again; the gate's outcome does not change."""
    from kitrun import run_kit

    perf_json = tmp_path / "perf.json"
    perf_json.write_text(json.dumps({
        "kind": perf.KIND, "format": perf.FORMAT, "repeat": 1, "checkpoints": {"mixed": {"bytes": 1}},
        "rows": [{"checkpoint": "mixed", "backend": "torch", "path": "load(bytes)", "status": "ok", "seconds": 0.5,
                  "mb_s": 600.0, "peak_mib": 300.0, "peak_delta_mib": 80.0, "data": "copied",
                  "time_ratio": 1.0, "mem_ratio": 1.0}]}))
    run = run_kit("torch", tmp_path / "report", oracle.cache, "-k", "frombuffer", "--perf", str(perf_json))
    assert run.returncode == 0, run.output[-3000:]
    assert run.results["performance"]["rows"][0]["mb_s"] == 600.0
    assert 'id="perf"' in (run.report_dir / "index.html").read_text()
    assert "| mixed | torch | load(bytes) | ok |" in (run.report_dir / "perf.md").read_text()
    again = tmp_path / "again"
    subprocess.run([sys.executable, "-m", "conformance", "report", "--results", str(run.report_dir / "results.json"),
                    "--out", str(again)], check=True, cwd=ROOT, capture_output=True)
    assert 'id="perf"' in (again / "index.html").read_text()


def test_a_malformed_perf_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "perf.json"
    bad.write_text('{"kind": "something else"}')
    p = subprocess.run([sys.executable, "-m", "conformance", "run", "--target", "torch", "--perf", str(bad)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 4 and "is not a perf.json written by benchmarks/bench_loading.py" in p.stderr
    assert "Traceback" not in p.stdout + p.stderr
