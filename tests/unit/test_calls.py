"""The recorder at the torch boundary (conformance/calls.py), on a pure-Python stand-in for torch: what it
wraps is generated from the live module and classes, it sees properties, dunders (reflected ones as
themselves), in-place methods, nested calls, module constants and missing attributes, and it lists what
it could not wrap instead of failing. No torch needed."""
from __future__ import annotations

import os
import types

import pytest

from conformance import calls


def _fake_torch():
    torch = types.ModuleType("torch")

    class dtype:
        def __init__(self, name):
            self.name = name

        def __repr__(self):
            return f"torch.{self.name}"

    class Tensor:
        def __init__(self, values):
            self.values = list(values)

        @property
        def shape(self):
            return (len(self.values),)

        def view(self, *args, **kwargs):
            return Tensor(self.values)

        def add_(self, k):
            self.values = [v + k for v in self.values]
            return self

        def __radd__(self, other):
            return Tensor([other + v for v in self.values])

        def __eq__(self, other):
            return isinstance(other, Tensor) and other.values == self.values

        __hash__ = object.__hash__

        def double(self):
            return self.view().add_(0)      # a method that calls others: recorded one level deeper

        @property
        def device(self):
            return CPU                      # the very same object every read, as mindtorch_v2's

        @property
        def flaky(self):
            self.reads = getattr(self, "reads", 0) + 1
            if self.reads == 2:
                raise KeyError("second read")
            return [self.reads]

        def _private(self):
            return 1

    def frombuffer(buf, dtype=None):
        return Tensor(buf)

    CPU = types.SimpleNamespace(type="cpu")

    torch.Tensor, torch.dtype, torch.frombuffer = Tensor, dtype, frombuffer
    torch.float32 = dtype("float32")
    torch.__version__ = "2.13.0"
    torch.Size = tuple          # a builtin type: nothing of it can be wrapped
    return torch


def _log(torch=None, crumb=None):
    return calls.CallLog(lambda v, api, args: type(v).__name__ if not isinstance(v, int) else str(v),
                         lambda args, kwargs: ",".join(type(a).__name__ for a in args), crumb)


@pytest.fixture
def torch():
    t = _fake_torch()
    log = _log()
    info = calls.install(t, log)
    yield t, log, info
    calls.ACTIVE = None


def test_generated_from_the_live_objects(torch):
    t, log, info = torch
    assert getattr(t.frombuffer, calls.RECORDED) and getattr(t.Tensor.view, calls.RECORDED)
    assert not getattr(t.Tensor._private, calls.RECORDED, False), "private names are not the torch API"
    assert info["recorded"] >= 6
    assert any(u.startswith("Size:") for u in info["unrecorded"]), info["unrecorded"]


def test_calls_properties_dunders_reflected_inplace_and_nesting(torch):
    t, log, _ = torch
    log.start()
    x = t.frombuffer([1, 2], dtype=t.float32)
    x.shape
    y = 1.0 + x             # float.__add__ gives up: Tensor.__radd__ runs, and is recorded as itself
    x == y
    x.view(t.float32)
    x.view(-1)
    x.view(2, 1)
    x.double()
    entries = log.stop()
    apis = [(e[0], e[3]) for e in entries]
    assert ("torch.frombuffer", 0) in apis and ("torch.float32", 0) in apis
    assert ("Tensor.shape", 0) in apis and ("Tensor.__radd__", 0) in apis and ("Tensor.__eq__", 0) in apis
    assert [a for a, d in apis if a.startswith("Tensor.view") and d == 0] == \
        ["Tensor.view(dtype)", "Tensor.view(-1)", "Tensor.view(shape)"]
    i = apis.index(("Tensor.double", 0))
    assert apis[i + 1:i + 3] == [("Tensor.view(shape)", 1), ("Tensor.add_", 1)]


