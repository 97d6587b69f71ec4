"""PyTorch's answers to the checklist snippets, kept in the run's oracle cache (conformance/snippet_check.py,
OracleCache.snippets_path): a snippet PyTorch answered before, in the same oracle environment, does not run
under PyTorch again; the target side always runs. Both sides here are the real driver in real processes,
with an empty ``torch`` package on their path and the side's name in $SIDE (the unit tests run without torch).
"""
from __future__ import annotations

import json
import os
import sys

import pytest

from conformance import snippet_check as sc
from conformance.oracle_cache import OracleCache
from conformance.render.snippets import Snippet

WORDS = ["python", "-m", "conformance", "exec", "--target", "t"]
KEY = {"torch": "2.13.0", "safetensors": "0.7.0", "numpy": "2.3", "python": "3.11.7", "catalog": "c"}

DIFFERS = Snippet('import os\nprint("values", os.environ["SIDE"])\nprint("shape", (2,))\n', ("values",), "a")
SAME = Snippet('print("stride", (1,))\n', ("stride",), "b")
EXITS = Snippet("import sys\nsys.exit(3)\n", ("raises",), "c")
KILLED = Snippet("import os\nos.kill(os.getpid(), 9)\n", ("raises",), "d")


def snippets(*ss: Snippet) -> dict[str, Snippet]:
    return {sc.digest(s.code): s for s in ss}


@pytest.fixture
def sides(monkeypatch, tmp_path):
    """The sides each check() started, in order, with the codes each was handed."""
    fake = tmp_path / "faketorch"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("")
    started: list[tuple[str, list[str]]] = []
    real_start = sc._start

    def start(argv, cwd, env):
        side = "target" if "exec" in argv else "torch"
        with open(argv[-1], encoding="utf-8") as f:
            started.append((side, json.load(f)))
        return real_start([sys.executable, "-m", "conformance.snippet_check", argv[-1]], cwd,
                          {**env, "PYTHONPATH": os.pathsep.join([str(fake), env["PYTHONPATH"]]), "SIDE": side})

    monkeypatch.setattr(sc, "_start", start)
    return started


def test_a_second_check_of_the_same_snippets_starts_no_pytorch_process(sides, tmp_path):
    cache = OracleCache(tmp_path / "oracle", KEY)
    codes = snippets(DIFFERS, SAME, EXITS)
    first = sc.check(codes, WORDS, cache)
    assert [s for s, _ in sides] == ["torch", "target"] and first["oracle_cached"] == 0
    assert first["checked"][sc.digest(DIFFERS.code)]["reproduces"], first
    assert not first["checked"][sc.digest(SAME.code)]["reproduces"]
    sides.clear()
    second = sc.check(codes, WORDS, OracleCache(tmp_path / "oracle", KEY))     # another run, the same oracle
    assert [s for s, _ in sides] == ["target"], "every PyTorch answer was cached: no PyTorch process"
    assert second["oracle_cached"] == 3 and second["checked"] == first["checked"], "the cached answers judge alike"
    assert not cache.warnings


def test_only_the_snippets_without_a_cached_answer_run_under_pytorch(sides, tmp_path):
    cache = OracleCache(tmp_path / "oracle", KEY)
    sc.check(snippets(DIFFERS), WORDS, cache)
    sides.clear()
    out = sc.check(snippets(DIFFERS, SAME), WORDS, cache)
    assert sides == [("torch", [SAME.code]), ("target", [DIFFERS.code, SAME.code])]
    assert out["oracle_cached"] == 1 and set(out["checked"]) == set(snippets(DIFFERS, SAME))


def test_a_killed_snippet_is_not_cached_an_exit_code_is(sides, tmp_path):
    cache = OracleCache(tmp_path / "oracle", KEY)
    first = sc.check(snippets(EXITS, KILLED), WORDS, cache)
    assert first["checked"][sc.digest(KILLED.code)]["why"] == "it failed under PyTorch: exit status -9"
    assert first["checked"][sc.digest(EXITS.code)]["why"] == "it failed under PyTorch: exit status 3"
    sides.clear()
    assert sc.check(snippets(EXITS, KILLED), WORDS, cache)["oracle_cached"] == 1
    assert sides[0] == ("torch", [KILLED.code]), "the killed snippet runs under PyTorch again"


