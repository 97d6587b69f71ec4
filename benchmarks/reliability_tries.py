"""The tries of issue 14, run against one checkout of the kit: exit code, message, what was kept.

Not a test (tests/test_hostile.py is): it prints one table row per try, so the same tries can be run
against the code before and after a change:

    python benchmarks/reliability_tries.py --kit /path/to/checkout --work /tmp/tries-before
    python benchmarks/reliability_tries.py --kit . --work /tmp/tries-after

The hostile targets come from this checkout's tests/hostile/; the oracle is recorded once into
WORK/cache. Read-only and full file systems need `unshare -rm` (skipped without it).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
HOSTILE = HERE / "tests" / "hostile"


class Kit:
    def __init__(self, root: Path, work: Path):
        self.root, self.work = root, work
        self.cache = work / "cache"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CONFORMANCE_"))}
        env["PYTHONPATH"] = os.pathsep.join([str(self.root), str(HOSTILE), str(self.root / "tests" / "mutants")])
        env.update(extra)
        return env

    def cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "conformance", *args]

    def run(self, *args: str, cache: bool = True, env: dict | None = None, cwd: Path | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess:
        extra = ["--oracle-cache", str(self.cache)] if cache else []
        return subprocess.run(self.cmd(*args, *extra), cwd=cwd or self.work, env=env or self.env(),
                              capture_output=True, text=True, timeout=timeout)


def last_words(p: subprocess.CompletedProcess) -> str:
    """The line a user reads: an error line, else a GATE line, else the last line."""
    lines = [l.strip() for l in (p.stdout + "\n" + p.stderr).splitlines() if l.strip()]
    for key in ("INTERNALERROR> E ", "INTERNALERROR", "Traceback", "error:", "ERROR:", "GATE:", "wrote "):
        hit = [l for l in lines if l.startswith(key) or key in l]
        if hit:
            return hit[-1 if key != "Traceback" else 0][:150]
    return (lines[-1] if lines else "")[:150]


def files(d: Path) -> str:
    if not d.is_dir():
        return "no folder"
    names = sorted(p.name for p in d.iterdir() if not p.name.startswith(".conformance"))
    return ", ".join(names) or "nothing"


def entries(path: Path) -> int:
    return sum(1 for l in path.read_text(errors="replace").splitlines() if l.strip() and not l.startswith("#"))


def tries(k: Kit):
    w = k.work
    exp_src = k.root / "backends" / "pyborch" / "expectations.txt"

    # -- 1: expectations rewrite -------------------------------------------------------------------
    full = w / "pyborch-full"
    k.run("run", "--target", "pyborch", "--expectations", str(exp_src), "--report-dir", str(full))
    part = w / "pyborch-k"
    k.run("run", "--target", "pyborch", "--expectations", str(exp_src), "--report-dir", str(part), "-k", "frombuffer")
    for name, results in (("rewrite from a -k run", part / "results.json"),):
        f = w / "exp-k.txt"
        shutil.copy(exp_src, f)
        p = k.run("expectations", "--results", str(results), "--file", str(f), cache=False)
        yield name, p.returncode, last_words(p), f"{entries(exp_src)} -> {entries(f)} entries"
    nothing = w / "pyborch-nothing"
    p = k.run("run", "--target", "pyborch", "--report-dir", str(nothing), "-k", "no_such_case_xyz")
    yield "-k selecting nothing", p.returncode, last_words(p), files(nothing)
    f = w / "exp-0.txt"
    shutil.copy(exp_src, f)
    p = k.run("expectations", "--results", str(nothing / "results.json"), "--file", str(f), cache=False)
    yield "rewrite from a run with no cases", p.returncode, last_words(p), f"{entries(exp_src)} -> {entries(f)} entries"

    # -- 2: every ending --------------------------------------------------------------------------
    for sig in (signal.SIGTERM, signal.SIGHUP):
        d = w / f"term-{sig.name}"
        proc = subprocess.Popen(k.cmd("run", "--target", "module:mutant_empty_float32_hang", "--report-dir", str(d),
                                      "--case-timeout", "600", "-k", "empty_zero_size", "--oracle-cache", str(k.cache)),
                                cwd=w, env=k.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        jl = d / "results.jsonl"
        end = time.monotonic() + 300
        while not (jl.is_file() and jl.read_text().count("\n")) and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.2)
        time.sleep(0.5)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
        yield (f"{sig.name} during a run", proc.returncode,
               last_words(subprocess.CompletedProcess([], proc.returncode, out, "")), files(d))
        if sig == signal.SIGTERM:
            shutil.copy(exp_src, w / "exp-int.txt")
            p = k.run("expectations", "--results", str(d / "results.jsonl"), "--file", str(w / "exp-int.txt"),
                      cache=False)
            yield ("rewrite from that interrupted run", p.returncode, last_words(p),
                   f"{entries(exp_src)} -> {entries(w / 'exp-int.txt')} entries")
    cut = w / "cut"
    cut.mkdir(exist_ok=True)
    text = (full / "results.jsonl").read_text()
    (cut / "results.jsonl").write_text(text[:len(text) - 200])
    p = k.run("report", "--results", str(cut / "results.jsonl"), cache=False)
    yield "report of a jsonl with a cut last line", p.returncode, last_words(p), files(cut)
    d = w / "strings"
    p = k.run("run", "--target", "module:hostile_strings", "--report-dir", str(d), "-k", "frombuffer")
    yield "target message with lone surrogates", p.returncode, last_words(p), files(d)

    # -- 3: one report dir, one cache ------------------------------------------------------------------
    d = w / "twice"
    args = ("run", "--target", "pyborch", "--report-dir", str(d), "--oracle-cache", str(k.cache))
    a = subprocess.Popen(k.cmd(*args), cwd=w, env=k.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.3)
    b = subprocess.run(k.cmd(*args), cwd=w, env=k.env(), capture_output=True, text=True, timeout=600)
    a.communicate(timeout=600)
    bad = 0
    for line in (d / "results.jsonl").read_text().splitlines():
        try:
            json.loads(line)
        except ValueError:
            bad += 1
    yield ("two runs into one report dir", b.returncode, last_words(b),
           f"results.jsonl: {len((d / 'results.jsonl').read_text().splitlines())} lines, {bad} corrupt")
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from conformance.oracle_cache import OracleCache
        c = OracleCache(Path({str(w / 'concurrent')!r}), {{"torch": "t", "safetensors": "s"}})
        for i in range(80):
            c.append(f"{{sys.argv[1]}}[{{i}}]", {{"value": "x" * (150000 * (i % 8))}})
        """)
    shutil.rmtree(w / "concurrent", ignore_errors=True)
    procs = [subprocess.Popen([sys.executable, "-c", script, n], env=k.env()) for n in "abc"]
    codes = [p.wait() for p in procs]
    probe = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                            "from conformance.oracle_cache import OracleCache; "
                            f"print(len(OracleCache(Path({str(w / 'concurrent')!r}), "
                            "{'torch': 't', 'safetensors': 's'}).load()[0]))"],
                           env=k.env(), capture_output=True, text=True)
    yield ("3 processes appending 80 records (up to 1 MB) each to one cache", max(codes),
           (probe.stdout.strip() or probe.stderr.strip().splitlines()[-1]) + " of 240 records read back", "")
    shutil.rmtree(w / "concurrent", ignore_errors=True)

    # -- 4: nothing left behind ----------------------------------------------------------------------------
    tmp = w / "tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    mark = str(86000 + os.getpid() % 1000)
    p = k.run("run", "--target", "module:hostile_children", "--report-dir", str(w / "children"), "--case-timeout", "5",
              "-k", "rust_from_file and nbytes", env=k.env(TMPDIR=str(tmp), HOSTILE_SLEEP=mark))
    time.sleep(1)
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    left = [l.split()[0] for l in ps.splitlines() if f"sleep {mark}" in l]
    folders = [x.name for x in tmp.iterdir() if x.name.startswith("conformance-")]
    yield ("target leaving children (return, crash, hang)", p.returncode, last_words(p),
           f"{len(left)} sleep processes left, {len(folders)} conformance-* folders in TMPDIR")
    for pid in left:           # the before-code leaves them: clean up after ourselves
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    shutil.rmtree(tmp, ignore_errors=True)

    # -- 5: the kit's own state -------------------------------------------------------------------------
    flipped = w / "cache-flipped"
    shutil.rmtree(flipped, ignore_errors=True)
    shutil.copytree(k.cache, flipped)
    for rec_file in flipped.glob("*/records.jsonl"):        # one folder per cache key seen
        lines = rec_file.read_text().splitlines()
        n = next((i for i, l in enumerate(lines) if '"case": "frombuffer[int8-ordinary]"' in l), None)
        if n is not None:
            lines[n] = lines[n].replace('"bytes": "', '"bytes": "f', 1)
            rec_file.write_text("\n".join(lines) + "\n")
    p = subprocess.run(k.cmd("run", "--target", "torch", "--report-dir", str(w / "flipped"), "-k", "frombuffer and int8",
                             "--oracle-cache", str(flipped)), cwd=w, env=k.env(), capture_output=True, text=True)
    outcome = {c["id"]: c["outcome"] for c in json.loads((w / "flipped" / "results.json").read_text())["cases"]}
    warned = "checksum" in p.stdout + p.stderr
    yield ("a flipped byte in an oracle cache record", p.returncode, last_words(p),
           f"frombuffer[int8-ordinary] {outcome.get('frombuffer[int8-ordinary]')}; warning: {warned}")
    for value in ("0", "-5", "nan"):
        p = k.run("run", "--target", "pyborch", "--case-timeout", value, "-k", "frombuffer and int8")
        yield f"--case-timeout {value}", p.returncode, last_words(p), ""

    # -- 6: the channel --------------------------------------------------------------------------------
    d = w / "channel"
    p = k.run("run", "--target", "module:hostile_channel", "--report-dir", str(d), "-k", "frombuffer")
    got = ""
    if (d / "results.json").is_file():
        r = json.loads((d / "results.json").read_text())
        junit = (d / "junit.xml").read_text() if (d / "junit.xml").is_file() else ""
        tag = junit[junit.find("<testsuite "):][:200].split(">")[0]
        got = f"{r['run']['cases_run']} records {r['run']['counts']}; junit {' '.join(tag.split()[-5:-1])}"
    yield "target writing into every open fd", p.returncode, last_words(p), got

    # -- 7: user mistakes -------------------------------------------------------------------------------
    for label, data in (("Latin-1", "frombuffer[*  MISSING  caf\u00e9\n".encode("latin-1")),
                        ("UTF-16", "frombuffer[*  MISSING  x\n".encode("utf-16")),
                        ("UTF-8 BOM", "\ufefffrombuffer[*  MISSING  x\n".encode("utf-8"))):
        f = w / f"exp-{label}.txt"
        f.write_bytes(data)
        p = k.run("run", "--target", "pyborch", "--expectations", str(f), "-k", "frombuffer and int8")
        yield f"expectations file in {label}", p.returncode, last_words(p), ""
    f = w / "a-file"
    f.write_text("x")
    p = k.run("run", "--target", "pyborch", "--report-dir", str(f), "-k", "frombuffer and int8")
    yield "--report-dir is a file", p.returncode, last_words(p), ""
    p = k.run("run", "--target", "pyborch", "-k", "frombuffer and int8", "--oracle-cache", str(f), cache=False)
    yield "--oracle-cache is a file", p.returncode, last_words(p), ""
    if shutil.which("unshare") and subprocess.run(["unshare", "-rm", "true"]).returncode == 0:
        ro = w / "ro"
        ro.mkdir(exist_ok=True)
        for label, setup, args in (
                ("read-only --report-dir", f"mount -t tmpfs tmpfs {ro} && mount -o remount,ro {ro}",
                 ["--report-dir", str(ro / "r"), "--oracle-cache", str(k.cache)]),
                ("read-only empty --oracle-cache", f"mount -t tmpfs tmpfs {ro} && mount -o remount,ro {ro}",
                 ["--oracle-cache", str(ro)]),
                ("full disk under --report-dir", f"mount -t tmpfs -o size=64k tmpfs {ro}",
                 ["--report-dir", str(ro), "--oracle-cache", str(k.cache)])):
            cmd = " ".join(["exec", *k.cmd("run", "--target", "pyborch", *args)])
            listing = f"; echo; ls -a {ro}" if "full" in label else ""
            p = subprocess.run(["unshare", "-rm", "sh", "-c", f"set -e; {setup}; {cmd}{listing}"],
                               cwd=w, env=k.env(), capture_output=True, text=True)
            p2 = subprocess.run(["unshare", "-rm", "sh", "-c", f"{setup}; {cmd} >/dev/null 2>&1; ls -s {ro}"],
                                cwd=w, env=k.env(), capture_output=True, text=True) if "full" in label else None
            yield label, p.returncode, last_words(p), (" ".join(p2.stdout.split()) if p2 else "")
    elsewhere = w / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    p = k.run("run", "--target", "mindtorch_v2", "-k", "frombuffer and int8", cwd=elsewhere,
              env=k.env(MINDTORCH_V2_SRC="rel/src", CONFORMANCE_CALLER_DIR=str(w)))
    yield "relative MINDTORCH_V2_SRC (caller dir != cwd)", p.returncode, last_words(p), ""

    # -- 8: a target that cannot start ---------------------------------------------------------------
    d = w / "nostart"
    p = k.run("run", "--target", "module:hostile_nostart", "--report-dir", str(d))
    got = ""
    if (d / "results.json").is_file():
        r = json.loads((d / "results.json").read_text())
        junit = (d / "junit.xml").read_text()
        tag = junit[junit.find("<testsuite "):].split(">")[0]
        got = f"gate_problems: {len(r['run']['gate_problems'])}; junit {' '.join(tag.split()[-5:-1])}"
    yield "target that cannot start", p.returncode, last_words(p), got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kit", required=True, help="the checkout whose conformance package runs")
    ap.add_argument("--work", required=True, help="a scratch folder (made)")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    k = Kit(Path(args.kit).resolve(), work)
    rows = []
    for name, code, message, kept in tries(k):
        row = {"try": name, "exit": code, "message": message, "kept": kept}
        rows.append(row)
        print(json.dumps(row), flush=True)
    (work / "tries.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
