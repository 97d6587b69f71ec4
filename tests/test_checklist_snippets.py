"""The checklist's snippets, run for real: under PyTorch and under a mutant (real torch with one deviation),
and every snippet of pyborch's and mindtorch_v2 master's checklists through the command the checklist prints.

Each mutant runs as a target on a slice of the catalog; the report's causes give snippets generated
from the case data. Every snippet runs twice, in a fresh Python: once with plain `import torch` (the
oracle) and once where `import torch` gives the mutant (a sitecustomize imports it first; a mutant
patches torch and puts itself in its place). The printed lines must differ exactly on the labels the
cause names, and agree on every other line.

A real backend runs the whole catalog once per session (the run itself measures its snippets); each
snippet its checklist shows then runs as a reader runs it, `python snippet.py` against the printed
`python -m conformance exec ... -- python snippet.py`, split into shards so xdist spreads them. An
item whose snippet the run dropped must have had only snippets that really print the same.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import render
from conformance.registry import load_catalog
from conformance.render import fixes
from kitrun import MUTANTS, REPO, kit_env, once_per_session, run_kit

CHECKED = {"CONFORMANCE_SKIP_SNIPPET_CHECK": ""}     # these runs measure their snippets, as a user's run does

# mutant -> (pytest -k slice, the cause API its deviation must be blamed on, the labels it must change)
CASES = {
    "mutant_reshape_strides": ("reshape and transposed", "Tensor.reshape", {"stride"}),
    "mutant_frombuffer_bf16_bytes": ("frombuffer and bfloat16 and not pread and not error", "torch.frombuffer",
                                     {"values"}),
    "mutant_no_frombuffer": ("frombuffer and float32 and not pread", "torch.frombuffer", {"raises"}),
    "mutant_frombuffer_copies": ("frombuffer and float32 and not pread and not error", "torch.frombuffer",
                                 {"aliasing"}),
    "mutant_frombuffer_ragged_typeerror": ("frombuffer_error and ragged", "torch.frombuffer", {"raises"}),
    # every row is blocked while its input is built: the snippet probes the missing dtype itself
    "mutant_no_float8_e5m2": ("float8_e5m2 and (reshape or frombuffer) and not pread", "torch.float8_e5m2", {"raises"}),
}


def _run(code: Path, mutant: str | None, tmp: Path) -> dict[str, str]:
    """label -> the rest of its printed line (labels are unique within a snippet's output)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp)}
    if mutant:
        site = tmp / f"site-{mutant}"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(f"import {mutant}  # makes `import torch` the mutant\n")
        env["PYTHONPATH"] = f"{site}:{MUTANTS}"
    p = subprocess.run([sys.executable, str(code)], cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{code} under {mutant or 'torch'} failed:\n{p.stdout}\n{p.stderr[-3000:]}"
    out: dict[str, str] = {}
    for line in p.stdout.splitlines():
        label, _, rest = line.partition(" ")
        assert label not in out, f"{code} printed {label!r} twice"
        out[label] = rest
    return out


@pytest.mark.parametrize("mutant", sorted(CASES))
def test_snippet_shows_the_mutants_deviation_and_nothing_else(mutant, oracle, tmp_path):
    slice_, api, labels = CASES[mutant]
    run = run_kit(f"module:{mutant}", tmp_path / "report", oracle.cache, "-k", slice_, **CHECKED)
    report = render.from_results([run.results])
    causes = report.causes(report.runs[0])
    assert causes, f"{mutant}: no failing rows in slice {slice_!r}:\n{run.output[-3000:]}"
    found = fixes.fixes(causes, f"module:{mutant}", load_catalog())
    mine = [f for f in found if f.cause.api == api and f.snippet is not None]
    assert mine, f"{mutant}: no snippet for a cause in {api}; causes: {[(f.cause.api, f.cause.title) for f in found]}"
    for i, f in enumerate(mine):
        code = tmp_path / f"snippet{i}.py"
        code.write_text(f.snippet.code)
        assert f.snippet.code.startswith("import torch\n") and len(f.snippet.code.splitlines()) <= 12, f.snippet.code
        torch_out, mutant_out = _run(code, None, tmp_path), _run(code, mutant, tmp_path)
        assert set(torch_out) == set(mutant_out), (torch_out, mutant_out)
        differ = {label for label in torch_out if torch_out[label] != mutant_out[label]}
        assert differ == set(f.snippet.shows), (f.example["id"], f.snippet.code, torch_out, mutant_out)
        assert differ == labels, f"{mutant}: {f.example['id']} should change {labels}, changed {differ}"
        # the run measured the same through conformance exec, so the checklist shows the snippet as measured
        assert f.checked and f.checked["reproduces"] and set(f.checked["differ"]) == labels, \
            (f.checked, run.results["run"].get("snippet_checks", {}).get("error"))


def test_gate_prints_the_rows_that_changed_and_the_command_that_rewrites_them(oracle, tmp_path):
    report_dir = tmp_path / "r"
    exp = tmp_path / "known.txt"
    exp.write_text("")
    p = subprocess.run([sys.executable, "-m", "conformance", "run", "--target", "module:mutant_frombuffer_ragged_typeerror",
                        "--backend-path", str(MUTANTS), "--oracle-cache", str(oracle.cache), "--report-dir", str(report_dir),
                        "--expectations", str(exp), "-k", "frombuffer_error and ragged and float32"],
                       cwd=REPO, capture_output=True, text=True, timeout=600, env=kit_env(**CHECKED))
    assert p.returncode == 1, p.stdout[-3000:] + p.stderr[-2000:]
    assert "frombuffer_error[ragged-float32]: FAIL" in p.stdout
    assert (f"python -m conformance expectations --results {report_dir / 'results.json'} --file {exp}"
            in p.stdout), p.stdout[-2000:]
    # The same run against that one as its baseline: nothing changed, and the reports say so.
    again = subprocess.run([sys.executable, "-m", "conformance", "run", "--target", "module:mutant_frombuffer_ragged_typeerror",
                            "--backend-path", str(MUTANTS), "--oracle-cache", str(oracle.cache), "--report-dir",
                            str(tmp_path / "r2"), "--expectations", str(exp), "--baseline", str(report_dir),
                            "-k", "frombuffer_error and ragged and float32"], cwd=REPO, capture_output=True, text=True, env=kit_env(**CHECKED),
                           timeout=600)
    assert again.returncode == 1, again.stdout[-3000:] + again.stderr[-2000:]
    assert "0 fixed, 0 newly failing, 0 with another cause" in (tmp_path / "r2" / "index.html").read_text()
    assert "### Since baseline" in (tmp_path / "r2" / "checklist.md").read_text()


# -- every snippet of a real backend's checklist, run as the checklist says ------------------------------

SHARDS = 3                 # per backend: xdist spreads them; each runs its share of the snippets one by one


def _mindtorch_master() -> Path | None:
    """MindNLP master's src/ ($MINDTORCH_V2_SRC or the other places the adapter looks), not pull/2761's."""
    from conformance.backends import BackendError, find_sources
    try:
        src = find_sources("mindtorch_v2")
    except BackendError:
        return None
    return Path(src) if src and not (Path(src) / "mindtorch_v2" / "_torch_proxy.py").exists() else None


BACKENDS = {"pyborch": lambda: [], "mindtorch_v2": lambda: ["--backend-path", str(_mindtorch_master())]}


def _backend_results(tmp_path_factory, oracle, target: str) -> dict:
    """The whole catalog run once per session against ``target``, by the command a user types."""
    def run(shared: Path) -> dict:
        report = shared / "report"
        p = subprocess.run([sys.executable, "-m", "conformance", "run", "--target", target, *BACKENDS[target](),
                            "--oracle-cache", str(oracle.cache), "--report-dir", str(report)],
                           cwd=REPO, env=kit_env(**CHECKED), capture_output=True, text=True, timeout=3000)
        assert (report / "results.json").is_file(), p.stdout[-3000:] + p.stderr[-3000:]
        return {"results": str(report / "results.json")}
    if target == "mindtorch_v2" and _mindtorch_master() is None:
        pytest.skip("mindtorch_v2 master sources not found: set MINDTORCH_V2_SRC to a MindNLP master src/ "
                    "(or pass --backend-path to the kit) to run its checklist's snippets")
    import json
    info = once_per_session(tmp_path_factory, f"checklist-snippets-{target}", run)
    return json.loads(Path(info["results"]).read_text())


def _checklist(results: dict) -> list[fixes.Fix]:
    report = render.from_results([results])
    run = report.runs[0]
    return fixes.fixes(report.causes(run), run.label, load_catalog(), run.header)


def _as_printed(command: str, folder: Path) -> subprocess.CompletedProcess:
    """A command the checklist prints, run from ``folder`` (``python`` is this interpreter)."""
    words = shlex.split(command)
    words[0] = sys.executable
    return subprocess.run(words, cwd=folder, env=kit_env(**CHECKED), capture_output=True, text=True, timeout=600)


def _both_sides(code: str, run_snippet: str, folder: Path) -> tuple[dict, dict, str]:
    """(PyTorch's lines, the backend's lines, what went wrong): the snippet saved as snippet.py, run with
    ``python snippet.py`` and with the printed exec command."""
    folder.mkdir(parents=True)
    (folder / "snippet.py").write_text(code)
    sides, problems = [], []
    oracle_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder)}
    for name, p in (("python snippet.py", subprocess.run([sys.executable, "snippet.py"], cwd=folder, env=oracle_env,
                                                            capture_output=True, text=True, timeout=600)),
                    (run_snippet, _as_printed(run_snippet, folder))):
        if p.returncode != 0:
            problems.append(f"{name} exited {p.returncode}: {p.stderr.strip()[-500:]}")
        lines: dict[str, str] = {}
        for line in p.stdout.splitlines():
            label, _, rest = line.partition(" ")
            lines[label] = lines.get(label, "") + rest + "\n"
        sides.append(lines)
    return sides[0], sides[1], "; ".join(problems)


