"""conformance/drain.py: a second target process's answers are read as they come, so it never waits on a full pipe."""
from __future__ import annotations

import os
import threading
import time

from conformance import channel
from conformance.drain import DrainingReader


def _writer(fd: int, n: int, done: threading.Event) -> threading.Thread:
    def go():
        for i in range(n):
            channel.write(fd, {"case": f"c{i}", "obs": {"pad": "x" * 4000}})
        done.set()
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def test_a_writer_of_more_than_a_pipe_finishes_before_anything_is_asked_for():
    r, w = os.pipe()
    reader = DrainingReader(r)
    done = threading.Event()
    _writer(w, 100, done)                          # ~400 KB: a plain pipe holds 64 KiB
    try:
        assert done.wait(10), "the writer blocked: the reader did not read ahead"
        got = [reader.read(5)["case"] for _ in range(100)]
        assert got == [f"c{i}" for i in range(100)]
        os.close(w)
        w = None
        assert reader.read(5) is None and reader.eof
    finally:
        reader.stop()
        os.close(r)
        if w is not None:
            os.close(w)


def test_what_it_reads_ahead_is_capped_so_a_flood_is_held_back_by_the_pipe():
    r, w = os.pipe()
    reader = DrainingReader(r, cap=20_000)
    done = threading.Event()
    _writer(w, 200, done)                          # ~800 KB against a 20 KB cap plus one pipe
    try:
        assert not done.wait(1.0), "the writer was never held back"
        assert len(reader._inbox) < 20_000 + (1 << 20)
        assert [reader.read(5)["case"] for _ in range(200)] == [f"c{i}" for i in range(200)]
        assert done.wait(10)
    finally:
        reader.stop()
        os.close(r)
        os.close(w)


def test_a_dead_writer_whose_pipe_stays_open_reads_as_end_of_file():
    r, w = os.pipe()                               # w stays open, as when a child of the writer holds it
    reader = DrainingReader(r, alive=lambda: False)
    try:
        start = time.monotonic()
        assert reader.read(30) is None and reader.eof
        assert time.monotonic() - start < 5
    finally:
        reader.stop()
        os.close(r)
        os.close(w)


def test_a_live_writer_that_says_nothing_times_out_without_end_of_file():
    r, w = os.pipe()
    reader = DrainingReader(r)
    try:
        assert reader.read(0.2) is None and not reader.eof
    finally:
        reader.stop()
        os.close(r)
        os.close(w)


def test_damage_is_still_damage():
    r, w = os.pipe()
    reader = DrainingReader(r)
    try:
        os.write(w, b"not a frame\n")
        try:
            reader.read(5)
        except channel.ChannelDamage:
            pass
        else:
            raise AssertionError("a broken frame was taken for an answer")
    finally:
        reader.stop()
        os.close(r)
        os.close(w)