def test_a_timeout_or_a_signal_is_not_cacheable():
    assert sc.cacheable({"rc": 0, "out": "", "err": ""}) and sc.cacheable({"rc": 1, "out": "", "err": "E"})
    assert not sc.cacheable({"rc": f"timeout after {sc.SNIPPET_SECONDS} s", "out": "", "err": ""})
    assert not sc.cacheable({"rc": -9, "out": "", "err": ""}) and not sc.cacheable({"rc": True, "out": "", "err": ""})
    assert not sc.cacheable({"rc": 0, "out": None, "err": ""}) and not sc.cacheable(None)


def test_another_oracle_key_does_not_reuse_the_answers(sides, tmp_path):
    sc.check(snippets(DIFFERS), WORDS, OracleCache(tmp_path / "oracle", KEY))
    sides.clear()
    other = sc.check(snippets(DIFFERS), WORDS, OracleCache(tmp_path / "oracle", {**KEY, "torch": "2.12.0"}))
    assert [s for s, _ in sides] == ["torch", "target"] and other["oracle_cached"] == 0


def test_a_corrupt_answer_file_is_ignored_with_a_warning_and_replaced(sides, tmp_path):
    cache = OracleCache(tmp_path / "oracle", KEY)
    cache.dir.mkdir(parents=True)
    cache.snippets_path.write_text('{"driver": "x", "answers": {')
    out = sc.check(snippets(DIFFERS), WORDS, cache)
    assert out["oracle_cached"] == 0 and out["checked"][sc.digest(DIFFERS.code)]["reproduces"]
    assert len(cache.warnings) == 1 and "cannot be read" in cache.warnings[0], cache.warnings
    saved = OracleCache(tmp_path / "oracle", KEY).load_snippet_answers(sc.driver_version())
    assert saved.keys() == snippets(DIFFERS).keys(), "the bad file was replaced by this run's answers"


def test_an_answer_changed_after_it_was_written_runs_again(sides, tmp_path):
    cache = OracleCache(tmp_path / "oracle", KEY)
    sc.check(snippets(DIFFERS, SAME), WORDS, cache)
    data = json.loads(cache.snippets_path.read_text())
    # the checksum is left as it was
    data["answers"][sc.digest(DIFFERS.code)]["answer"]["out"] = "values target\nshape (2,)\n"
    cache.snippets_path.write_text(json.dumps(data))
    sides.clear()
    again = OracleCache(tmp_path / "oracle", KEY)
    out = sc.check(snippets(DIFFERS, SAME), WORDS, again)
    assert sides[0] == ("torch", [DIFFERS.code]) and out["checked"][sc.digest(DIFFERS.code)]["reproduces"]
    assert "1 answer(s) that do not match their checksum" in again.warnings[0]


def test_answers_of_another_driver_are_not_used(tmp_path):
    cache = OracleCache(tmp_path / "oracle", KEY)
    cache.save_snippet_answers("an edited driver", {"k": {"rc": 0, "out": "", "err": ""}})
    assert cache.load_snippet_answers(sc.driver_version()) == {} and not cache.warnings
    assert cache.load_snippet_answers("an edited driver") == {"k": {"rc": 0, "out": "", "err": ""}}


def test_runs_side_by_side_keep_each_others_answers(tmp_path):
    one, two = OracleCache(tmp_path / "oracle", KEY), OracleCache(tmp_path / "oracle", KEY)
    one.save_snippet_answers(sc.driver_version(), {"a": {"rc": 0, "out": "x", "err": ""}})
    two.save_snippet_answers(sc.driver_version(), {"b": {"rc": 1, "out": "", "err": "E"}})
    assert one.load_snippet_answers(sc.driver_version()) == {"a": {"rc": 0, "out": "x", "err": ""},
                                                    "b": {"rc": 1, "out": "", "err": "E"}}


def test_a_cache_it_cannot_write_keeps_the_verdicts_and_says_so(sides, tmp_path):
    cache = OracleCache(tmp_path / "oracle", KEY)
    cache.dir.mkdir(parents=True)
    cache.lock_path.symlink_to(tmp_path / "elsewhere")
    out = sc.check(snippets(DIFFERS), WORDS, cache)
    assert out["checked"][sc.digest(DIFFERS.code)]["reproduces"]
    assert "not cached" in cache.warnings[0] and not (tmp_path / "elsewhere").exists()


def test_without_a_cache_both_sides_run_every_time(sides):
    for _ in range(2):
        assert sc.check(snippets(SAME), WORDS, None)["oracle_cached"] == 0
    assert [s for s, _ in sides] == ["torch", "target"] * 2
