"""conformance/blame.py names the torch API an exception came from. Its rules, one test each: the deepest
caller frame (the kit's cases, safetensors, transformers) and the first backend frame below it name the API;
the call recorder's wrappers are no caller; an AttributeError names its missing attribute; ImportErrors and
TypeErrors raised before a backend body ran are read from the message and the calling line; the original
failure of ``raise X from Y`` is the one described; absolute paths never reach an observation; a recorded
call's own API wins. The "backend" here is a plain module, not torch: frames come from real source files."""
from __future__ import annotations

import types
from pathlib import Path

import pytest

from conformance.blame import blamed, describe_failure, scrub
from conformance.calls import API_ATTR
from conformance.side import TARGET_ARGS_ENV


def _module(tmp_path: Path, name: str, source: str, **globals_) -> types.ModuleType:
    """A module named ``name`` whose frames point at a real file (so the calling line can be read)."""
    path = tmp_path / (name.replace(".", "_") + ".py")
    path.write_text(source)
    mod = types.ModuleType(name)
    mod.__dict__.update(globals_)
    exec(compile(source, str(path), "exec"), mod.__dict__)
    return mod


class Tensor:
    pass


Tensor.__module__ = "fakebk._tensor"      # the backend's Tensor lives in its own package


def _fake_torch() -> types.ModuleType:
    """A backend namespace standing in for torch: its own top-level name, a Tensor class and an nn."""
    t = types.ModuleType("fakebk")
    t.Tensor = Tensor
    t.nn = types.ModuleType("fakebk.nn")
    return t


def _raise(fn):
    try:
        fn()
    except BaseException as e:   # noqa: BLE001 - the tests hand the exception to blame
        return e
    raise AssertionError("the call did not raise")


@pytest.fixture(autouse=True)
def _outside_a_worker(monkeypatch):
    monkeypatch.delenv(TARGET_ARGS_ENV, raising=False)


def _backend_ops(tmp_path):
    return _module(tmp_path, "fakebk._ops", "def add(x):\n    raise ValueError('bad add')\n\n"
                   "class Frob:\n    @staticmethod\n    def run():\n        raise ValueError('bad frob')\n")


def test_the_deepest_caller_and_the_backend_frame_below_it_name_the_api(tmp_path):
    ops = _backend_ops(tmp_path)
    helper = _module(tmp_path, "transformers.modeling", "def forward():\n    return ops.add(1)\n", ops=ops)
    case = _module(tmp_path, "conformance.cases.demo", "def run():\n    return helper.forward()\n", helper=helper)
    d = describe_failure(_raise(case.run), _fake_torch(), "load")
    # transformers is deeper than the kit's case: it is the caller; private module parts are dropped
    assert d["torch_api"] == "torch.add"
    assert d["caller"]["module"] == "transformers.modeling" and d["caller"]["code"] == "return ops.add(1)"
    assert d["backend_frame"]["module"] == "fakebk._ops" and d["backend_frame"]["function"] == "add"
    assert d["where"] == ("step load at transformers/modeling.py:2 (forward) calling torch.add "
                          "[backend fakebk/_ops.py:2 add]")
    assert d["error"] == "ValueError: bad add"


def test_a_backend_function_of_a_class_is_named_under_the_backend_top(tmp_path):
    ops = _backend_ops(tmp_path)
    case = _module(tmp_path, "safetensors.torch", "def load():\n    return ops.Frob.run()\n", ops=ops)
    assert describe_failure(_raise(case.load), _fake_torch(), "call")["torch_api"] == "torch.Frob.run"


def test_frames_report_module_relative_files_never_absolute_paths(tmp_path):
    ops = _backend_ops(tmp_path)
    case = _module(tmp_path, "conformance.cases.demo", "def run():\n    return ops.add(1)\n", ops=ops)
    d = describe_failure(_raise(case.run), _fake_torch(), "call")
    for frame in (d["caller"], d["backend_frame"], d["raised_in"]):
        assert not frame["file"].startswith("/") and str(tmp_path) not in repr(frame)
        assert not any(k.startswith("_") for k in frame)       # code objects and self stay out of the record


def test_the_call_recorders_wrapper_is_no_caller(tmp_path):
    ops = _backend_ops(tmp_path)
    recorder = _module(tmp_path, "conformance.calls", "def wrapped(fn, *a):\n    return fn(*a)\n")
    case = _module(tmp_path, "conformance.cases.demo", "def run():\n    return rec.wrapped(ops.add, 1)\n",
                   rec=recorder, ops=ops)
    d = describe_failure(_raise(case.run), _fake_torch(), "call")
    assert d["caller"]["module"] == "conformance.cases.demo" and d["torch_api"] == "torch.add"


def test_a_method_of_self_is_named_by_the_torch_class_that_holds_it(tmp_path):
    bk = _module(tmp_path, "fakebk._module", "class Module:\n    def train(self):\n        raise RuntimeError('no')\n")
    torch = _fake_torch()
    torch.nn.Module = bk.Module
    case = _module(tmp_path, "conformance.cases.demo", "def run(m):\n    return m.train()\n")
    d = describe_failure(_raise(lambda: case.run(bk.Module())), torch, "call")
    assert d["torch_api"] == "torch.nn.Module.train"


