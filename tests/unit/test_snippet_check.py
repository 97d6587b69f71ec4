"""Whether a checklist snippet shows its difference (conformance/sc.py): it reproduces when both sides
ran to the end and differ on exactly the labels it names; the driver runs each snippet as ``python snippet.py``
would, in a child of its own."""
from __future__ import annotations

import json

from conformance import snippet_check as sc


def ran(out: str, rc=0, err="") -> dict:
    return {"rc": rc, "out": out, "err": err}


def test_lines_by_label_and_a_label_printed_twice_keeps_both():
    assert sc.lines("bytes 00 01\nstride (1,)\nbytes ff\nlonely") == {"bytes": "00 01\nff", "stride": "(1,)",
                                                                      "lonely": ""}


def test_it_reproduces_when_exactly_the_named_labels_differ():
    v = sc.verdict(["bytes"], ran("bytes 00\nshape [2]"), ran("bytes 01\nshape [2]"))
    assert v == {"shows": ["bytes"], "differ": ["bytes"], "reproduces": True, "why": ""}


def test_a_named_label_printed_the_same_does_not_reproduce():
    v = sc.verdict(["bytes", "stride"], ran("bytes 00\nstride 1"), ran("bytes 01\nstride 1"))
    assert not v["reproduces"] and v["why"] == "its stride line printed the same under PyTorch and the target"


def test_a_difference_it_does_not_name_does_not_reproduce():
    v = sc.verdict(["bytes"], ran("bytes 00\nshape [2]"), ran("bytes 01\nshape [3]"))
    assert not v["reproduces"] and v["why"] == "it also differs on shape, which it does not name"
    v = sc.verdict(["bytes"], ran("bytes 00"), ran("bytes 01\nextra x"))
    assert v["differ"] == ["bytes", "extra"] and not v["reproduces"], "a label one side never printed differs too"


def test_a_side_that_failed_is_named_with_its_last_line():
    v = sc.verdict(["bytes"], ran("bytes 00"), ran("", rc=1, err="Traceback ...\n  File x\nKeyError:   'a'\n"))
    assert v["why"] == "it failed under the target: KeyError: 'a'" and not v["reproduces"]
    v = sc.verdict(["bytes"], ran("", rc="timeout after 120 s"), ran("bytes 01"))
    assert v["why"] == "it failed under PyTorch: exit status timeout after 120 s"


