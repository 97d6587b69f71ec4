"""Verdicts against reality: the kit's entry-point verdicts agree with what real safetensors calls do.

For pyborch (always) and mindtorch_v2 (when its sources are found), tests/reality_probe.py makes the calls
a user makes (save_file, load(bytes), load_file, safe_open get_tensor/get_slice) for every dtype, under the
target and under real torch. An entry point works in reality when every probe gives the oracle's bytes.
The kit's verdict on the same target (index.html's and checklist.md's headline) must say "works" exactly
then. The agreement table is printed (pytest -s) for the closing notes.

Backends nobody tuned the kit to (issue 21: older mindtorch_v2 commits, paddle's torch compatibility) are held
to more: for an entry point that fails in reality, the headline's first cause must be a torch call the real
safetensors calls hit first (the first call of their recorded torch calls that diverges from the oracle's,
tests/reality_probe.py --calls). The target's probe runs in its sandbox, as a user's process would.
They run in ``tox -e untuned``; ``python benchmarks/verdicts.py reality --target T`` prints their table.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance import render
from kitrun import REPO, kit_env, run_kit
from reality_probe import IMPORT, digest_of, first_failing_call
from test_backends import MINDTORCH_SRC, needs_mindtorch

ENTRY_POINTS = ("save", "load(bytes)", "safe_open(pt)")    # the keys of reports/entry_points.py


def probe(target: str, *backend_path: str, calls: bool = False, sandboxed: bool = False,
          torch_version: str | None = None) -> dict[str, dict]:
    """The reality probe's digests (with ``calls``: and each user call's recorded torch calls); ``sandboxed``:
    run in the target's sandbox, through ``python -m conformance exec``; ``torch_version``: the oracle's
    ``torch.__version__`` as the kit records it for a target on another loading path."""
    args = [a for p in backend_path for a in ("--backend-path", p)]
    script = [str(REPO / "tests" / "reality_probe.py"), "--target", target, *args, *(["--calls"] if calls else []),
              *(["--torch-version", torch_version] if torch_version else [])]
    cmd = ([sys.executable, "-m", "conformance", "exec", "--target", target, "--require-sandbox", *args, "--",
            "python", *script, "--active"] if sandboxed else [sys.executable, *script])
    p = subprocess.run(cmd, cwd=REPO, env=kit_env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def _differing(truth: dict, seen: dict) -> list[str]:
    """The probes of one entry point whose observation under the target is not the oracle's."""
    return sorted(p for p in truth if digest_of(seen.get(p)) != digest_of(truth[p]))


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
        differing = _differing(truth[ep], seen[ep])
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


# -- backends nobody tuned the kit to (tox -e untuned) ------------------------------------------------------

@dataclass(frozen=True)
class Untuned:
    label: str            # the table's name for it
    target: str           # --target
    source_env: str | None = None   # the variable naming its sources' folder (mindtorch_v2 commits)

    def backend_path(self) -> list[str] | None:
        """``--backend-path`` arguments, or None when this backend is not available here."""
        if self.source_env is None:
            return [] if importlib.util.find_spec("paddle") is not None else None
        folder = os.environ.get(self.source_env)
        return [folder] if folder and (Path(folder) / "mindtorch_v2" / "__init__.py").is_file() else None

    def how_to_enable(self) -> str:
        if self.source_env is None:
            return ("paddle is not importable: run `tox -e untuned` (it installs paddlepaddle==3.3.1 into its own "
                    "env), never into the test interpreter")
        return (f"{self.label}: set {self.source_env} to a MindNLP src/ folder of that commit "
                "(git -C mindnlp archive COMMIT src | tar -x -C DIR), e.g. in `tox -e untuned`")


UNTUNED = (Untuned("mindtorch_v2@97aaaf23c", "mindtorch_v2", "MINDTORCH_V2_97AAAF23C_SRC"),
           Untuned("mindtorch_v2@36b2ca312", "mindtorch_v2", "MINDTORCH_V2_36B2CA312_SRC"),
           Untuned("paddle 3.3.1 (enable_compat)", "paddle"))


