"""A worker's output kept as a bounded tail (conformance/logtail.py), on a real pipe."""
from __future__ import annotations

import os

import pytest

from conformance.logtail import LogTail


@pytest.fixture
def pipe():
    r, w = os.pipe()
    tails = []

    def make(keep):
        tails.append(LogTail(r, keep))
        return tails[-1]
    yield make, w
    for t in tails:
        t.close()
    try:
        os.close(w)
    except OSError:
        pass


def test_what_was_written_since_a_mark(pipe):
    make, w = pipe
    tail = make(1024)
    os.write(w, b"before\n")
    at = tail.mark()
    assert at == 7
    os.write(w, b"after\n")
    assert tail.since(at) == "after\n"
    assert tail.since(0) == "before\nafter\n"
    assert tail.since(tail.mark()) == ""


def test_only_the_last_keep_bytes_are_held_but_every_byte_is_counted(pipe):
    make, w = pipe
    tail = make(10)
    for i in range(100):
        os.write(w, b"%03d" % i)
    assert tail.mark() == 300
    written = "".join("%03d" % i for i in range(100))
    assert tail.since(0) == written[-10:], "what the tail no longer holds is not made up"
    assert tail.since(295) == written[295:] == "98099"
    assert tail.since(1000) == ""


def test_bytes_that_are_not_utf8_are_replaced_not_raised(pipe):
    make, w = pipe
    tail = make(64)
    os.write(w, b"ok \xff\xfe end")
    assert tail.since(0) == "ok \ufffd\ufffd end"


def test_after_the_writer_closes_the_tail_still_answers(pipe):
    make, w = pipe
    tail = make(64)
    os.write(w, b"last words")
    os.close(w)
    assert tail.since(0) == "last words"
    tail.close()
    tail.close()                         # twice is harmless
    assert tail.since(5) == "words"
