"""Digests of recorded calls (conformance/digest.py) that need no torch: a fake torch module stands in. What
needs real torch (tensors, storages, the recorder) is in tests/test_digest_torch.py."""
from __future__ import annotations

import types

import pytest

from conformance.digest import Digest
from conformance.observe import Context


@pytest.fixture
def d():
    return Digest(Context(types.ModuleType("fake_torch")))


def test_version_reads_are_digested_as_the_loading_path_they_select(d):
    """A backend's own version number is no divergence where safetensors takes the oracle's path (the kit runs
    the oracle at 1.10.0 for a target below 1.11): mindtorch_v2 97aaaf23c's '0.1.0' was blamed for every
    safe_open row, although the user's call failed on the missing torch.frombuffer."""
    read = lambda v: d.result(v, "torch.__version__", ())    # noqa: E731
    assert read("0.1.0") == read("1.10.0") == "version:frombuffer"
    assert read("3.3.1") == read("2.13.0+cpu") == "version:storage"
    assert read("2.13") == "version:unparsable" != read("2.13.0")
    assert d.result("0.1.0", "torch.__doc__", ()) == "'0.1.0'"       # any other string: by value


def test_dtypes_of_a_backend_without_a_dtype_class():
    """mindtorch_v2 97aaaf23c has no torch.dtype (its class is DType): its dtype constants are still dtypes,
    by value, not 'o DType' (which blamed torch.float32 for load_model rows)."""
    class DType:
        def __init__(self, name):
            self.name = name

    fake = types.ModuleType("fake_torch")
    fake.float32, fake.int64 = DType("float32"), DType("int64")
    fd = Digest(Context(fake))
    assert fd.value(fake.float32) == "dt:float32" and fd.value(fake.int64) == "dt:int64"
    assert fd.value(DType("float32")).startswith("o ")      # not one of the module's constants: an object


def test_plain_values_by_value_and_a_temporary_path_by_its_name(d):
    assert d.value(1.5) == (1.5).hex() and d.value((2, 3)) == "t(2, 3)" and d.value("torch.strided") == "'torch.strided'"
    assert d.value("/tmp/abc123/in.safetensors") == d.value("/tmp/zz9/in.safetensors") == "path:in.safetensors"
    assert d.value(list(range(100))).startswith("l[100 items #")
    assert d.value(list(range(100))) != d.value(list(range(1, 101))), "a long list by length and content digest"


def test_a_class_is_a_class_whatever_its_metaclass(d):
    meta = type("Meta", (type,), {})
    assert d.value(meta("device", (), {})) == d.value(int) == "class"
    assert d.value(lambda: None) != "class"