@dataclass
class Pair:
    """One (backend, entry point) row of the agreement table."""
    entry: str
    reality: str                         # "works" / "fails"
    kit: str                             # the kit's verdict label
    headline: str | None                 # the first cause the kit's headline names (None: works)
    first_calls: Counter                 # reality: first failing torch call -> probes that hit it first
    differing: list[str]
    raised: list[str]                    # reality: what the failing probes raised (first few), for the reader
    absent: int = 0                      # differing probes of dtypes the target's torch lacks (no call made)

    @property
    def agrees(self) -> bool:
        from conformance.compare import same_api
        if self.reality == "works" or self.headline is None:
            return (self.reality == "works") == (self.kit == "works")
        return any(same_api(self.headline, api) for api in self.first_calls)


def cause_agreement(target: str, report_dir: Path, cache: Path, backend_path: list[str],
                    reuse: bool = False) -> list[Pair]:
    """Every entry point's headline cause held against the first failing call of the real safetensors calls.
    The oracle's calls are those of real torch on the target's loading path (``run.loading_path``), as the
    kit compares them: a target below 1.11 is held against torch that safetensors sees as 1.10.0."""
    args = [a for p in backend_path for a in ("--backend-path", p)]
    if not (reuse and (report_dir / "results.json").is_file()):
        run = run_kit(target, report_dir, cache, *args, "--require-sandbox", timeout=3600)
        assert run.returncode in (0, 1), run.output[-4000:]
    path = json.loads((report_dir / "results.json").read_text())["run"].get("loading_path") or {}
    truth = probe("torch", calls=True, torch_version=path.get("oracle_torch_version"))
    seen = probe(target, *backend_path, calls=True, sandboxed=True)
    report = render.load([report_dir / "results.json"])
    verdicts = {v.entry.key: v for v in report.verdicts(report.runs[0])}
    pairs = []
    for ep in ENTRY_POINTS:
        assert truth[ep], f"the oracle probed nothing for {ep}"
        differing = _differing(truth[ep], seen[ep])
        firsts = Counter(first_failing_call(truth[ep][p], seen[ep][p], truth[IMPORT]["import"])
                         for p in differing if p in seen[ep])
        raised = sorted({(seen[ep][p].get("raised") or {}).get("message", "") for p in differing if p in seen[ep]}
                        - {""})
        v = verdicts[ep]
        pairs.append(Pair(ep, "fails" if differing else "works", v.label, v.causes[0][0] if v.causes else None,
                          firsts, differing, raised[:3], sum(1 for p in differing if p not in seen[ep])))
    return pairs


def table(label: str, pairs: list[Pair]) -> str:
    """The agreement table in markdown, one row per entry point."""
    out = ["| backend | entry point | reality | first failing torch call (probes) | kit headline | agree |",
           "|---|---|---|---|---|---|"]
    for p in pairs:
        firsts = ", ".join(f"`{api}` ({n})" for api, n in p.first_calls.most_common()) or "-"
        absent = f", {p.absent} of them dtypes the target lacks" if p.absent else ""
        out.append(f"| {label} | {p.entry} | {p.reality} ({len(p.differing)} probes differ{absent}) | {firsts} | "
                   f"{p.kit} | {'yes' if p.agrees else 'NO'} |")
    return "\n".join(out)


@pytest.mark.parametrize("backend", [   # skipped at collection: the oracle is not recorded for nothing
    pytest.param(b, id=b.label.split(" ")[0], marks=pytest.mark.skipif(b.backend_path() is None, reason=b.how_to_enable()))
    for b in UNTUNED])