@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.parametrize("target", sorted(BACKENDS))
def test_every_checklist_snippet_prints_differently_under_the_backend(target, shard, oracle, tmp_path_factory,
                                                                     tmp_path):
    results = _backend_results(tmp_path_factory, oracle, target)
    shown = [(i, f) for i, f in enumerate(_checklist(results), 1) if f.snippet is not None]
    assert shown, f"{target}'s checklist shows no snippet"
    mine = shown[shard::SHARDS]
    if not mine:
        pytest.skip(f"{len(shown)} snippets: none for shard {shard}")
    wrong = []
    for i, f in mine:
        assert f.run_snippet and f.run_snippet.endswith(" -- python snippet.py"), f.run_snippet
        torch_out, target_out, problem = _both_sides(f.snippet.code, f.run_snippet, tmp_path / f"item{i}")
        differ = {label for label in set(torch_out) | set(target_out) if torch_out.get(label) != target_out.get(label)}
        if problem or differ != set(f.snippet.shows):
            wrong.append(f"item {i} ({f.cause.api}: {f.cause.title}) names {list(f.snippet.shows)}, differs on "
                         f"{sorted(differ)}{'; ' + problem if problem else ''}\n{f.snippet.code}"
                         f"torch: {torch_out}\n{target}: {target_out}")
    assert not wrong, f"{len(wrong)} of {len(mine)} snippets do not show their difference:\n" + "\n".join(wrong)


