"""The worker's reply channel (conformance/channel.py): framed messages round-trip, and damage (a broken
header, a payload that does not match its checksum, a frame above the limit) is detected, never misread."""
from __future__ import annotations

import os
import time

import pytest

from conformance import channel


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def test_frames_round_trip_in_order(pipe):
    r, w = pipe
    msgs = [{"id": "a", "obs": {"value": 1}}, {"id": "b", "text": "é\udc80 surrogate", "n": [1, 2.5, None]}]
    for m in msgs:
        channel.write(w, m)
    reader = channel.Reader(r)
    assert [reader.read(1.0) for _ in msgs] == msgs
    os.close(w)
    assert reader.read(1.0) is None and reader.eof


def test_a_frame_says_its_length_and_digest():
    f = channel.frame({"a": 1})
    head, payload, end = f.split(b"\n")
    magic, length, digest = head.split()
    assert magic == channel.MAGIC and int(length) == len(payload) and end == b""
    assert digest.decode() == channel._digest(payload)


@pytest.mark.parametrize("damage, error", [
    (lambda f: b"hello from the target\n" + f, "expected a frame"),
    (lambda f: f.replace(b"CF1 ", b"CF1 x", 1), "broken frame header"),
    (lambda f: f[:-3] + b"X" + f[-2:], "does not match its checksum"),
    (lambda f: f[:-1] + b"!", "does not match its checksum"),
    (lambda f: b"CF1 " + b"9" * 70, "frame header too long"),
])
def test_damage_is_refused_not_misread(pipe, damage, error):
    r, w = pipe
    os.write(w, damage(channel.frame({"value": 12345})))
    with pytest.raises(channel.ChannelDamage, match=error):
        channel.Reader(r).read(1.0)


def test_a_frame_above_the_limit_is_refused_from_its_header(pipe):
    r, w = pipe
    os.write(w, b"CF1 5000 0000000000000000\n")     # its payload never needs to arrive
    with pytest.raises(channel.FrameTooLarge, match="above the frame limit of 1024 bytes"):
        channel.Reader(r, limit=1024).read(1.0)


def test_an_intact_frame_that_is_not_json_is_damage(pipe):
    r, w = pipe
    payload = b"{not json"
    os.write(w, b"CF1 %d %s\n" % (len(payload), channel._digest(payload).encode()) + payload + b"\n")
    with pytest.raises(channel.ChannelDamage, match="frame is not JSON"):
        channel.Reader(r).read(1.0)


def test_a_frame_that_has_not_all_arrived_waits_and_the_deadline_holds(pipe):
    r, w = pipe
    f = channel.frame({"value": "x" * 100})
    os.write(w, f[:50])
    reader = channel.Reader(r)
    assert reader.read(0.05) is None and not reader.eof
    os.write(w, f[50:])
    assert reader.read(1.0) == {"value": "x" * 100}


def test_while_waiting_is_called_every_tick_until_the_answer_comes(pipe):
    """The runner tops up its second target process while the first runs a long case."""
    r, w = pipe
    ticks: list[float] = []

    def tick():
        ticks.append(time.monotonic())
        if len(ticks) == 3:
            channel.write(w, {"case": "slow"})
    reader = channel.Reader(r)
    assert reader.read(5.0, while_waiting=tick) == {"case": "slow"}
    assert len(ticks) == 3, "called while nothing had come, and no more once it came"
    assert ticks[-1] - ticks[0] < 1.0, f"every {channel.TICK} s, not every POLL ({channel.POLL} s)"
    channel.write(w, {"case": "quick"})
    assert reader.read(1.0, while_waiting=lambda: ticks.append(0.0)) == {"case": "quick"} and len(ticks) == 3


def test_a_dead_writer_is_end_of_file(pipe):
    r, _ = pipe
    reader = channel.Reader(r, alive=lambda: False)
    assert reader.read(0.01) is None and reader.eof


def _nested(levels: int) -> list:
    top = v = []
    for _ in range(levels):
        v.append([])
        v = v[0]
    return top


def test_values_nested_too_deep_are_cut_on_both_sides(pipe):
    r, w = pipe
    cut = channel.CUT.format(channel.MAX_DEPTH)
    assert cut in channel.encode({"d": _nested(100_000)}), "the writer cuts what its encoder cannot take"
    os.write(w, channel.frame({"d": _nested(channel.MAX_DEPTH + 20)}))
    got = channel.Reader(r).read(1.0)
    assert cut in channel.encode(got), "the reader cuts what the writer sent deeper than MAX_DEPTH"
    cyc: dict = {}
    cyc["self"] = cyc
    assert channel.bounded(cyc) == {"self": cut}


def test_a_frame_as_deep_as_max_depth_reads_back_whole_and_one_level_more_is_cut(pipe):
    r, w = pipe
    wide = [[1, "x", {"k": [2]}]] * 50          # brackets enough that counting them cannot rule it out
    whole = {"d": _nested(channel.MAX_DEPTH - 2), "wide": wide}    # its innermost list is at level MAX_DEPTH
    os.write(w, channel.frame(whole))
    assert channel.Reader(r).read(1.0) == whole
    deeper = {"d": _nested(channel.MAX_DEPTH - 1), "wide": wide}
    os.write(w, channel.frame(deeper))
    got = channel.Reader(r).read(1.0)
    assert got == channel.bounded(deeper) != deeper and channel.CUT.format(channel.MAX_DEPTH) in channel.encode(got)


@pytest.mark.parametrize("value", [1, [], {}, [1, [2, [3]]], {"a": {"b": {"c": {}}}}, [[[]], [[[[]]]], 1],
                                   {"a": [1, 2, {"b": [[]]}], "c": "[[[["}, [{"x": [[1] * 3] * 3}] * 2])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_what_is_deeper_than_a_depth_is_what_bounded_cuts(value, depth):
    assert channel._deeper(value, depth) == (channel.bounded(value, depth) != value)


def test_an_oversized_observation_is_kept_as_its_digest():
    big = {"value": "x" * 200}
    kept = channel.bound_observation(big, limit=100)
    assert kept["oversized"]["bytes"] == len(channel.encode(big)) and "above the 100-byte limit" in kept["display"]["note"]
    assert channel.bound_observation({"value": 1}, limit=100) == {"value": 1}


@pytest.mark.parametrize("text, value", [("", channel.DEFAULT_MAX_FRAME), ("64M", 64 << 20), ("2048", 2048),
                                         ("1KiB", 1024), (" 1g ", 1 << 30)])
def test_the_frame_limit_from_the_environment(monkeypatch, text, value):
    monkeypatch.setenv(channel.MAX_FRAME_ENV, text)
    assert channel.max_frame() == value


@pytest.mark.parametrize("text", ["lots", "100", "-5M", "0"])
def test_a_frame_limit_that_is_not_a_size_is_one_clear_line(monkeypatch, text):
    monkeypatch.setenv(channel.MAX_FRAME_ENV, text)
    with pytest.raises(ValueError, match="is not a size of at least 1K"):
        channel.max_frame()
    from conformance.guard import GuardError, frame_limit
    with pytest.raises(GuardError):
        frame_limit()


def test_decode_refuses_trailing_data():
    assert channel.decode(b'{"a": 1}  ') == {"a": 1}
    with pytest.raises(ValueError, match="extra data"):
        channel.decode('{"a": 1} {}')
    with pytest.raises(ValueError, match="not JSON"):
        channel.decode("")