def test_untuned_backends_headline_causes_agree_with_real_safetensors_calls(oracle, tmp_path, backend):
    backend_path = backend.backend_path()
    pairs = cause_agreement(backend.target, tmp_path / "report", oracle.cache, backend_path)
    print("\n" + table(backend.label, pairs))
    wrong = [(p.entry, p.reality, p.kit, dict(p.first_calls)) for p in pairs if not p.agrees]
    assert not wrong, f"{backend.label}: the headline names another cause than real safetensors calls hit: {wrong}"


def test_the_first_failing_call_of_a_real_call_skips_survived_missing_reads_only():
    """The reality side's rule, on the logs that made it: safetensors' import reads float8 dtypes with
    getattr(..., None) (survived: GUARDED) before the torch.int32 that raised (mindtorch_v2 97aaaf23c); paddle's
    wrong Tensor.layout comes before the missing torch.strided that raised, and stays the cause; without a
    raise, the first diverging call."""
    from conformance.calls import GUARDED, MISSING
    t = "T float32 [2,3] [3,1] 0 f34dd366"
    oracle = {"calls": [["torch.float8_e4m3fn", "dt:float8_e4m3fn", "<read>", 0], ["torch.int32", "dt:int32", "<read>", 0]]}
    import_failed = {"calls": [["torch.float8_e4m3fn", GUARDED, "<read>", 0], ["torch.int32", MISSING, "<read>", 0]],
                     "raised": {"message": "AttributeError: module 'mindtorch_v2' has no attribute 'int32'"}}
    assert first_failing_call(oracle, import_failed) == "torch.int32"
    all_survived = {"calls": [["torch.float8_e4m3fn", GUARDED, "<read>", 0], ["torch.int32", GUARDED, "<read>", 0]],
                    "raised": None}
    assert first_failing_call(oracle, all_survived) == "torch.float8_e4m3fn"
    oracle = {"calls": [["Tensor.layout", "lay:torch.strided", t, 0], ["torch.strided", "lay:torch.strided", "<read>", 0]]}
    paddle = {"calls": [["Tensor.layout", "'NCHW'", t, 0], ["torch.strided", "missing", "<read>", 0]],
              "raised": {"message": "AttributeError: module 'torch' has no attribute 'strided'"}}
    assert first_failing_call(oracle, paddle) == "Tensor.layout"
    # a class the oracle's log does not read (torch.UntypedStorage): the named missing read is the cause
    no_class = {"calls": [["torch.UntypedStorage", "missing", "<read>", 0]],
                "raised": {"message": "AttributeError: module 'torch' has no attribute 'UntypedStorage'"}}
    assert first_failing_call({"calls": []}, no_class) == "torch.UntypedStorage"


def test_a_probe_settles_its_misses_by_what_the_user_call_raised(monkeypatch):
    """The probe logs a user call as the kit's worker logs a case: a miss the call went on from is GUARDED,
    the one whose AttributeError ended it stays MISSING (unsettled, every miss read as survived and the
    float8 getattr of safetensors' import was taken for 97aaaf23c's cause, not the torch.int32 it died of)."""
    import types

    import reality_probe
    from conformance import calls

    fake = types.ModuleType("torch")
    fake.int64 = "int64"
    log = calls.CallLog(lambda value, api, args: repr(value), lambda args, kwargs: "args")
    monkeypatch.setattr(calls, "ACTIVE", None)
    calls.install(fake, log)
    monkeypatch.setitem(reality_probe.RECORD, "log", log)

    def import_time_tables():
        return {getattr(fake, "float8_e4m3fn", None): 1, fake.int64: 8, fake.int32: 4}
    got = reality_probe._attempt(import_time_tables)
    assert got["digest"] == "raises AttributeError", got
    assert [e[:2] for e in got["calls"]] == [["torch.float8_e4m3fn", calls.GUARDED], ["torch.int64", "'int64'"],
                                             ["torch.int32", calls.MISSING]], got["calls"]
    survived = reality_probe._attempt(lambda: getattr(fake, "float8_e4m3fn", None))
    assert survived["digest"] is None and survived["calls"][0][1] == calls.GUARDED, survived
