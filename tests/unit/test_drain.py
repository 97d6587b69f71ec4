"""conformance/drain.py: a second target process's answers are read as they come, so it never waits on a full pipe."""
from __future__ import annotations

import contextlib
import os
import threading
import time

import pytest

from conformance import channel
from conformance.drain import DrainingReader


@contextlib.contextmanager
def _pipe(**kw):
    """(reader of a pipe's read end, a closer of its write end); both ends closed, the thread stopped, after."""
    r, w = os.pipe()
    reader = DrainingReader(r, **kw)
    open_w = [w]

    def close_writer():
        os.close(open_w.pop())
    try:
        yield reader, w, close_writer
    finally:
        reader.stop()
        os.close(r)
        if open_w:
            os.close(w)


def _writer(fd: int, n: int, done: threading.Event) -> threading.Thread:
    def go():
        for i in range(n):
            channel.write(fd, {"case": f"c{i}", "obs": {"pad": "x" * 4000}})
        done.set()
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def test_a_writer_of_more_than_a_pipe_finishes_before_anything_is_asked_for():
    with _pipe() as (reader, w, close_writer):
        done = threading.Event()
        _writer(w, 100, done)                          # ~400 KB: a plain pipe holds 64 KiB
        assert done.wait(10), "the writer blocked: the reader did not read ahead"
        got = [reader.read(5)["case"] for _ in range(100)]
        assert got == [f"c{i}" for i in range(100)]
        close_writer()
        assert reader.read(5) is None and reader.eof


def test_what_it_reads_ahead_is_capped_so_a_flood_is_held_back_by_the_pipe():
    with _pipe(cap=20_000) as (reader, w, _):
        done = threading.Event()
        _writer(w, 200, done)                          # ~800 KB against a 20 KB cap plus one pipe
        assert not done.wait(1.0), "the writer was never held back"
        assert len(reader._inbox) < 20_000 + (1 << 20)
        assert [reader.read(5)["case"] for _ in range(200)] == [f"c{i}" for i in range(200)]
        assert done.wait(10)


def test_a_dead_writer_whose_pipe_stays_open_reads_as_end_of_file():
    with _pipe(alive=lambda: False) as (reader, _, _):    # the write end stays open, as when a child holds it
        start = time.monotonic()
        assert reader.read(30) is None and reader.eof
        assert time.monotonic() - start < 5


def test_a_live_writer_that_says_nothing_times_out_without_end_of_file():
    with _pipe() as (reader, _, _):
        assert reader.read(0.2) is None and not reader.eof


def test_damage_is_still_damage():
    with _pipe() as (reader, w, _):
        os.write(w, b"not a frame\n")
        with pytest.raises(channel.ChannelDamage):
            reader.read(5)


def test_while_waiting_is_called_as_the_answer_is_awaited():
    with _pipe() as (reader, w, _):
        calls = []

        def tick():
            calls.append(1)
            if len(calls) == 2:
                channel.write(w, {"case": "c0"})
        assert reader.read(5.0, while_waiting=tick) == {"case": "c0"}
        assert len(calls) >= 2
