"""Verdicts against reality: the kit's entry-point verdicts agree with what real safetensors calls do.

For pyborch (always) and mindtorch_v2 (when its sources are found), tests/reality_probe.py makes the calls
a user makes (save_file, load(bytes), load_file, safe_open get_tensor/get_slice) for every dtype, under the
target and under real torch. An entry point works in reality when every probe gives the oracle's bytes.
The kit's verdict on the same target (index.html's and checklist.md's headline) must say "works" exactly
then. The agreement table is printed (pytest -s) for the closing notes.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conformance import render
from kitrun import REPO, kit_env, run_kit
from test_backends import MINDTORCH_SRC, needs_mindtorch

ENTRY_POINTS = ("save", "load(bytes)", "safe_open(pt)")    # the keys of reports/entry_points.py


def probe(target: str, *backend_path: str) -> dict[str, dict[str, str]]:
    args = [a for p in backend_path for a in ("--backend-path", p)]
    p = subprocess.run([sys.executable, str(REPO / "tests" / "reality_probe.py"), "--target", target, *args],
                       cwd=REPO, env=kit_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def agreement(target: str, report_dir, cache, *backend_path: str) -> list[tuple[str, str, str, list[str]]]:
    """(entry point, reality, the kit's verdict, probes that differ) for each entry point."""
    truth, seen = probe("torch"), probe(target, *backend_path)
    args = [a for p in backend_path for a in ("--backend-path", p)]
    run = run_kit(target, report_dir, cache, *args)
    assert run.returncode in (0, 1), run.output[-4000:]
    report = render.load([report_dir / "results.json"])
    verdicts = {v.entry.key: v for v in report.verdicts(report.runs[0])}
    rows = []
    for ep in ENTRY_POINTS:
        assert truth[ep], f"the oracle probed nothing for {ep}"
        differing = sorted(p for p in truth[ep] if seen[ep].get(p) != truth[ep][p])
        rows.append((ep, "fails" if differing else "works", verdicts[ep].label, differing))
    print(f"\n{target}: entry point | reality | kit verdict | probes that differ")
    for ep, real, kit, diff in rows:
        print(f"  {ep} | {real} | {kit} | {len(diff)}: {', '.join(diff[:4])}")
    return rows


def _check(rows) -> None:
    wrong = [(ep, real, kit, diff[:5]) for ep, real, kit, diff in rows if (real == "works") != (kit == "works")]
    assert not wrong, f"the kit's verdict contradicts what real safetensors calls do: {wrong}"


def test_pyborch_verdicts_agree_with_real_safetensors_calls(oracle, tmp_path):
    _check(agreement("pyborch", tmp_path / "report", oracle.cache))


@needs_mindtorch
def test_mindtorch_v2_verdicts_agree_with_real_safetensors_calls(oracle, tmp_path):
    _check(agreement("mindtorch_v2", tmp_path / "report", oracle.cache, MINDTORCH_SRC))


@pytest.mark.parametrize("mutant,works", [("mutant_frombuffer_bf16_bytes", False), ("mutant_from_numpy_copies", True)])
def test_a_mutants_verdicts_agree_too(oracle, tmp_path, mutant, works):
    """A silent wrong-data mutant of load(bytes) is caught by both; one that only breaks what the kit leans on
    leaves every entry point working in reality and in the verdicts."""
    rows = agreement(f"module:{mutant}", tmp_path / "report", oracle.cache)
    _check(rows)
    assert ({real for ep, real, _, _ in rows} == {"works"}) is works