def test_a_method_patched_in_from_elsewhere_is_named_by_the_class_it_is_on(tmp_path):
    bk = _module(tmp_path, "fakebk._patch", "def to(self):\n    raise RuntimeError('no')\n")
    Tensor.to = bk.to
    try:
        case = _module(tmp_path, "conformance.cases.demo", "def run(t):\n    return t.to()\n")
        d = describe_failure(_raise(lambda: case.run(Tensor())), _fake_torch(), "call")
    finally:
        del Tensor.to
    assert d["torch_api"] == "torch.Tensor.to"


def test_a_method_the_call_log_wrapped_is_still_found_through_its_wrapper(tmp_path):
    import functools
    bk = _module(tmp_path, "fakebk._patch", "def numpy(self):\n    raise RuntimeError('no')\n")

    @functools.wraps(bk.numpy)
    def logged(self, *a):        # what conformance/calls.py puts on the class in place of the method
        return bk.numpy(self, *a)
    Tensor.numpy = logged
    try:
        case = _module(tmp_path, "conformance.cases.demo", "def run(t):\n    return t.numpy()\n")
        d = describe_failure(_raise(lambda: case.run(Tensor())), _fake_torch(), "call")
    finally:
        del Tensor.numpy
    assert d["torch_api"] == "torch.Tensor.numpy"


def test_a_missing_module_attribute_is_the_api(tmp_path):
    torch = _fake_torch()
    case = _module(tmp_path, "conformance.cases.demo", "def run():\n    return torch.nn.fold\n", torch=torch)
    assert describe_failure(_raise(case.run), torch, "call")["torch_api"] == "torch.nn.fold"


def test_a_private_class_missing_an_attribute_stands_for_its_public_class(tmp_path):
    torch = _fake_torch()

    class _CPUTensor(Tensor):
        pass
    case = _module(tmp_path, "conformance.cases.demo", "def run(t):\n    return t.is_pinned\n")
    assert describe_failure(_raise(lambda: case.run(_CPUTensor())), torch, "call")["torch_api"] == "Tensor.is_pinned"


def test_an_attribute_error_without_its_object_is_read_from_the_message(tmp_path):
    def boom():
        raise AttributeError("module 'fakebk._C' has no attribute '_jit'")
    assert describe_failure(_raise(boom), _fake_torch(), "call")["torch_api"] == "torch._jit"   # private parts dropped


def test_an_import_error_names_what_the_calling_line_imports(tmp_path):
    def refuse_import(*args, **kwargs):
        raise ImportError("cannot import name 'Fold' from 'fakebk.nn'")
    case = _module(tmp_path, "conformance.cases.demo", "def run():\n    from torch.nn import Fold  # noqa\n",
                   __builtins__={"__import__": refuse_import})
    assert describe_failure(_raise(case.run), _fake_torch(), "call")["torch_api"] == "torch.nn.Fold"


def test_a_missing_backend_submodule_is_named_as_torch(tmp_path):
    def run():
        raise ModuleNotFoundError("No module named 'fakebk.distributed'")
    case = _module(tmp_path, "conformance.cases.demo", "def go():\n    return run()\n", run=run)
    assert describe_failure(_raise(case.go), _fake_torch(), "call")["torch_api"] == "torch.distributed"
    other = _module(tmp_path, "conformance.cases.other", "def go():\n    return run()\n",
                    run=lambda: (_ for _ in ()).throw(ModuleNotFoundError("No module named 'numpy.x'")))
    assert describe_failure(_raise(other.go), _fake_torch(), "call")["torch_api"] is None   # not the backend's


def test_a_type_error_refused_before_the_body_ran_is_named_by_its_message(tmp_path):
    dotted = _module(tmp_path, "conformance.cases.dotted", "def run():\n    return refuse()\n",
                     refuse=lambda: (_ for _ in ()).throw(TypeError("Tensor.view() takes 2 positional arguments")))
    assert describe_failure(_raise(dotted.run), _fake_torch(), "call")["torch_api"] == "Tensor.view"


def test_a_function_refused_before_its_body_ran_is_the_torch_call_of_that_name_on_the_calling_line(tmp_path):
    # Python names a plain function by its bare name ("add() got an unexpected keyword argument"): the API
    # is the calling line's torch call of that name, not "add"
    def add(*a, **k):      # raises as a backend's module-level add refusing its keyword does
        raise TypeError("add() got an unexpected keyword argument 'alpha2'")
    case = _module(tmp_path, "conformance.cases.kw", "def run():\n    return torch.nn.functional.add(1, alpha2=2)\n",
                   torch=types.SimpleNamespace(nn=types.SimpleNamespace(functional=types.SimpleNamespace(add=add))))
    assert describe_failure(_raise(case.run), _fake_torch(), "call")["torch_api"] == "torch.nn.functional.add"