def test_the_driver_runs_a_snippet_in_a_child_as_python_would(monkeypatch):
    import sys

    # the driver's own process writes to fds 1 and 2 through sys.stdout/sys.stderr (pytest replaces them)
    monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    runs = ["print('bytes', 1 + 1)", "import sys; sys.exit(3)", "raise SystemExit", "print('before'); {}['missing']",
            "import os; os._exit(0)", "assert __name__ == '__main__'", "import time; time.sleep(0.3); print('slow')",
            "import os; open('x', 'w').write('mine'); print('cwd', sorted(os.listdir('.')))"] * 2
    got = sc._run_all(runs)
    seconds = [a.pop("seconds") for a in got]        # each child's own time, from its start to its end
    assert seconds[6] >= 0.3 and seconds[0] < 0.3
    assert len(got) == len(runs) and got[:len(runs) // 2] == got[len(runs) // 2:], "in order, each on its own"
    assert got[0] == {"rc": 0, "out": "bytes 2\n", "err": ""}
    assert got[1]["rc"] == 3
    assert got[2]["rc"] == 0
    assert got[3]["rc"] == 1 and got[3]["out"] == "before\n" and got[3]["err"].rstrip().endswith("KeyError: 'missing'")
    assert got[4]["rc"] == 0
    assert got[5]["rc"] == 0, "run as a script"
    assert got[6]["out"] == "slow\n", "a slow one keeps its place while others end"
    assert got[7]["out"] == "cwd ['x']\n", "each child writes in a folder of its own"


def test_a_snippet_that_hangs_is_killed_at_its_deadline_and_the_others_still_answer(monkeypatch):
    import sys
    import time

    monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    monkeypatch.setattr(sc, "SNIPPET_SECONDS", 0.5)
    start = time.monotonic()
    got = sc._run_all(["import time; time.sleep(60)", "print('fine')", "print('also')"])
    assert got[0]["rc"] == "timeout after 0.5 s" and got[1]["out"] == "fine\n" and got[2]["out"] == "also\n"
    assert time.monotonic() - start < 10


def test_a_snippets_key_is_its_codes_digest():
    assert sc.digest("a") == sc.digest("a") != sc.digest("b") and len(sc.digest("a")) == 16


def test_long_lines_are_bounded_one_by_one_so_a_later_line_is_compared_whole():
    """A `stride` line of another length before a long `values` line: cut as a whole, the outputs were cut
    at other places of the values line, which then looked different although it was the same."""
    values = "values " + "[1.0, 2.0] " * 1000
    torch_side, target_side = sc._kept(f"stride [(8, 1, 8)]\n{values}\n"), sc._kept(f"stride [(768, 96, 1)]\n{values}\n")
    v = sc.verdict(["stride"], ran(torch_side), ran(target_side))
    assert v["differ"] == ["stride"] and v["reproduces"], v
    longer = sc._kept(f"stride [(8, 1, 8)]\n{values}2.0\n")
    assert sc.lines(longer)["values"] != sc.lines(torch_side)["values"], "a difference past the cut still shows"
    assert len(torch_side) < 2 * sc.OUTPUT_CHARS


class _Side:
    """A stand-in for TargetSide: what the run started early, and whether it was closed."""
    def __init__(self, words):
        self.words, self.closed = words, False

    def close(self):
        self.closed = True


def _header(**extra):
    return {"target": "pyborch", "target_env": {"sandbox": {"engine": "bubblewrap 0.8.0"}}, **extra}


def test_the_side_started_early_is_the_one_the_check_uses_and_closes(monkeypatch):
    used = []
    monkeypatch.setattr(sc, "_measure", lambda results, words, cache, wait, target, report: used.append(target))
    early = _Side(sc._words(_header()))
    sc.measure({"run": _header()}, target=early)
    assert used == [early] and early.closed


def test_a_side_started_for_another_command_is_closed_and_a_new_one_started(monkeypatch):
    """The early side's command came from the header as the cases started; the reports' header decides."""
    used = []
    monkeypatch.setattr(sc, "_measure", lambda results, words, cache, wait, target, report: used.append(target))
    monkeypatch.setattr(sc, "TargetSide", _Side)
    early = _Side(sc._words(_header()))
    no_sandbox = {"target": "pyborch", "target_env": {"sandbox": {"engine": None}}}
    sc.measure({"run": no_sandbox}, target=early)
    assert early.closed and len(used) == 1 and used[0] is not early
    assert used[0].words == sc._words(no_sandbox) and used[0].words[-1] == "--no-sandbox"


def test_an_interrupted_run_closes_the_early_side_and_runs_no_snippet(monkeypatch):
    used = []
    monkeypatch.setattr(sc, "_measure", lambda *a: used.append(a))
    early = _Side(sc._words(_header()))
    waited = []
    sc.measure({"run": _header(interrupted=True)}, target=early, while_waiting=lambda: waited.append(1))
    assert early.closed and used == [] and waited == [1]


def test_the_target_runs_the_costliest_snippets_first_and_each_verdict_keeps_its_own_answer(monkeypatch):
    """Two run at once: one that takes PyTorch as long as all the others together goes first, so it ends with
    them. The answers come back in that order; each verdict must be its own snippet's."""
    from conformance.render.snippets import Snippet

    codes = {sc.digest(c): Snippet(c, ("x",), "") for c in ("print('x', 1)", "print('x', 2)", "print('x', 3)")}
    slow = list(codes)[2]
    oracle = {k: {"rc": 0, "out": f"x {i}\n", "err": "", "seconds": 0.9 if k == slow else 0.01}
              for i, k in enumerate(codes, 1)}

    class Cache:
        warnings: list = []

        def load_snippet_answers(self, driver):
            return oracle

    sent = []

    def both_sides(sides, cwd, env, while_waiting=None):
        (_, n, data, _), = sides           # only the target's: PyTorch's answers are all cached
        got = json.loads(data)
        sent.append(got)
        # the target prints what PyTorch does for snippet 1 only, another value for the others
        n = [int(c.split(", ")[1][0]) for c in got]
        return [[{"rc": 0, "out": f"x {i if i == 1 else i + 10}\n", "err": ""} for i in n]]

    monkeypatch.setattr(sc, "_both_sides", both_sides)

    class Target:
        argv, proc, sent = ["python"], None, []

    out = sc.check(codes, ["python", "-m", "conformance", "exec"], Cache(), target=Target())
    assert sent[0][0] == codes[slow].code
    first = list(codes)[0]
    assert not out["checked"][first]["reproduces"]
    assert all(v["reproduces"] and v["differ"] == ["x"] for k, v in out["checked"].items() if k != first)
    assert out["oracle_cached"] == 3


def test_snippets_sent_while_the_cases_ran_answer_first_and_only_the_final_ones_are_judged(monkeypatch):
    """The runner sends the import surface's snippet while its last cases run (TargetSide.send); the final list
    may not hold it (the report changed its mind) or hold it: either way each verdict is its own snippet's."""
    from conformance.render.snippets import Snippet

    codes = {sc.digest(c): Snippet(c, ("x",), "") for c in ("print('x', 1)", "print('x', 2)")}
    early_gone = sc.digest("print('x', 9)")
    oracle = {k: {"rc": 0, "out": f"x {i}\n", "err": ""} for i, k in enumerate(codes, 1)}

    class Cache:
        warnings: list = []

        def load_snippet_answers(self, driver):
            return oracle

    def both_sides(sides, cwd, env, while_waiting=None):
        (_, n, data, _), = sides
        assert data.endswith("\n") and n == 3
        rest = json.loads(data)
        assert rest == ["print('x', 1)"], "what was sent early is not sent again"
        # answers in the order sent: the early ones (9, then 2), then the rest (1); 2 differs from PyTorch
        return [[{"rc": 0, "out": "x 9\n", "err": ""}, {"rc": 0, "out": "x 20\n", "err": ""},
                 {"rc": 0, "out": "x 1\n", "err": ""}]]

    monkeypatch.setattr(sc, "_both_sides", both_sides)

    class Target:
        argv, proc, sent = ["python"], None, [early_gone, list(codes)[1]]

    out = sc.check(codes, ["python", "-m", "conformance", "exec"], Cache(), target=Target())
    assert set(out["checked"]) == set(codes)
    one, two = list(codes)
    assert not out["checked"][one]["reproduces"] and out["checked"][two]["reproduces"]


def test_the_driver_runs_snippets_as_they_arrive_on_its_stdin(monkeypatch):
    """Lines of snippets: the first ones run before the next line is written; a child's stdin is not the pipe."""
    import os
    import sys
    import threading
    import time

    monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    r, w = os.pipe()
    written = []

    def runner():
        os.write(w, (json.dumps(["import time; print('at', time.time())", "import os; print('in', os.read(0, 99))"])
                     + "\n").encode())
        time.sleep(0.5)
        written.append(time.time())
        os.write(w, (json.dumps(["print('late', 1)"]) + "\n" + json.dumps(["print('last', 2)"])).encode())
        os.close(w)

    t = threading.Thread(target=runner)
    saved = os.dup(0)
    os.dup2(r, 0)                # the pipe is the driver's stdin, as in `-m conformance.snippet_check -`
    t.start()
    try:
        got = sc._run_all([], more=sc._Lines(0))
    finally:
        t.join()
        os.dup2(saved, 0)
        os.close(saved)
        os.close(r)
    assert [a["rc"] for a in got] == [0, 0, 0, 0]
    assert float(got[0]["out"].split()[1]) < written[0], "run before the second line came"
    assert got[1]["out"] == "in b''\n" and got[2]["out"] == "late 1\n" and got[3]["out"] == "last 2\n", \
        "a last line without its newline counts too"
