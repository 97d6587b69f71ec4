"""Checks and protections around a run (conformance/guard.py): each check one clear line, one run per report
folder, and SIGTERM/SIGHUP ending a run the way Ctrl-C does without cutting its reports short."""
from __future__ import annotations

import math
import signal

import pytest

from conformance import guard
from conformance.guard import GuardError


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan, "5", None])
def test_a_timeout_must_be_a_positive_finite_number(bad):
    with pytest.raises(GuardError, match=r"--case-timeout must be a positive, finite number of seconds, got "):
        guard.positive_seconds(bad)
    assert guard.positive_seconds(2) == 2.0 and isinstance(guard.positive_seconds(2), float)


def test_a_report_folder_is_made_and_must_be_a_writable_folder(tmp_path):
    made = guard.writable_dir(tmp_path / "a" / "b", "--report-dir")
    assert made.is_dir() and list(made.iterdir()) == [], "the write probe leaves nothing behind"
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(GuardError, match=r"--report-dir .*file is a file, not a folder"):
        guard.writable_dir(f, "--report-dir")
    with pytest.raises(GuardError, match="is a file, not a folder"):
        guard.not_a_file(f, "--report-dir")
    guard.not_a_file(tmp_path / "absent", "--report-dir")


def test_one_run_per_report_folder(tmp_path):
    held = guard.lock_report_dir(tmp_path)
    try:
        with pytest.raises(GuardError, match=r"another run \(pid \d+\) is writing into --report-dir"):
            guard.lock_report_dir(tmp_path)
    finally:
        held.close()
    guard.lock_report_dir(tmp_path).close()       # free again once the holder is gone


def test_a_planted_symlink_lock_is_not_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / guard.LOCK_NAME).symlink_to(victim)
    guard.lock_report_dir(tmp_path).close()
    assert victim.read_text() == "keep" and not (tmp_path / guard.LOCK_NAME).is_symlink()


@pytest.fixture
def signals():
    guard.end_like_ctrl_c()
    yield
    guard.restore_signals()
    guard._on_second.clear()


def test_a_signal_interrupts_like_ctrl_c_and_a_second_one_ends_what_the_first_waits_on(signals):
    killed = []
    guard.on_second_signal(lambda: killed.append(1))
    with pytest.raises(KeyboardInterrupt, match="stopped by SIGTERM"):
        guard._interrupt(signal.SIGTERM, None)
    assert guard.interrupted() and killed == []
    try:
        guard._interrupt(signal.SIGTERM, None)
    except KeyboardInterrupt:
        pytest.fail("a second signal raised into the first one's unwinding")
    assert killed == [1]


def test_while_reports_are_written_a_signal_is_noted_not_raised(signals):
    guard.hold_signals()
    try:
        guard._interrupt(signal.SIGINT, None)
    except KeyboardInterrupt:
        pytest.fail("a signal cut the reports short")
    assert guard.interrupted() and guard._signals["pending"] == "stopped by SIGINT"


def test_the_handlers_are_installed_and_restored():
    before = signal.getsignal(signal.SIGTERM)
    guard.end_like_ctrl_c()
    try:
        assert signal.getsignal(signal.SIGTERM) is guard._interrupt
    finally:
        guard.restore_signals()
    assert signal.getsignal(signal.SIGTERM) is before