def test_without_a_backend_frame_the_calling_lines_torch_call_is_the_api(tmp_path):
    def fail(*a):
        raise ValueError("nope")
    case = _module(tmp_path, "conformance.cases.demo", "def run():\n    return fail(torch.linalg.svd)\n",
                   fail=fail, torch=types.SimpleNamespace(linalg=types.SimpleNamespace(svd=None)))
    assert describe_failure(_raise(case.run), _fake_torch(), "call")["torch_api"] == "torch.linalg.svd"


def test_a_generated_stand_in_is_named_by_the_one_called_method_its_message_names(tmp_path):
    bk = _module(tmp_path, "fakebk._stubs", "def make():\n    def stub(*a):\n        raise NotImplementedError("
                 "'pin_memory is not supported')\n    return stub\n")
    stub = bk.make()
    case = _module(tmp_path, "conformance.cases.demo", "def run(t):\n    return t.clone().pin_memory()\n")

    class T:
        clone = lambda self: self     # noqa: E731
        pin_memory = staticmethod(stub)
    torch = _fake_torch()
    torch.Tensor.pin_memory = None
    try:
        assert describe_failure(_raise(lambda: case.run(T())), torch, "call")["torch_api"] == "Tensor.pin_memory"
    finally:
        del torch.Tensor.pin_memory
    assert describe_failure(_raise(lambda: case.run(T())), torch, "call")["torch_api"] == "torch.pin_memory"
    both = _module(tmp_path, "conformance.cases.both", "def run(t):\n    return t.clone().pin_memory()\n")
    bk2 = _module(tmp_path, "fakebk._stubs2", "def make():\n    def stub(*a):\n        raise NotImplementedError("
                  "'clone then pin_memory')\n    return stub\n")
    T.pin_memory = staticmethod(bk2.make())
    # two called methods named in the message: no guess
    assert describe_failure(_raise(lambda: both.run(T())), torch, "call")["torch_api"] is None


def test_a_module_target_counts_its_own_code_as_backend(tmp_path, monkeypatch):
    shim = _module(tmp_path, "myshim.ops", "def add(x):\n    raise ValueError('x')\n")
    case = _module(tmp_path, "conformance.cases.demo", "def run():\n    return shim.add(1)\n", shim=shim)
    assert describe_failure(_raise(case.run), _fake_torch(), "call")["backend_frame"] is None
    monkeypatch.setenv(TARGET_ARGS_ENV, '["--target", "module:myshim"]')
    d = describe_failure(_raise(case.run), _fake_torch(), "call")
    assert d["backend_frame"]["module"] == "myshim.ops" and d["torch_api"] == "torch.ops.add"


def test_raise_from_describes_the_original_failure(tmp_path):
    ops = _backend_ops(tmp_path)
    case = _module(tmp_path, "conformance.cases.demo",
                   "def run():\n    try:\n        ops.add(1)\n    except ValueError as e:\n"
                   "        raise RuntimeError('wrapped') from e\n", ops=ops)
    d = describe_failure(_raise(case.run), _fake_torch(), "call")
    assert d["torch_api"] == "torch.add" and d["caller"]["line"] == 3
    assert d["error"] == "ValueError: bad add (surfacing as RuntimeError: wrapped)"


def test_scrub_keeps_only_the_last_component_of_absolute_paths():
    assert scrub("File /home/u/site-packages/torch/nn.py, line 3") == "File …/nn.py, line 3"
    assert scrub("'/tmp/x/y.bin'") == "'…/y.bin'"
    assert scrub("see a/b/c.py and ./d/e.py") == "see a/b/c.py and ./d/e.py"    # relative paths stay


def test_an_error_message_with_an_absolute_path_is_scrubbed(tmp_path):
    def boom():
        raise OSError(f"cannot open {tmp_path}/weights/model.bin")
    assert describe_failure(_raise(boom), _fake_torch(), "call")["error"] == "OSError: cannot open …/model.bin"


def test_blamed_gives_the_api_and_where_it_was_called(tmp_path):
    ops = _backend_ops(tmp_path)
    case = _module(tmp_path, "conformance.cases.demo", "def run():\n    return ops.add(1)\n", ops=ops)
    assert blamed(_raise(case.run), _fake_torch()) == {"torch_api": "torch.add",
                                                        "called_at": "conformance/cases/demo.py:2"}


def test_a_recorded_calls_api_wins_even_on_a_cause_or_context(tmp_path):
    ops = _backend_ops(tmp_path)
    case = _module(tmp_path, "conformance.cases.demo", "def run():\n    return ops.add(1)\n", ops=ops)
    inner = _raise(case.run)
    setattr(inner, API_ATTR, "Tensor.add_")

    def later():
        try:
            raise inner
        except ValueError:
            raise KeyError("while handling")    # noqa: B904 - the context chain is what is read
    assert blamed(_raise(later), _fake_torch())["torch_api"] == "Tensor.add_"


def test_blamed_gives_nothing_for_a_traceback_it_cannot_read():
    class Unreadable(Exception):
        @property
        def __traceback__(self):
            raise RuntimeError("broken")
    assert blamed(Unreadable(), _fake_torch()) == {}
