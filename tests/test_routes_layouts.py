"""routes: a reader is checked on the layouts cases hand it (transposed, stepped, at a storage offset that is
no multiple of a row, 0-d at an offset), and one that reads them right is preferred; one that changes such an
input is refused. Real torch builds the layouts; the faulty readers are the tests' own."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conformance import routes  # noqa: E402
from conformance.dtypes import DTYPES  # noqa: E402


def _ignores_offset(torch, spec, t):
    """Reads from the start of the storage, as a backend's numpy() that forgets storage_offset would."""
    return routes._checked(t.as_strided(tuple(t.shape), t.stride(), 0).numpy(), spec)


def _ignores_strides(torch, spec, t):
    """Reads numel elements from the offset on, as if every tensor were contiguous."""
    flat = np.frombuffer(bytes(t.untyped_storage()), dtype=spec.storage_numpy)
    return flat[t.storage_offset():t.storage_offset() + t.numel()].tobytes()


def _contiguous_in_place(torch, spec, t):
    """Makes a strided tensor contiguous in place before reading it: the kit would change what an API is given."""
    if not t.is_contiguous():
        t.set_(t.contiguous())
    return routes._numpy(torch, spec, t)


def _probe(monkeypatch, *readers):
    table = tuple((fn.__name__, "Tensor.numpy", True, fn, False, False) for fn in readers)
    monkeypatch.setattr(routes, "_READERS", table)
    return routes._probe_dtype(torch, DTYPES["float32"], lambda d: str(d).removeprefix("torch."))


def test_a_reader_that_reads_every_layout_right_goes_first(monkeypatch):
    out = _probe(monkeypatch, _ignores_offset, _ignores_strides, routes._numpy)
    assert [r.name for r in out.readers] == ["_numpy", "_ignores_offset", "_ignores_strides"]   # 3 wrong each: listed order
    assert out.strided and set(out.layouts.values()) == {"read right"}


@pytest.mark.parametrize("reader, wrong", [
    (_ignores_offset, {"offset", "offset transposed", "0-d at an offset"}),
    (_ignores_strides, {"transposed", "stepped", "offset transposed"}),
])
def test_the_header_names_the_layouts_the_only_reader_reads_wrong(monkeypatch, reader, wrong):
    out = _probe(monkeypatch, reader)
    assert [r.name for r in out.readers] == [reader.__name__]      # it reads the contiguous sample right
    assert not out.strided
    assert {k for k, v in out.layouts.items() if v == "read wrong"} == wrong
    assert set(out.layouts) == {name for name, _, _ in routes._LAYOUTS}


def test_a_reader_that_changes_a_strided_input_is_refused(monkeypatch):
    out = _probe(monkeypatch, _contiguous_in_place, routes._numpy)
    assert [r.name for r in out.readers] == ["_numpy"]
    assert out.refused["read _contiguous_in_place"] == routes.CHANGES_INPUT
    assert any("_contiguous_in_place: changes its input (a transposed tensor" in f for f in out.failures)


def test_a_layout_the_target_cannot_make_is_said_so_not_held_against_a_reader(monkeypatch):
    real = routes._LAYOUTS
    monkeypatch.setattr(routes, "_LAYOUTS", real + (("refused view", lambda t: t.no_such_view(), lambda a: a),))
    out = _probe(monkeypatch, routes._numpy)
    assert out.strided
    assert out.layouts["refused view"].startswith("not made: AttributeError")
