"""The tries of issues 14 and 20, run against one checkout of the kit: exit code, message, what was kept.

Not a test (tests/test_hostile.py is): it prints one table row per try, so the same tries can be run
against the code before and after a change:

    python benchmarks/reliability_tries.py --kit /path/to/checkout --work /tmp/tries-before
    python benchmarks/reliability_tries.py --kit . --work /tmp/tries-after
    python benchmarks/reliability_tries.py --kit . --work /tmp/tries-20 --round 20   # issue 20's, items 2-5

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


def _timed_run(k: Kit, *args: str, env: dict | None = None, timeout: float = 900) -> tuple[subprocess.CompletedProcess, float, int]:
    """A run of the kit; (process, wall seconds, the runner's peak RSS in MB: GNU time's maximum resident set)."""
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", *k.cmd(*args, "--oracle-cache", str(k.cache))],
                       cwd=k.work, env=env or k.env(), capture_output=True, text=True, timeout=timeout)
    took = time.monotonic() - start
    rss = [int(l.split("=")[1]) for l in p.stderr.splitlines() if l.startswith("maxrss_kb=")]
    return p, took, (rss[-1] // 1024 if rss else -1)


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB" if path.is_file() else "absent"


def tries_20(k: Kit):
    """Issue 20's tries of items 2 to 5 (the sandbox's are tests/test_sandbox*.py)."""
    w = k.work
    uses_torch = ["--target-uses-torch"] if "--target-uses-torch" in k.run("run", "--help", cache=False).stdout else []
    int8 = ["-k", "frombuffer and int8"]

    def hostile(do: str, *extra: str, mb: str = "64", name: str | None = None):
        d = w / f"h-{name or do}"
        shutil.rmtree(d, ignore_errors=True)
        p, took, rss = _timed_run(k, "run", "--target", "module:hostile_answers", *uses_torch, "--report-dir", str(d),
                                  *extra, env=k.env(HOSTILE_DO=do, HOSTILE_MB=mb))
        got = {}
        if (d / "results.json").is_file():
            got = json.loads((d / "results.json").read_text())["run"].get("counts", {})
        return p.returncode, last_words(p), f"{took:.1f} s, runner peak {rss} MB, results.json " \
                                            f"{_size(d / 'results.json')}, {got}"

    # -- 4: bounded answers ----------------------------------------------------------------------------
    yield ("64 MB answer, --case-timeout 5", *hostile("biganswer", *int8, "--case-timeout", "5"))
    yield ("1 GiB frame header, pipe kept full", *hostile("bigheader", *int8, "--case-timeout", "5"))
    yield ("display nested 5000 deep", *hostile("deep", *int8))
    yield ("400 MB on stderr, then a crash", *hostile("bigout", "-k", "frombuffer and int8 and ordinary", mb="400"))
    yield ("a target patching hashlib", *hostile("patch_hashlib", *int8))
    yield ("a target patching json", *hostile("patch_json", *int8))
    yield ("/dev/null over the reply fd", *hostile("replyfd", *int8))

    # -- 3: runner deaths -------------------------------------------------------------------------------
    d, tmp = w / "sigkill", w / "tmp-sigkill"
    for x in (d, tmp):
        shutil.rmtree(x, ignore_errors=True)
    tmp.mkdir()
    k.run("run", "--target", "pyborch", "--report-dir", str(d), "-k", "rust_version")
    mark = str(88000 + os.getpid() % 1000)
    proc = subprocess.Popen(k.cmd("run", "--target", "module:hostile_children", *uses_torch, "--report-dir", str(d),
                                  "--case-timeout", "600", "-k", "rust_from_file and nbytes-smaller", "--oracle-cache",
                                  str(k.cache)), cwd=w, env=k.env(TMPDIR=str(tmp), HOSTILE_SLEEP=mark),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 300

    def sleepers() -> list[str]:
        ps = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True).stdout
        return [l.split()[0] for l in ps.splitlines() if f"sleep {mark}" in l and " Z" not in l[:12]]
    while len(sleepers()) < 3 and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    time.sleep(5)
    left, folders = sleepers(), [x.name for x in tmp.iterdir() if x.name.startswith("conformance-")]
    yield ("SIGKILL of the runner during a hang", proc.returncode, f"{len(left)} sleep processes left",
           f"{len(folders)} conformance-* folders; INCOMPLETE marker: {(d / 'INCOMPLETE').is_file()}; {files(d)}")
    for pid in left:
        os.kill(int(pid), signal.SIGKILL)
    d = w / "ctrl-c-twice"
    shutil.rmtree(d, ignore_errors=True)
    proc = subprocess.Popen(k.cmd("run", "--target", "module:mutant_empty_float32_hang", *uses_torch, "--report-dir",
                                  str(d), "--case-timeout", "600", "--oracle-cache", str(k.cache)),
                            cwd=w, env=k.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    jl = d / "results.jsonl"
    end = time.monotonic() + 600
    while not (jl.is_file() and jl.read_text().count("\n") >= 3) and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=300)
    run = json.loads((d / "results.json").read_text())["run"] if (d / "results.json").is_file() else {}
    lost = sum(1 for c in json.loads((d / "results.json").read_text())["cases"]
               if "lost this case" in (c.get("summary") or "")) if run else -1
    yield ("Ctrl-C twice", proc.returncode, f"{out.count('Traceback')} tracebacks",
           f"interrupted {run.get('interrupted')}, {run.get('cases_run')} run, {len(run.get('not_run', []))} not run, "
           f"{lost} lost")

    # -- 2: writes ----------------------------------------------------------------------------------------
    d = w / "planted"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    victim = w / "victim.txt"
    victim.write_text("precious")
    proc = subprocess.Popen(k.cmd("run", "--target", "module:mutant_empty_float32_hang", *uses_torch, "--report-dir",
                                  str(d), "--case-timeout", "3", "-k", "empty_zero_size and float32", "--oracle-cache",
                                  str(k.cache)), cwd=w, env=k.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    for name in (f".results.json.{proc.pid}.tmp", f".index.html.{proc.pid}.tmp", "results.jsonl"):
        try:
            (d / name).symlink_to(victim)
        except FileExistsError:
            pass
    proc.communicate(timeout=600)
    yield ("tmp files and results.jsonl planted as symlinks", proc.returncode,
           f"victim {'intact' if victim.read_text() == 'precious' else 'OVERWRITTEN'}", files(d))

    # -- 5: crafted inputs --------------------------------------------------------------------------------
    src = w / "rec-ok"
    script = w / "my script.py"
    script.write_text("import torch\nx = torch.ones(3, 4)\ny = (x + 1).sum(0)\n")
    shutil.rmtree(src, ignore_errors=True)
    p = k.run("trace", "--out", str(src), "--", "python", str(script), cache=False)
    yield "trace -- python 'my script.py'", p.returncode, last_words(p), ""
    if (src / "trace.json").is_file():
        data = json.loads((src / "trace.json").read_text())
        blob = next(a["blob"] for c in data["calls"] for a in [*c["args"], c.get("out", {})]
                    if isinstance(a, dict) and a.get("k") == "tensor")
        for label, change in (("not JSON", None), ("keys missing", {"calls": None}),
                              ("blob ../", "../../etc/passwd"), ("blob /dev/zero", "devzero")):
            bad = w / f"rec-{label.replace(' ', '_').replace('/', '_')}"
            shutil.rmtree(bad, ignore_errors=True)
            shutil.copytree(src, bad)
            if change is None:
                (bad / "trace.json").write_text("{not json")
            elif isinstance(change, dict):
                (bad / "trace.json").write_text(json.dumps({**data, **change}))
            elif change == "devzero":
                (bad / "blobs" / f"{blob}.bin").unlink()
                (bad / "blobs" / f"{blob}.bin").symlink_to("/dev/zero")
            else:
                (bad / "trace.json").write_text(json.dumps(data).replace(blob, change))
            p = k.run("run", "--target", "torch", "--replay", str(bad), "-k", "script")
            yield f"--replay with {label}", p.returncode, last_words(p), ""
        rd = w / "replay-run"
        shutil.rmtree(rd, ignore_errors=True)
        k.run("run", "--target", "pyborch", "--replay", str(src), "--report-dir", str(rd), "-k", "script")
        exp = w / "exp-script.txt"
        exp.write_text("")
        p = k.run("expectations", "--results", str(rd / "results.json"), "--file", str(exp), "--accept-new", cache=False)
        again = k.run("run", "--target", "pyborch", "--replay", str(src), "--expectations", str(exp), "-k", "script")
        yield "expectations --accept-new, then a run with that file", again.returncode, last_words(again), \
            f"accept-new exit {p.returncode}"
    for label, damage in (("bad outcome", "outcome"), ("no id", "id")):
        good = w / "ctrl-c-twice" / "results.json"
        if not good.is_file():
            break
        data = json.loads(good.read_text())
        if damage == "outcome":
            data["cases"][0]["outcome"] = "BOGUS"
        else:
            del data["cases"][0]["id"]
        bad = w / f"bad-{damage}" / "results.json"
        bad.parent.mkdir(exist_ok=True)
        bad.write_text(json.dumps(data))
        p = k.run("report", "--results", str(bad), cache=False)
        yield f"report of results.json with {label}", p.returncode, last_words(p), ""
        p = k.run("compare", str(good), str(bad), cache=False)
        yield f"compare with results.json with {label}", p.returncode, last_words(p), ""
    exp = w / "exp-million.txt"
    with open(exp, "w") as f:
        for i in range(1_000_000):
            f.write(f"no_such_case_{i}[x]  FAIL  stale entry {i}\n")
    d = w / "million"
    shutil.rmtree(d, ignore_errors=True)
    p, took, rss = _timed_run(k, "run", "--target", "pyborch", "--expectations", str(exp), "--report-dir", str(d),
                              "-k", "frombuffer and int8")
    gate = sum(1 for l in p.stdout.splitlines() if l.startswith("GATE:"))
    yield ("1,000,000 stale expectation lines", p.returncode, f"{gate} GATE lines, stdout {len(p.stdout) / 1e6:.1f} MB",
           f"{took:.0f} s, peak {rss} MB; results.json {_size(d / 'results.json')}, junit.xml {_size(d / 'junit.xml')}, "
           f"index.html {_size(d / 'index.html')}")
    exp = w / "exp-long-reason.txt"
    exp.write_text("frombuffer[*  FAIL,MISSING,BLOCKED  " + "r" * (2 << 20) + "\n")
    d = w / "long-reason"
    shutil.rmtree(d, ignore_errors=True)
    p = k.run("run", "--target", "pyborch", "--expectations", str(exp), "--report-dir", str(d), "-k", "frombuffer")
    yield ("one 2 MB reason on a prefix entry", p.returncode, last_words(p),
           f"results.json {_size(d / 'results.json')}, junit.xml {_size(d / 'junit.xml')}, "
           f"index.html {_size(d / 'index.html')}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kit", required=True, help="the checkout whose conformance package runs")
    ap.add_argument("--work", required=True, help="a scratch folder (made)")
    ap.add_argument("--round", choices=("14", "20", "all"), default="all",
                    help="the tries of issue 14, of issue 20 (items 2 to 5), or both (default)")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    k = Kit(Path(args.kit).resolve(), work)
    rows = []
    chosen = {"14": [tries], "20": [tries_20], "all": [tries, tries_20]}[args.round]
    for name, code, message, kept in (t for gen in chosen for t in gen(k)):
        row = {"try": name, "exit": code, "message": message, "kept": kept}
        rows.append(row)
        print(json.dumps(row), flush=True)
    (work / "tries.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