@pytest.mark.parametrize("target", sorted(BACKENDS))
def test_the_run_measured_its_snippets_and_dropped_only_those_that_print_the_same(target, oracle, tmp_path_factory,
                                                                                  tmp_path):
    from conformance.snippet_check import digest
    results = _backend_results(tmp_path_factory, oracle, target)
    checks = results["run"].get("snippet_checks") or {}
    assert "error" not in checks and checks.get("checked"), checks
    found = _checklist(results)
    # every snippet shown was measured, and measured to reproduce
    assert all(f.checked and f.checked["reproduces"] for f in found if f.snippet is not None)
    catalog = load_catalog()
    dropped = [(i, f) for i, f in enumerate(found, 1) if f.dropped]
    for i, f in dropped:
        assert f.repro.startswith("python -m conformance.repro "), f.repro
        for r, s in fixes.candidates(f.cause, catalog):
            verdict = checks["checked"].get(digest(s.code))
            if verdict is None or verdict["reproduces"]:
                continue
            torch_out, target_out, problem = _both_sides(s.code, f.run_snippet or checks["command"],
                                                         tmp_path / f"item{i}-{digest(s.code)}")
            differ = {lb for lb in set(torch_out) | set(target_out) if torch_out.get(lb) != target_out.get(lb)}
            assert problem or differ != set(s.shows), (f"item {i} ({f.cause.api}): the run dropped a snippet that "
                                                      f"shows {sorted(differ)} as it names:\n{s.code}")
