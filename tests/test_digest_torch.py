"""Digests of recorded calls (conformance/digest.py) on real torch see what matters and never a pointer; the
recorder (conformance/calls.py) wraps properties, dunders and storage methods of C-backed classes. What needs
no torch (version reads, dtypes of a backend without a dtype class, plain values) is in tests/unit/test_digest.py."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="digests are checked on real torch (pip install torch==2.13.0)")

from conformance.digest import Digest  # noqa: E402
from conformance.observe import Context, routes_for  # noqa: E402


@pytest.fixture(scope="module")
def d():
    return Digest(Context(torch, routes_for(torch)))


def test_tensors_by_dtype_shape_strides_offset_and_bytes(d):
    base = torch.arange(6, dtype=torch.int64)
    a = d.value(base[2:4])
    assert a.startswith("T int64 [2] [1] 2 ")
    assert d.value(base[2:4].clone()).startswith("T int64 [2] [1] 0 ")       # a copy: offset 0
    assert d.value(base.view(2, 3).t()).split()[3] == "[1,3]"
    assert d.value(base[2:4]) != d.value(torch.arange(2, dtype=torch.int64))   # same layout, other bytes
    assert d.value(torch.tensor([0.0])) != d.value(torch.tensor([-0.0]))


def test_results_relate_to_inputs_never_by_address(d):
    t = torch.arange(4, dtype=torch.uint8)
    assert d.result(t.view(2, 2), "Tensor.view(shape)", (t, 2, 2)).endswith("~a0")
    assert not d.result(t.clone(), "Tensor.clone", (t,)).endswith("~a0")
    assert d.result(t.add_(0), "Tensor.add_", (t, 0)).endswith("=a0")
    buf = bytearray(8)
    assert d.result(torch.frombuffer(buf, dtype=torch.uint8), "torch.frombuffer", (buf,)).endswith("~a0")
    arr = np.zeros(4, dtype=np.float32)
    assert d.result(torch.from_numpy(arr), "torch.from_numpy", (arr,)).endswith("~a0")
    v = torch.arange(4, dtype=torch.int64)[1:]
    assert d.result(v.data_ptr(), "Tensor.data_ptr", (v,)) == "ptr+8"
    s = v.untyped_storage()
    assert d.result(s.data_ptr(), "UntypedStorage.data_ptr", (s,)) == "ptr"


def test_storages_and_containers_relate_to_what_they_came_from(d):
    v = torch.arange(6, dtype=torch.int64)[2:4]
    assert d.result(v.untyped_storage(), "Tensor.untyped_storage", (v,)).endswith(" ~a0")
    copy = v.untyped_storage().clone()
    assert not d.result(copy, "Tensor.untyped_storage", (v,)).endswith("~a0")     # same bytes, other memory
    m = torch.nn.Linear(2, 3)
    assert d.result(m.state_dict(), "nn.Module.state_dict", (m,)).endswith("} ~a0:2")
    clones = {k: t.clone() for k, t in m.state_dict().items()}
    assert d.result(clones, "nn.Module.state_dict", (m,)).endswith("}")
    assert d.result(torch.split(v, 1), "torch.split", (v, 1)).endswith(") ~a0:2")
    assert d.result(torch.rand(3), "torch.rand", (3,)).endswith(" -")       # a random sample's bytes: no evidence


def test_memory_whose_place_cannot_be_read_relates_as_unknown_not_as_nothing(d, monkeypatch):
    """mindtorch_v2's meta storages raise in data_ptr(): what untyped_storage() shares with its tensor cannot be
    read, which is no evidence that it shares nothing (that read fails on the row's own API, data_ptr)."""
    t = torch.empty(2, 3, device="meta")
    s = t.untyped_storage()
    assert d.result(s, "Tensor.untyped_storage", (t,)).endswith(" ~a0")        # torch's: data_ptr 0, spans meet

    def raises(self):
        raise RuntimeError("meta tensor has no data")
    monkeypatch.setattr(torch.UntypedStorage, "data_ptr", raises)
    monkeypatch.setattr(torch.Tensor, "data_ptr", raises)
    assert d.result(s, "Tensor.untyped_storage", (t,)).endswith(" ~?")
    assert d.result(s, "Tensor.untyped_storage", ()).split()[-1] != "~?"        # no input to relate to


def test_a_random_sample_given_to_a_later_call_is_digested_with_its_bytes(d):
    """A model's random init (normal_) then t[0]: t[0]'s input must not be ``-`` (it would match the oracle's
    input, whose bytes differ, and its result would seem to diverge)."""
    t = torch.empty(4)
    d.forget()
    assert d.result(t.normal_(), "Tensor.normal_", (t,)).split()[5] == "-"
    assert d.given((t, 0), {}).split(",")[0].split()[5] != "-"


def test_storages_that_are_copies_leave_views_related_by_their_elements():
    """Where untyped_storage() hands out a copy on each call, storages say nothing of aliasing: tensors are
    related by the bytes their elements occupy, and a storage that is a copy relates to nothing."""
    d = Digest(Context(torch, routes_for(torch)))
    d.stable = False
    t = torch.arange(6, dtype=torch.int64)
    assert d.result(t[1:3], "Tensor.__getitem__", (t, slice(1, 3))).endswith("~a0")
    assert d.result(t.t(), "Tensor.t", (t,)).endswith("~a0")
    assert not d.result(t.clone(), "Tensor.clone", (t,)).endswith("~a0")
    assert not d.result(t.untyped_storage().clone(), "Tensor.untyped_storage", (t,)).endswith("~a0")
    assert d.result(t.data_ptr(), "Tensor.data_ptr", (t,)) == "?"      # no storage to measure it from


def test_storages_scalars_and_metadata(d):
    s = torch.arange(4, dtype=torch.uint8).untyped_storage()
    assert d.value(s).startswith("S 4 ") and d.value(s) != d.value(torch.zeros(4, dtype=torch.uint8).untyped_storage())
    assert d.value(torch.float32) == "dt:float32" and d.value(torch.device("cpu")) == "dev:cpu"
    assert d.value(torch.strided) == "lay:torch.strided" and d.value("torch.strided") == "'torch.strided'"
    assert d.value(torch.Size([2, 3])) == "Z[2, 3]" and d.value((2, 3)) == "t(2, 3)"
    assert d.value(1.5) == (1.5).hex() and d.value("/tmp/abc123/in.safetensors") == "path:in.safetensors"
    assert d.value(torch.__version__) == repr(str(torch.__version__))
    assert d.value(list(range(100))).startswith("l[100 items #")


def test_the_recorder_on_real_torch_sees_properties_dunders_and_rust_calls(tmp_path):
    """In a fresh process: installing the recorder changes torch's classes for good."""
    code = textwrap.dedent("""
        import torch, json
        from conformance import calls
        from conformance.digest import Digest
        from conformance.observe import Context, routes_for
        import safetensors.torch as st
        d = Digest(Context(torch, routes_for(torch)))
        log = calls.CallLog(d.result, d.given, None, d.forget)
        info = calls.install(torch, log)
        path = %r
        st.save_file({"a": torch.arange(6, dtype=torch.float32).view(2, 3)}, path)
        log.start()
        t = torch.arange(4, dtype=torch.float32)
        t.layout; 1.0 + t; t == t; 2 in t; t.view(torch.int32); t.view(-1); t.view(2, 2); t.copy_(t)
        with st.safe_open(path, "pt") as f:
            f.get_tensor("a")
        print(json.dumps({"apis": [e[0] for e in log.stop()], "unrecorded": info["unrecorded"]}))
    """ % str(tmp_path / "x.safetensors"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    import json
    got = json.loads(out.stdout.strip().splitlines()[-1])
    apis = got["apis"]
    for api in ("Tensor.layout", "Tensor.__radd__", "Tensor.__eq__", "Tensor.__contains__", "Tensor.view(dtype)",
                "Tensor.view(-1)", "Tensor.view(shape)", "Tensor.copy_", "torch.arange", "torch.__version__",
                "UntypedStorage.from_file"):
        assert api in apis, (api, apis)
    assert any(u.startswith("device:") for u in got["unrecorded"])     # a C type: said, not recorded


def test_a_module_is_digested_with_its_weights(d):
    """nn.Module.state_dict given two modules of one class, one randomly initialised: other inputs."""
    torch.manual_seed(0)
    a = torch.nn.Linear(2, 3)
    torch.manual_seed(0)
    b = torch.nn.Linear(2, 3)
    d.forget()
    assert d.value(a) == d.value(b) and d.value(a).startswith("module Linear training=True p2#")
    with torch.no_grad():
        b.weight.add_(1)
    d.forget()
    assert d.value(a) != d.value(b)
    assert d.value(torch.nn.Sequential(a)) != d.value(torch.nn.Sequential(b))


def test_a_class_is_a_class_whatever_its_metaclass(d):
    meta = type("Meta", (type,), {})
    assert d.value(torch.device) == d.value(meta("device", (), {})) == "class"
    assert d.value(lambda: None) != "class"
