"""The recorder at the torch boundary: every torch call a case makes, with digests of what it was given and
what it returned, in the oracle and in the target alike.

What is recorded is generated from the live objects of whatever module answers ``import torch``: every
public function of ``torch`` and ``torch.nn.functional``, and every public method, property and dunder
(reflected operators and in-place methods included) of ``Tensor``, ``UntypedStorage``, ``TypedStorage``,
``dtype``, ``device``, ``Size``, ``layout`` and ``torch.nn.Module``. Each is wrapped where it lives
(a class attribute, a module attribute); reads of ``torch``'s other attributes (``__version__``, dtypes,
flags) and of attributes it lacks go through a module proxy (its class swapped for a recording subclass).
What cannot be wrapped (C types such as real torch's ``dtype`` and ``device``) is listed in
``unrecorded``, which the run header shows. Safetensors' Rust extension reaches torch through Python
attribute lookups, so its calls pass through the same wrappers.

Calls made inside a recorded call are recorded too, one level deeper (``depth``): the blame rule
(``conformance/divergence.py``) descends into a diverging call to the deepest call that diverges itself.
The kit's own reads and writes run ``paused()``. What torch's own modules do while they are first imported
(``torch._dynamo``'s module code reads dtypes and calls torch) is not recorded either (``importing``): it
happens once per process, in whichever case imports the module first, so a log holding it would depend on
which cases ran before. Its reads of torch's attributes are kept aside (``import_reads``): when that import
code raises, they are what the judge holds against the oracle's attributes. Before each call its API is
written to a breadcrumb (``Breadcrumb``) that the runner reads when the process dies or hangs.

An entry is ``[api, result digest, given digest, depth]`` (``conformance/digest.py``).
"""
from __future__ import annotations

import functools
import gc
import mmap
import os
import sys
import types
from contextlib import contextmanager
from typing import Any, Callable

API_ATTR = "_conformance_api"   # set on an exception raised by a recorded call: the innermost one's API
# The case's own calls, the calls they make, and theirs: nn.Module's methods recurse into submodules before
# they reach a tensor method (state_dict -> a child's state_dict -> Tensor.detach); deeper is the backend's business
MAX_DEPTH = 3
MAX_CALLS = 400          # a log keeps the first calls only: a case's first divergence is near its start
CASE_BOUND = "calls.MAX_CALLS"      # LOG_FULL's given: the bound a case's log reached (a part's: PART_BOUND)
PART_BOUND = "calls.CallLog.part"
BREADCRUMB_FILE = "conformance-breadcrumb"      # in the worker's TMPDIR, read by the runner (client.py)
BREADCRUMB_SIZE = 512
BREADCRUMB_FD_ENV = "CONFORMANCE_BREADCRUMB_FD"     # a sandboxed worker's breadcrumb: a file the runner holds
UNRECORDED_BENCH_ENV = "CONFORMANCE_BENCH_UNRECORDED"  # benchmarks/bench_gate.py: a run without the recorder
RECORDED = "_conformance_recorded"

# Python's object protocol, never a torch API of its own: identity, reflection, pickling, printing
# (whose text holds addresses), attribute access and torch's own dispatch hooks.
PROTOCOL = frozenset("""
__class__ __new__ __init__ __del__ __init_subclass__ __subclasshook__ __class_getitem__ __instancecheck__
__subclasscheck__ __getattribute__ __getattr__ __setattr__ __delattr__ __dir__ __dict__ __weakref__ __doc__
__module__ __slots__ __annotations__ __qualname__ __name__ __hash__ __repr__ __str__ __format__ __sizeof__
__reduce__ __reduce_ex__ __getstate__ __setstate__ __copy__ __deepcopy__ __torch_function__
__torch_dispatch__ __array_priority__ __array_wrap__ __array_interface__ __cuda_array_interface__
__get__ __set__ __delete__ __set_name__ __call__ __mro_entries__ __prepare__ __wrapped__
""".split())