def test_paused_and_off_record_nothing(torch):
    t, log, _ = torch
    t.frombuffer([1])
    log.start()
    with calls.paused():
        t.frombuffer([1]).view(-1)
    assert log.stop() == []


def test_module_reads_and_missing_attributes(torch):
    t, log, _ = torch
    log.start()
    assert t.__version__ == "2.13.0"
    t.__version__           # the same object again: logged once
    with pytest.raises(AttributeError):
        t.float8_e5m2
    assert not hasattr(t, "nothing_here")
    entries = log.stop()
    assert [e[0] for e in entries if e[2] == calls.READ] == ["torch.__version__", "torch.float8_e5m2",
                                                            "torch.nothing_here"]
    assert entries[1][1] == entries[2][1] == calls.GUARDED      # the case went on from both


def test_a_miss_the_case_died_of_is_no_survived_one(torch):
    t, log, _ = torch
    log.start()
    getattr(t, "float8_e5m2", None)
    try:
        t.nothing_here
    except AttributeError as e:
        err = e
    try:
        raise RuntimeError("wrapped") from err
    except RuntimeError as e:
        entries = log.stop(e)
    assert [e[1] for e in entries] == [calls.GUARDED, calls.MISSING]


def test_a_part_records_on_its_own_and_the_case_goes_on(torch):
    """A memoised step's calls are its own part, whatever case ran it first: the case's log goes on around it."""
    t, log, _ = torch
    log.start()
    t.frombuffer([1])
    with log.part() as outer:
        t.frombuffer([2]).view(-1)
        getattr(t, "float8_e5m2", None)
    with pytest.raises(AttributeError), log.part() as failed:
        t.frombuffer([3]).no_such_method()
    t.frombuffer([4])
    entries = log.stop()
    assert [e[0] for e in outer.entries] == ["torch.frombuffer", "Tensor.view(-1)", "torch.float8_e5m2"]
    assert outer.entries[-1][1] == calls.GUARDED and outer.raised_on is None
    assert [e[0] for e in failed.entries] == ["torch.frombuffer"] and failed.raised_on == 0
    assert [e[0] for e in entries] == ["torch.frombuffer", "torch.frombuffer"]
    log.adopt(outer.entries + failed.entries)
    assert len(log.stop()) == 4
    with log.part() as off:         # nothing records while the log is off
        t.frombuffer([5])
    assert off.entries == []


def test_a_part_keeps_its_own_limit_and_a_full_log_names_the_bound_it_reached(torch):
    """A log at its bound ends with one LOG_FULL entry naming that bound: a part's (a transformers step's,
    calls.CallLog.part) or the case's own (calls.MAX_CALLS), so that a log composed of parts says which."""
    t, log, _ = torch
    log.start()
    with log.part(limit=2) as part:
        for i in range(5):
            t.frombuffer([i])
        getattr(t, "float8_e5m2", None)     # a read and a miss past the bound add nothing either
        _ = t.float32
    assert [e[0] for e in part.entries] == ["torch.frombuffer", "torch.frombuffer", calls.LOG_FULL]
    assert part.entries[-1] == [calls.LOG_FULL, "2", calls.PART_BOUND, 0]
    for i in range(3):
        t.frombuffer([i])
    assert len(log.stop()) == 3
    log.start()
    for i in range(calls.MAX_CALLS + 5):
        t.frombuffer([i])
    entries = log.stop()
    assert len(entries) == calls.MAX_CALLS + 1 and entries[-1] == [calls.LOG_FULL, str(calls.MAX_CALLS),
                                                                   calls.CASE_BOUND, 0]


def test_a_raising_call_is_recorded_and_names_the_exception(torch):
    t, log, _ = torch

    def bad(self):
        raise TypeError("no")
    t.Tensor.broken = bad
    calls.install(t, log)           # installing again wraps what is new only
    log.start()
    x = t.frombuffer([1])
    with pytest.raises(TypeError) as info:
        x.broken()
    entries = log.stop()
    assert entries[-1][:2] == ["Tensor.broken", "raises TypeError"]
    assert getattr(info.value, calls.API_ATTR) == "Tensor.broken"
    assert [e[0] for e in entries].count("torch.frombuffer") == 1


