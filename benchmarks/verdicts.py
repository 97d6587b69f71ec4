"""How trustworthy the verdicts are: cause precision per mutant, and a run's causes. Measurements, not tests.

    python benchmarks/verdicts.py mutants                      # every mutant of tests/mutants: precision
    python benchmarks/verdicts.py results out/results.json     # one run: outcomes, ranked causes, reach-arounds
    python benchmarks/verdicts.py unseen --reports /tmp/e      # tests/mutants/unseen against its truth.py

A mutant's cause precision is the share of its red rows (neither PASS, SKIP nor ERROR, the kit's own fault)
whose cause names the API it breaks (the declaration in tests/test_mutants.py); tests/test_mutants.py requires
all of them, this prints the table.
``unseen`` does the same for the mutants of tests/mutants/unseen, whose ground truth is that folder's
truth.py (written before looking at how the kit blames them); it reuses REPORTS/<mutant>/results.json where
a run left one and runs the kit for the others.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def run(target: str, out: Path, *extra: str) -> dict:
    env_path = f"{REPO}:{REPO / 'tests' / 'mutants'}"
    # the mutants are real torch with one deviation: their sandbox must keep torch
    uses_torch = ["--target-uses-torch"] if target.startswith("module:") else []
    subprocess.run([sys.executable, "-m", "conformance", "run", "--target", target, *uses_torch,
                    "--report-dir", str(out), *extra],
                   cwd=REPO, env={**__import__("os").environ, "PYTHONPATH": env_path}, capture_output=True, timeout=1800)
    return json.loads((out / "results.json").read_text())


def mutants() -> None:
    from conformance.compare import same_api
    from test_mutants import MUTANT_LIST

    print(f"{'mutant':40} {'API it breaks':22} {'red':>5} {'own':>5} {'blocked':>8} {'precision':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for m in MUTANT_LIST:
            res = run(f"module:{m.name}", Path(tmp) / m.name, *m.args)
            red = [r for r in res["cases"] if r["raw_outcome"] not in ("PASS", "SKIP")]
            right = [r for r in red if same_api((r.get("cause") or {}).get("api", ""), m.api)]
            own = sum(1 for r in red if same_api(r["api"], m.api))
            blocked = sum(1 for r in red if r["raw_outcome"] == "BLOCKED")
            print(f"{m.name:40} {m.api:22} {len(red):5} {own:5} {blocked:8} {len(right) / max(1, len(red)):9.1%}")


def load_truth(path: Path) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    spec = importlib.util.spec_from_file_location("unseen_truth", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TRUTH


def names_api(cause_api: str, spellings: set[str]) -> bool:
    from conformance.compare import same_api
    return any(same_api(cause_api, s) for s in spellings)


def precision(res: dict, spellings: set[str]) -> tuple[list[dict], list[dict]]:
    """(red rows, red rows whose cause names one of ``spellings``). An ERROR is the kit's own fault (a lost
    result), no verdict on the backend: left out, as tests/test_mutants.py does."""
    red = [r for r in res["cases"] if r["raw_outcome"] not in ("PASS", "SKIP", "ERROR")]
    return red, [r for r in red if names_api((r.get("cause") or {}).get("api", ""), spellings)]


def unseen(truth_path: Path, reports: Path, show_wrong: int) -> None:
    truth = load_truth(truth_path)
    folder = truth_path.parent
    print(f"{'mutant':34} {'kind':26} {'API it breaks':26} {'red':>5} {'right':>5} {'precision':>9}")
    total_red = total_right = 0
    per_mutant = []
    for name, (kind, api, also) in truth.items():
        out = reports / name
        if not (out / "results.json").is_file():
            run(f"module:{name}", out, "--backend-path", str(folder))
        res = json.loads((out / "results.json").read_text())
        red, right = precision(res, {api, *also})
        total_red, total_right = total_red + len(red), total_right + len(right)
        share = len(right) / len(red) if red else None
        if share is not None:
            per_mutant.append(share)
        errors = sum(1 for r in res["cases"] if r["raw_outcome"] == "ERROR")
        print(f"{name:34} {kind[:26]:26} {api:26} {len(red):5} {len(right):5} "
              f"{'not caught' if share is None else f'{share:.1%}':>9}" + (f"  ({errors} ERROR)" if errors else ""))
        wrong = Counter((r.get("cause") or {}).get("api", "-") for r in red if r not in right)
        for cause, n in wrong.most_common(show_wrong):
            print(f"{'':36}{n:4} blamed on {cause}")
    caught = len(per_mutant)
    print(f"overall: {total_right}/{total_red} red rows name the deviating API = "
          f"{total_right / max(1, total_red):.1%}; mutants caught {caught}/{len(truth)}; "
          f"mutants at >= 90%: {sum(1 for s in per_mutant if s >= 0.9)}/{caught}")


def results(path: str) -> None:
    data = json.loads(Path(path).read_text())
    cases = data["cases"]
    env = data["run"].get("target_env") or {}
    print(f"{data['run']['target']} {env.get('version')} ({env.get('file')}); loading path: "
          f"{(data['run'].get('loading_path') or {}).get('path')}")
    print("raw outcomes:", dict(Counter(r["raw_outcome"] for r in cases).most_common()))
    failing = [r for r in cases if r.get("cause")]
    print(f"rows whose cause.api is not the row's api: {sum(1 for r in failing if r['cause']['api'] != r['api'])} "
          f"of {len(failing)} non-PASS rows")
    print("root causes by rows they block or fail (outcome, api, phase):")
    for (o, api, phase), n in Counter((r["raw_outcome"], r["cause"]["api"], r["cause"]["phase"])
                                      for r in failing).most_common(25):
        print(f"  {n:4}  {o:8} {api} ({phase})")
    around = [r for r in cases if r.get("reached_around")]
    print(f"rows reached around a blocker: {len(around)}; of them not PASS: "
          f"{sum(1 for r in around if r['raw_outcome'] != 'PASS')}")
    for (o, api), n in Counter((r["raw_outcome"], (r.get("cause") or {}).get("api", "-")) for r in around).most_common(8):
        print(f"  {n:4}  {o:8} {api}")


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("mutants")
    r = sub.add_parser("results")
    r.add_argument("path")
    u = sub.add_parser("unseen")
    u.add_argument("--truth", type=Path, default=REPO / "tests" / "mutants" / "unseen" / "truth.py")
    u.add_argument("--reports", type=Path, required=True, help="where each mutant's run is (or goes): DIR/<mutant>/")
    u.add_argument("--show-wrong", type=int, default=3, help="per mutant, the N most blamed wrong causes")
    args = ap.parse_args()
    if args.what == "unseen":
        unseen(args.truth, args.reports, args.show_wrong)
    else:
        mutants() if args.what == "mutants" else results(args.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