# The classes whose attributes are recorded, by the name ``torch`` gives them; and the modules.
CLASSES = ("Tensor", "UntypedStorage", "TypedStorage", "dtype", "device", "Size", "layout")
MODULE_CLASSES = (("torch.nn.Module", ("nn", "Module")),)
MODULES = (("torch", ()), ("torch.nn.functional", ("nn", "functional")))
# nn.Module's __call__ is torch's own dispatch frame (Module._wrapped_call_impl); forward is the module's.
MODULE_CALL = "__call__"

ACTIVE: "CallLog | None" = None     # this process's recorder, once installed


@contextmanager
def paused():
    """The kit's own calls (building inputs, reading results) are not the case's."""
    if ACTIVE is None:
        yield
    else:
        with ACTIVE.paused():
            yield


@contextmanager
def reading():
    """The kit's own reads that write nothing (a dtype's name): paused, the digests kept."""
    log = ACTIVE
    if log is None or not log.on:
        yield
        return
    log.on = False
    try:
        yield
    finally:
        log.on = True


class Breadcrumb:
    """The API of the recorded call being run, in a small shared file: it outlives a process that dies."""

    def __init__(self, path: str | None = None, fd: int | None = None):
        """In the file at ``path``, or in the open file ``fd`` the runner handed down (a sandboxed worker's
        TMPDIR is its own tmpfs, so the runner keeps the breadcrumb's file on its side)."""
        if fd is None:
            fd = os.open(str(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, BREADCRUMB_SIZE)
            self.map = mmap.mmap(fd, BREADCRUMB_SIZE)
        finally:
            os.close(fd)

    def set(self, api: str) -> None:
        data = api.encode("utf-8", "replace")[:BREADCRUMB_SIZE - 1]
        self.map[:len(data) + 1] = data + b"\0"


def read_breadcrumb(folder: str | None, fd: int | None = None) -> str | None:
    """The API the breadcrumb in ``folder`` (or in the open file ``fd``) names: the call a dead or hung
    worker was in, or None."""
    try:
        if fd is not None:
            raw = os.pread(fd, BREADCRUMB_SIZE, 0)
        elif folder:
            with open(os.path.join(folder, BREADCRUMB_FILE), "rb") as f:
                raw = f.read(BREADCRUMB_SIZE)
        else:
            return None
    except OSError:
        return None
    text = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    return text or None


def _name_on(e: BaseException, api: str) -> None:
    """Mark ``e`` with the innermost recorded call it came out of (what blame names), unless one did already."""
    try:
        if getattr(e, API_ATTR, None) is None:
            setattr(e, API_ATTR, api)
    except Exception:       # an exception that takes no attributes
        pass


class CallLog:
    """One process's recorder: off, except while a case runs and the kit is not reading."""

    def __init__(self, digest: Callable[[Any, str, tuple], str], given: Callable[[tuple, dict], str],
                 crumb: Breadcrumb | None = None, forget: Callable[[], None] | None = None):
        self.digest, self.given = digest, given
        self.forget = forget or (lambda: None)    # digests cached by the digester go stale after a write
        self.crumb = crumb
        self.entries: list[list[Any]] = []
        self.on = False
        self.depth = 0
        self.stack: list[str] = []
        self.produced: dict[int, int] = {}     # id(result) -> index of the entry that returned it
        self.keep: list[Any] = []              # results stay alive while the case runs: their ids stay unique
        self.reads: dict[str, Any] = {}        # module attribute -> the object its last logged read gave
        # (property, id(object)) -> (object, what the read gave): read again, see read_property
        self.props: dict[tuple[str, int], tuple[Any, Any]] = {}
        self.misses: list[tuple[list[Any], BaseException]] = []   # a miss's entry and the error it raised
        # (reading module, torch attribute) -> digest, read by torch's own module code while first imported:
        # kept out of the log (which case imports a module first follows the case order), shown only when
        # that import code raised (``import_reads``)
        self.import_reads: dict[tuple[str, str], str] = {}
        self.unrecorded: list[str] = []        # what install could not wrap (run header)
        self.limit, self.bound = MAX_CALLS, CASE_BOUND
        self.packages: frozenset[str] = frozenset({"torch"})   # torch's own top-level package names (install)

    def start(self) -> None:
        self.entries, self.on, self.depth, self.stack = [], True, 0, []
        self.produced, self.keep, self.reads, self.misses, self.import_reads = {}, [], {}, [], {}
        self.written()
        if self.crumb:
            self.crumb.set("")

    def stop(self, exc: BaseException | None = None) -> list[list[Any]]:
        """The case's entries; what they returned stays known (``producer_of``) until the next start. ``exc``:
        what the case raised, if it did (a miss whose error it is not was survived: ``settle``)."""
        self.on = False
        self.settle(exc)
        return self.entries

    def settle(self, exc: BaseException | None) -> None:
        """Each miss logged since the last settle whose error did not end the case (``exc``) was survived: a
        ``getattr(torch, name, default)``, a ``hasattr`` or a caught AttributeError. It is marked GUARDED, which
        the blame rule weighs below any other divergence (``conformance/divergence.py``)."""
        misses, self.misses = self.misses, []
        for entry, err in misses:
            if not _ended_by(err, entry[0], exc):
                entry[1] = GUARDED

    def adopt(self, entries: list[list[Any]]) -> None:
        """Make ``entries`` the case's log: a case that memoises its steps across cases composes its log from
        their own recordings (``part``), so the log is the same whatever ran before in the process."""
        self.entries = entries

    @contextmanager
    def part(self, limit: int | None = None):
        """Record a block on its own, as if it were a case of its own: yields a ``Part`` whose ``entries`` are
        the block's calls (at most ``limit``), its misses settled by what the block raised, and ``raised_on``
        the index of the call that returned the value an exception escaping the block was raised on. The
        case's own log goes on after the block as before it. Off (an empty part) while nothing records."""
        got = Part()
        if not self.on:
            yield got
            return
        saved = (self.entries, self.depth, self.stack, self.produced, self.keep, self.reads, self.misses,
                 self.import_reads, self.props, self.limit, self.bound)
        self.entries, self.depth, self.stack, self.produced, self.keep, self.reads, self.misses, self.import_reads, \
            self.props = [], 0, [], {}, [], {}, [], {}, {}
        self.limit, self.bound = (limit, PART_BOUND) if limit else (MAX_CALLS, CASE_BOUND)
        exc = None
        try:
            yield got
        except BaseException as e:
            exc = e
            got.raised_on = raised_on(e, self)
            got.import_reads = import_reads(e, self)
            raise
        finally:
            self.settle(exc)
            got.entries = self.entries
            (self.entries, self.depth, self.stack, self.produced, self.keep, self.reads, self.misses,
             self.import_reads, self.props, self.limit, self.bound) = saved
            self.on = True

    @contextmanager
    def paused(self):
        was, self.on = self.on, False
        try:
            yield
        finally:
            self.on = was
            if was:
                self.written()      # the kit may have written into the case's tensors (aliasing checks)

    def written(self) -> None:
        """Something may have written into a tensor or storage: digests, and reads of properties, go stale."""
        self.props.clear()
        self.forget()

    def full(self) -> bool:
        """Whether the log is at its bound; the first time, it says so in a last entry naming the bound
        (``LOG_FULL``), so that a log composed of parts tells which bound cut it (``divergence.unmatched``)."""
        if len(self.entries) < self.limit:
            return False
        if not self.entries or self.entries[-1][0] != LOG_FULL:
            self.entries.append([LOG_FULL, str(self.limit), self.bound, 0])
        return True

    def producer_of(self, value: Any) -> int | None:
        """The index of the recorded call that returned ``value`` (this very object), or None."""
        return self.produced.get(id(value))

    def record(self, api: str, fn: Callable[..., Any], args: tuple, kwargs: dict,
               spell: Callable[[str, tuple, dict], str] | None = None) -> Any:
        if not self.on or self.depth >= MAX_DEPTH or importing(self.packages) or self.full():
            return fn(*args, **kwargs)
        if spell is not None:
            self.on = False
            try:
                api = spell(api, args, kwargs)
            finally:
                self.on = True
        entry, index = [api, None, self._unrecorded(self.given, args, kwargs), self.depth], len(self.entries)
        self.entries.append(entry)
        self.stack.append(api)
        if self.crumb:
            self.crumb.set(api)
        self.depth += 1
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:
            entry[1] = f"raises {builtin_class(e)}"
            _name_on(e, api)
            raise
        finally:
            self.depth -= 1
            self.stack.pop()
            if self.crumb:
                self.crumb.set(self.stack[-1] if self.stack else f"after {api}")
        if _writes(api):
            self.written()
        entry[1] = self._unrecorded(self.digest, result, api, args)   # one the kit cannot read is a difference
        self._produced(result, index)
        return result

    def _unrecorded(self, digest: Callable[..., str], *args: Any) -> str:
        """``digest(*args)`` with the recorder off (it reads through torch); a value the kit cannot read says so."""
        was, self.on = self.on, False
        try:
            return digest(*args)
        except Exception as e:
            return f"unreadable ({type(e).__name__})"
        finally:
            self.on = was

    def _produced(self, result: Any, index: int) -> None:
        """``result`` came out of entry ``index`` (producer_of), and stays alive while the case runs."""
        if result is not None and not isinstance(result, (bool, int, float, str)):
            self.produced[id(result)] = index
            self.keep.append(result)

    def read_property(self, api: str, get: Callable[[Any], Any], obj: Any) -> Any:
        """A property read (``Tensor.device``). The first read of it on ``obj`` is recorded as a call; a read again
        (nothing written since) runs unrecorded and, when it gives the very object the first gave, is not logged:
        it would log the same inputs and result, which the blame rule matches by set. (A backend's own code reads
        its tensors' ``device`` on every op: over mindtorch_v2's catalog, 43008 entries -> 18796 without them.) One that
        gives another object is logged as a call, without the calls inside it."""
        key = (api, id(obj))
        seen = self.props.get(key)
        if seen is None or seen[0] is not obj or self.depth >= MAX_DEPTH or self.full():
            n = len(self.entries)
            result = self.record(api, get, (obj,), {})
            if len(self.entries) > n and self.entries[n][0] == api:      # logged (not too deep, not importing)
                self.props[key] = (obj, result)
            return result
        if importing(self.packages):
            return get(obj)
        self.on = False
        try:
            result = get(obj)
        except BaseException as e:
            self.on = True
            self._log_again(api, obj, f"raises {builtin_class(e)}")
            _name_on(e, api)
            raise
        self.on = True
        if result is not seen[1]:
            self._log_again(api, obj, self._unrecorded(self.digest, result, api, (obj,)))
            self.props[key] = (obj, result)
            self._produced(result, len(self.entries) - 1)
        return result

    def _log_again(self, api: str, obj: Any, result: str) -> None:
        self.entries.append([api, result, self._unrecorded(self.given, (obj,), {}), self.depth])

    def read(self, api: str, value: Any) -> None:
        """A read of a module attribute that is no call (``torch.__version__``, ``torch.float32``); the same
        read giving the same object again is not logged twice."""
        if self.reads.get(api) is value:    # logged already: an import's read of it would say the same
            return
        reader = None
        if importing(self.packages):
            reader = sys._getframe(2).f_globals.get("__name__")     # read <- the property <- the reading code
            if not isinstance(reader, str) or (reader, api) in self.import_reads:
                return
        elif self.full():
            return
        d = self._unrecorded(self.digest, value, api, ())
        if reader is not None:
            self.import_reads[reader, api] = d
            return
        self.reads[api] = value
        self.entries.append([api, d, READ, self.depth])

    def missing(self, api: str, err: BaseException | None = None) -> None:
        """A read of an attribute the module lacks; ``err``: the AttributeError it raised (see ``settle``)."""
        if not importing(self.packages) and not self.full():
            entry = [api, MISSING, READ, self.depth]
            self.entries.append(entry)
            if err is not None:
                self.misses.append((entry, err))


try:        # name -> lock of each module whose import is under way (CPython's importlib; None: walk every time)
    from importlib._bootstrap import _module_locks as _IMPORTS_UNDER_WAY
except ImportError:
    _IMPORTS_UNDER_WAY = None


def importing(packages: frozenset[str]) -> bool:
    """Whether a module of one of ``packages`` (torch's own) is running its module code for its first import,
    anywhere up the stack: importlib marks its spec ``_initializing`` until the code has run. Asked on every
    recorded call, so it first looks whether any such import holds a lock at all (nearly always none)."""
    if _IMPORTS_UNDER_WAY is not None and \
            not any(n.partition(".")[0] in packages for n in list(_IMPORTS_UNDER_WAY)):
        return False
    f = sys._getframe(1)
    while f is not None:
        if f.f_code.co_name == "<module>":
            g = f.f_globals
            name = g.get("__name__")
            if isinstance(name, str) and name.split(".", 1)[0] in packages:
                try:
                    if getattr(g.get("__spec__"), "_initializing", False) is True:
                        return True
                except Exception:       # a spec that cannot say: not an import importlib runs
                    pass
        f = f.f_back
    return False


class Part:
    """What ``CallLog.part`` recorded: its entries, the producer of the value an escaping error was raised on,
    and the torch attributes torch's own import code read when that error came out of it (``import_reads``)."""

    def __init__(self) -> None:
        self.entries: list[list[Any]] = []
        self.raised_on: int | None = None
        self.import_reads: list[list[str]] | None = None


def _ended_by(err: BaseException, api: str, exc: BaseException | None) -> bool:
    """Whether the error a miss of ``api`` raised is (or surfaced as) ``exc`` or one it came from: the very
    error, or one naming the attribute (``from torch import X`` turns the AttributeError into an ImportError)."""
    name = api.rsplit(".", 1)[-1]
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if e is err:
            return True
        if isinstance(e, (AttributeError, ImportError)) and (getattr(e, "name", None) == name or f"'{name}'" in str(e)):
            return True
        stack += [e.__cause__, e.__context__]
    return False


def _writes(api: str) -> bool:
    """In-place by torch's naming: ``add_``, ``copy_``, ``__setitem__``, ``__iadd__``; or a call that failed
    to say (anything inside it may have written)."""
    name = api.rsplit(".", 1)[-1].split("(", 1)[0]
    return name.endswith("_") and not name.endswith("__") or name == "__setitem__" or name in INPLACE_OPERATORS


INPLACE_OPERATORS = frozenset(f"__i{op}__" for op in ("add sub mul matmul truediv floordiv mod pow and or xor "
                                                      "lshift rshift").split())


def raised_on(e: BaseException, log: CallLog) -> int | None:
    """For an exception raised outside any recorded call: the index of the recorded call that returned the
    value it was raised on (an AttributeError's object, else a local of the frame that raised), or None."""
    if getattr(e, API_ATTR, None) is not None:
        return None         # raised inside a recorded call: the rule sees that call raise
    if isinstance(e, TypeError) and str(e).startswith(("isinstance() arg 2", "issubclass() arg 2")):
        return None         # the class it was asked about is no class: not the instance's fault
    obj = getattr(e, "obj", None) if isinstance(e, AttributeError) else None
    if obj is not None and log.producer_of(obj) is not None:
        return log.producer_of(obj)
    tb, last = e.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return None
    found = [log.producer_of(v) for v in list(last.tb_frame.f_locals.values())]
    found = [i for i in found if i is not None]
    return max(found) if found else None


def import_reads(e: BaseException, log: CallLog) -> list[list[str]] | None:
    """For an exception that came out of torch's own module code while it was first imported: the torch
    attributes that code read (the innermost such module's, and the modules it was inside when it raised),
    ``[api, digest]`` in read order; else None. Such a read is the one place a wrong module attribute (a
    ``__version__`` that is no str) breaks torch without any recorded call returning it: the judge holds each
    against the oracle's (hello ``reads``)."""
    if not log.import_reads:
        return None
    tb, inside = e.__traceback__, None
    while tb is not None:
        g = tb.tb_frame.f_globals
        name = g.get("__name__")
        if tb.tb_frame.f_code.co_name == "<module>" and isinstance(name, str) \
                and name.split(".", 1)[0] in log.packages:
            inside = set()          # the innermost import that raised: what it and its callees read
        if inside is not None and isinstance(name, str):
            inside.add(name)
        tb = tb.tb_next
    if not inside:
        return None
    return [[api, d] for (reader, api), d in log.import_reads.items() if reader in inside] or None


def attribute_digests(torch: Any, log: CallLog) -> dict[str, str]:
    """The digest of each torch attribute the recorder logs as a read (``_proxy_module``), as this process
    has it: what a read made by import code is held against (such reads never reach a case's log)."""
    def digest(name: str) -> str:
        return log.digest(vars(torch)[name], f"torch.{name}", ())
    # a value the kit cannot read: that, as a read's entry would say
    return {f"torch.{name}": log._unrecorded(digest, name) for name in _read_names(torch)}


READ = "<read>"             # the given digest of an attribute read
MISSING = "missing"         # the result digest of a read of an attribute the module lacks
GUARDED = "missing, survived"   # ... a read the program went on from (a default, hasattr False): CallLog.settle
LOG_FULL = "<log full>"     # the api of a log's last entry once it reached its bound: [LOG_FULL, limit, bound, 0]


def builtin_class(e: BaseException) -> str:
    return next((c for c in type(e).__mro__ if c.__module__ == "builtins"), BaseException).__name__


# -- spelling: calls named as the catalog names its rows ----------------------------------------------------

def _spell_view(api: str, args: tuple, kwargs: dict) -> str:
    """``Tensor.view(dtype)``, ``Tensor.view(-1)`` and ``Tensor.view(shape)``: three uses, three rows."""
    rest = args[1:]
    if "dtype" in kwargs or (len(rest) == 1 and _is_dtype(rest[0])):
        return f"{api}(dtype)"
    if len(rest) == 1 and (rest[0] == -1 or rest[0] == (-1,) or rest[0] == [-1]) and not isinstance(rest[0], bool):
        return f"{api}(-1)"
    return f"{api}(shape)"


def _spell_empty(api: str, args: tuple, kwargs: dict) -> str:
    dev = kwargs.get("device")
    return f"{api}(device=meta)" if dev is not None and str(dev) == "meta" else api


_DTYPE_TYPE: list[Any] = []


def _is_dtype(v: Any) -> bool:
    try:
        return bool(_DTYPE_TYPE) and isinstance(v, _DTYPE_TYPE[0])
    except TypeError:
        return False


SPELLINGS = {"Tensor.view": _spell_view, "torch.empty": _spell_empty}


# -- install -------------------------------------------------------------------------------------------

def install(torch: Any, log: CallLog) -> dict[str, Any]:
    """Wrap what this ``torch`` exposes (see the module doc); returns ``{"recorded": n, "unrecorded": [...]}``."""
    global ACTIVE
    ACTIVE = log
    was = gc.isenabled()
    gc.disable()        # thousands of closures: collections over torch's object graph would cost 10x the work
    try:
        return _install(torch, log)
    finally:
        if was:
            gc.enable()


def _install(torch: Any, log: CallLog) -> dict[str, Any]:
    dtype_cls = getattr(torch, "dtype", None)
    _DTYPE_TYPE[:] = [dtype_cls] if isinstance(dtype_cls, type) else []
    name = getattr(torch, "__name__", None)      # a backend's own package (mindtorch_v2) answers for torch too
    log.packages = frozenset({"torch"} | ({name.split(".", 1)[0]} if isinstance(name, str) else set()))
    done = 0
    for label, path in MODULES:
        mod = _reach(torch, path)
        if isinstance(mod, types.ModuleType):
            done += _wrap_module(mod, label, log)
    for name in CLASSES:
        cls = getattr(torch, name, None)
        if isinstance(cls, type):
            done += _wrap_class(cls, name, log)
        elif cls is not None:
            log.unrecorded.append(f"{name} (not a class: {type(cls).__name__})")
    for label, path in MODULE_CLASSES:
        cls = _reach(torch, path)
        if isinstance(cls, type):
            done += _wrap_class(cls, label, log)
    if not _proxy_module(torch, log):
        log.unrecorded.append("torch.<attribute reads> (the module's class cannot be swapped)")
    return {"recorded": done, "unrecorded": sorted(log.unrecorded), "reads": attribute_digests(torch, log)}


def _reach(torch: Any, path: tuple[str, ...]) -> Any:
    obj = torch
    for p in path:
        try:
            obj = getattr(obj, p)
        except Exception:
            return None
    return obj


def _public(name: str) -> bool:
    if name.startswith("__") and name.endswith("__"):
        return name not in PROTOCOL
    return not name.startswith("_")


def _wrap_module(mod: types.ModuleType, label: str, log: CallLog) -> int:
    done = 0
    for name, real in list(vars(mod).items()):
        if not _public(name) or name.startswith("__") or isinstance(real, (type, types.ModuleType)):
            continue
        if not callable(real) or getattr(real, RECORDED, False):
            continue
        api = f"{label}.{name}"
        try:
            setattr(mod, name, _function(real, api, log))
            done += 1
        except Exception:
            log.unrecorded.append(api)
    return done


def _static(cls: type, name: str) -> tuple[type | None, Any]:
    for c in cls.__mro__:
        if c is object:
            return None, None
        if name in c.__dict__:
            return c, c.__dict__[name]
    return None, None


def _wrap_class(cls: type, label: str, log: CallLog) -> int:
    done, failed = 0, []
    for name in dir(cls):
        if not _public(name) or (label == "torch.nn.Module" and name == MODULE_CALL):
            continue
        owner, raw = _static(cls, name)
        if owner is None or getattr(raw, RECORDED, False) or getattr(getattr(raw, "fget", None), RECORDED, False):
            continue
        api = f"{label}.{name}"
        wrapped = _member(cls, name, raw, api, log)
        if wrapped is None:
            continue
        try:
            setattr(cls, name, wrapped)
            done += 1
        except (AttributeError, TypeError):     # an immutable type (a C extension's): said so in the header
            failed.append(name)
    if failed:
        log.unrecorded.append(f"{label}: {len(failed)} attributes ({', '.join(sorted(failed)[:8])}"
                              f"{', ...' if len(failed) > 8 else ''}) on an immutable type")
    return done


def _member(cls: type, name: str, raw: Any, api: str, log: CallLog) -> Any:
    """The wrapper to set as ``cls.name`` for the attribute ``raw`` found in its MRO, or None."""
    if isinstance(raw, staticmethod):
        return staticmethod(_function(raw.__func__, api, log))
    if isinstance(raw, classmethod) or type(raw).__name__ == "classmethod_descriptor":
        return staticmethod(_function(getattr(cls, name), api, log))     # bound to ``cls`` already
    if isinstance(raw, property) or type(raw).__name__ in ("getset_descriptor", "member_descriptor"):
        return _property(raw, api, log)
    if callable(raw):
        if getattr(getattr(cls, name, None), "__self__", None) is cls:      # a builtin bound to the class
            return staticmethod(_function(getattr(cls, name), api, log))
        return _method(raw, api, log)
    return None


def _function(real: Callable[..., Any], api: str, log: CallLog) -> Callable[..., Any]:
    spell = SPELLINGS.get(api)

    def wrapper(*args, **kwargs):
        if not log.on:
            return real(*args, **kwargs)
        return log.record(api, real, args, kwargs, spell)
    _finish(wrapper, real)
    return wrapper


def _method(real: Callable[..., Any], api: str, log: CallLog) -> Callable[..., Any]:
    spell = SPELLINGS.get(api)

    def wrapper(self, *args, **kwargs):
        if not log.on:
            return real(self, *args, **kwargs)
        return log.record(api, real, (self, *args), kwargs, spell)
    _finish(wrapper, real)
    return wrapper


def _property(raw: Any, api: str, log: CallLog) -> property:
    get = raw.__get__

    def read(self):
        return get(self, type(self))

    def fget(self):
        if not log.on:
            return get(self, type(self))
        return log.read_property(api, read, self)
    setattr(fget, RECORDED, True)
    fset = (lambda self, v: raw.__set__(self, v)) if hasattr(raw, "__set__") else None
    fdel = (lambda self: raw.__delete__(self)) if hasattr(raw, "__delete__") else None
    return property(fget, fset, fdel, getattr(raw, "__doc__", None))


def _finish(wrapper: Callable[..., Any], real: Callable[..., Any]) -> None:
    try:
        functools.update_wrapper(wrapper, real)
    except Exception:       # a builtin without some of the attributes: the name is enough
        wrapper.__wrapped__ = real    # type: ignore[attr-defined]
    setattr(wrapper, RECORDED, True)


def _proxy_module(torch: Any, log: CallLog) -> bool:
    """Reads of ``torch``'s attributes that are no calls (``__version__``, dtypes, flags), and reads of
    attributes it lacks, recorded at the case's own level. The module's class becomes a subclass with a
    property per such attribute (generated from the module's own dict) and a ``__getattr__`` for misses:
    reads of its functions and submodules cost nothing more."""
    base = type(torch)
    if not issubclass(base, types.ModuleType):
        return False
    if getattr(base, RECORDED, False):
        return True
    # and the reads of the classes whose attributes are recorded, whatever this torch makes of them (a
    # ``torch.device`` that is a function is read where the oracle reads a class: ``torch.device | str``)
    names = _read_names(torch)
    body: dict[str, Any] = {RECORDED: True, "__module__": base.__module__}
    for name in names:
        body[name] = _constant(name, f"torch.{name}", log)

    def __getattr__(self, name):
        err = AttributeError(f"module {types.ModuleType.__getattribute__(self, '__name__')!r} has no attribute "
                             f"{name!r}", name=name, obj=self)
        if log.on and not log.depth and (name == "__version__" or not name.startswith("_")):
            log.missing(f"torch.{name}", err)
        raise err
    body["__getattr__"] = __getattr__
    proxy = type(base.__name__, (base,), body)
    try:
        torch.__class__ = proxy
    except TypeError:
        return False
    return True


def _read_names(torch: Any) -> list[str]:
    return [n for n, v in vars(torch).items() if (n == "__version__" or not n.startswith("_"))
            and (not callable(v) or n in CLASSES) and not isinstance(v, types.ModuleType)]


def _constant(name: str, api: str, log: CallLog) -> property:
    """A module attribute as a property of the module's class: the value stays in the module's dict."""
    def fget(mod):
        try:
            v = mod.__dict__[name]
        except KeyError:        # deleted since: a miss like any other
            raise AttributeError(f"module {mod.__name__!r} has no attribute {name!r}", name=name, obj=mod) from None
        if log.on and not log.depth:
            log.read(api, v)
        return v

    def fset(mod, value):
        mod.__dict__[name] = value

    def fdel(mod):
        del mod.__dict__[name]
    return property(fget, fset, fdel)