def test_raised_on_names_the_producer_of_the_value(torch):
    t, log, _ = torch
    log.start()
    x = t.frombuffer([1])
    try:
        x.no_such_method()
    except AttributeError as e:
        err = e
    log.stop()
    assert calls.raised_on(err, log) == 0


def test_breadcrumb_names_the_call_in_flight(tmp_path):
    t = _fake_torch()
    seen = []
    t.Tensor.peek = lambda self: seen.append(calls.read_breadcrumb(str(tmp_path)))
    t.Tensor.outer = lambda self: (self.peek(), seen.append(calls.read_breadcrumb(str(tmp_path))))
    log = _log(crumb=calls.Breadcrumb(str(tmp_path / calls.BREADCRUMB_FILE)))
    calls.install(t, log)
    try:
        log.start()
        assert calls.read_breadcrumb(str(tmp_path)) is None
        t.frombuffer([1]).outer()
        assert seen == ["Tensor.peek", "Tensor.outer"]
        assert calls.read_breadcrumb(str(tmp_path)) == "after Tensor.outer"
        log.stop()
    finally:
        calls.ACTIVE = None
    assert os.path.getsize(tmp_path / calls.BREADCRUMB_FILE) == calls.BREADCRUMB_SIZE
    assert calls.read_breadcrumb(str(tmp_path / "absent")) is None


def test_a_module_whose_class_cannot_change_says_so():
    class Frozen:       # not a module: no proxy, and the header says so
        pass
    log = _log()
    info = calls.install(Frozen(), log)
    calls.ACTIVE = None
    assert any("attribute reads" in u for u in info["unrecorded"])


def test_reads_of_the_recorded_classes_whatever_they_are():
    """A backend whose torch.device is a function: its read is recorded where the oracle reads a class."""
    for kind in ("class", "function"):
        t = _fake_torch()
        if kind == "class":
            t.device = type("device", (), {})
        else:
            t.device = lambda *a: "cpu"
        log = _log()
        calls.install(t, log)
        try:
            log.start()
            t.device        # noqa: B018
            entries = log.stop()
        finally:
            calls.ACTIVE = None
        assert [e[0] for e in entries if e[2] == calls.READ] == ["torch.device"], kind
        assert entries[0][1] == ("type" if kind == "class" else "function"), entries


SUBMODULE = """\
import faketorch
EAGER = faketorch.frombuffer([1, 2])    # torch's own module code, run by whichever case imports it first
VERSION = faketorch.__version__
faketorch.float8_e5m2 if hasattr(faketorch, "float8_e5m2") else None


def later():
    return faketorch.frombuffer([3])
"""


def test_what_torch_does_while_a_module_of_its_own_is_first_imported_is_not_recorded(tmp_path, monkeypatch):
    """A case that imports a torch submodule first (``torch._dynamo``) must log what a case importing it after
    logs: the module's own code runs once per process, so recording it made a row's log depend on the order."""
    import importlib
    import sys

    t = _fake_torch()
    t.__name__, t.__path__ = "faketorch", [str(tmp_path)]     # the package answering `import torch` (a backend's)
    (tmp_path / "initcalls.py").write_text(SUBMODULE)
    monkeypatch.setitem(sys.modules, "faketorch", t)
    monkeypatch.delitem(sys.modules, "faketorch.initcalls", raising=False)
    log = _log()
    calls.install(t, log)
    try:
        logs = []
        for _ in range(2):          # first import, then an import of a module already there
            log.start()
            importlib.import_module("faketorch.initcalls").later()
            logs.append(log.stop())
    finally:
        calls.ACTIVE = None
    assert logs[0] == logs[1], logs
    assert [e[0] for e in logs[0]] == ["torch.frombuffer"]       # later()'s call, made by the case


RAISING_SUBMODULE = """\
import faketorch
SEEN = faketorch.float32
if "dev" in faketorch.__version__:     # torch/_inductor/config.py's test: a version that is no str raises here
    pass
"""


def test_reads_by_import_code_that_raised_are_kept_aside_for_the_judge(tmp_path, monkeypatch):
    """torch's own import code reading a bad ``__version__`` raises with no recorded call on the stack: its
    reads stay out of the log (order independence) but come with the exception, the raising module's only."""
    import importlib
    import sys

    t = _fake_torch()
    t.__name__, t.__path__ = "faketorch", [str(tmp_path)]
    (tmp_path / "initcalls.py").write_text(SUBMODULE)
    (tmp_path / "raising.py").write_text(RAISING_SUBMODULE)
    monkeypatch.setitem(sys.modules, "faketorch", t)
    for name in ("faketorch.initcalls", "faketorch.raising"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    log = _log()
    info = calls.install(t, log)
    try:
        assert info["reads"]["torch.__version__"] == "str" and info["reads"]["torch.float32"] == "dtype"
        t.__version__ = 2.13            # a version that is no str
        log.start()
        importlib.import_module("faketorch.initcalls")      # reads __version__ too, and imports fine
        with pytest.raises(TypeError) as err:
            importlib.import_module("faketorch.raising")
        entries = log.stop(err.value)
        assert [e[0] for e in entries] == []                  # import code: never in the log
        assert calls.import_reads(err.value, log) == [["torch.float32", "dtype"], ["torch.__version__", "float"]]
        with pytest.raises(TypeError) as other:                 # raised by the case itself: no import code's
            "dev" in t.__version__
        assert calls.import_reads(other.value, log) is None
        log.start()
        with pytest.raises(TypeError) as again, log.part() as part:     # a part keeps its own
            importlib.import_module("faketorch.raising")
        log.stop(again.value)
        assert part.import_reads == [["torch.float32", "dtype"], ["torch.__version__", "float"]]
    finally:
        calls.ACTIVE = None


def test_a_property_read_again_is_logged_only_when_it_gives_another_object(torch):
    """A backend's own code reads its tensors' device on every op: the same read giving the same object logs the
    same inputs and result again, which the blame rule matches by set. Logged again after a write, when it gives
    another object, and when it raises."""
    t, log, _ = torch
    log.start()
    x = t.frombuffer([1, 2])
    x.device, x.device, x.shape, x.shape
    x.add_(1)                                   # a write: reads before it may no longer hold
    x.device
    x.flaky
    with pytest.raises(KeyError) as raised:
        x.flaky
    assert getattr(raised.value, calls.API_ATTR) == "Tensor.flaky", "what blame names, as a logged call's"
    x.flaky
    entries = log.stop()
    apis = [e[0] for e in entries]
    assert apis.count("Tensor.device") == 2 and apis.count("Tensor.shape") == 2, apis
    flaky = [e for e in entries if e[0] == "Tensor.flaky"]
    assert [e[1] for e in flaky] == ["list", "raises KeyError", "list"]
    assert all(e[2] == "Tensor" for e in flaky), "each with its inputs"
    log.start()
    x.device
    assert [e[0] for e in log.stop()] == ["Tensor.device"], "another case starts afresh"


def test_a_property_read_too_deep_to_log_is_no_first_read(torch, monkeypatch):
    """Only a logged read is one a read again can stand for: one the log did not take (too deep) leaves the next
    read to be logged."""
    t, log, _ = torch
    monkeypatch.setattr(calls, "MAX_DEPTH", 1)
    log.start()
    x = t.frombuffer([1, 2])
    log.record("outer", lambda: x.device, (), {})      # at depth 1: not logged
    x.device
    assert [(e[0], e[3]) for e in log.stop()] == [("torch.frombuffer", 0), ("outer", 0), ("Tensor.device", 0)]
