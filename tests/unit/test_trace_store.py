"""Recordings (conformance/trace/store.py): a recording may come from anyone, so only regular files of bounded
size are read, a blob only from the recording's own blobs/ and only when its bytes are its name; rebuilt arrays
keep the recorded layout and alignment, and every relaid variant holds the same values."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from conformance.trace import store


def f32_tensor(values, shape, stride, offset=0) -> tuple[dict, bytes]:
    data = np.asarray(values, dtype=np.float32).tobytes()
    sha = hashlib.sha256(data).hexdigest()
    return ({"k": "tensor", "dtype": "float32", "shape": shape, "stride": stride, "offset": offset,
             "nbytes": len(data), "align": 40, "blob": sha}, data)   # 40: no allocator gives it by chance


def recording(tmp_path, data: bytes, spec: dict):
    folder = tmp_path / "rec"
    store.write_blob(folder, data)
    (folder / "trace.json").write_text(json.dumps({
        "schema": store.SCHEMA, "workload": "script:/x/run.py",
        "calls": [{"i": 0, "api": "torch.add", "phase": "script", "args": [spec], "kwargs": {}}]}))
    return folder


def test_a_recording_reads_its_blobs_by_their_sha256(tmp_path):
    spec, data = f32_tensor(range(6), [2, 3], [3, 1])
    rec = store.Recording(recording(tmp_path, data, spec))
    rec.check_blobs()
    assert rec.blob(spec["blob"]) == data and rec.label == "script-run"


def test_a_blob_whose_bytes_are_not_its_name_is_refused(tmp_path):
    spec, data = f32_tensor(range(6), [2, 3], [3, 1])
    folder = recording(tmp_path, data, spec)
    (folder / "blobs" / f"{spec['blob']}.bin").write_bytes(b"\0" * len(data))
    with pytest.raises(store.TraceError, match="does not hold the bytes it is named after"):
        store.Recording(folder).check_blobs()


def test_a_symlinked_blob_or_blobs_folder_is_never_followed(tmp_path):
    spec, data = f32_tensor(range(6), [2, 3], [3, 1])
    folder = recording(tmp_path, data, spec)
    real = tmp_path / "elsewhere.bin"
    real.write_bytes(data)
    blob = folder / "blobs" / f"{spec['blob']}.bin"
    blob.unlink()
    blob.symlink_to(real)
    with pytest.raises(store.TraceError, match="lacks blob"):
        store.Recording(folder).blob(spec["blob"])
    (folder / "blobs").rename(tmp_path / "b2")
    (folder / "blobs").symlink_to(tmp_path / "b2")
    with pytest.raises(store.TraceError, match="blobs/ is a symlink"):
        store.Recording(folder).blob(spec["blob"])


def test_a_trace_that_is_not_a_recording_is_one_line(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "trace.json").write_text(json.dumps({"schema": store.SCHEMA, "workload": "", "calls": []}))
    with pytest.raises(store.TraceError, match=r"is not a recording: \"workload\" must be a non-empty string; record "
                                               r"it again"):
        store.Recording(folder)
    (folder / "trace.json").write_text("[" * 100_000)
    with pytest.raises(store.TraceError, match="unreadable recording"):
        store.Recording(folder)


def test_read_bounded_takes_only_regular_files_up_to_the_limit(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x" * 10)
    assert store.read_bounded(f, 10) == b"x" * 10
    with pytest.raises(OSError, match="more than the 9"):
        store.read_bounded(f, 9)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match="not a regular file"):
        store.read_bounded(tmp_path / "fifo", 10)


def test_a_rebuilt_array_keeps_layout_offset_and_alignment():
    spec, data = f32_tensor(range(8), [3], [2], offset=1)
    a = store.build_ndarray(spec, data)
    assert a.tolist() == [1.0, 3.0, 5.0] and a.strides == (8,) and a.ctypes.data % store.ALIGN == 40 + 4
    assert a.flags.writeable and store.expected_view(spec, data).tolist() == [1.0, 3.0, 5.0]


@pytest.mark.parametrize("how", store.VARIANTS)
def test_every_relaid_variant_holds_the_same_values(how):
    spec, data = f32_tensor(range(6), [2, 3], [3, 1])
    new, new_data = store.relaid(spec, data, how)
    assert store.expected_view(new, new_data).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert store.layout_of(new, new_data)["sha256"] == store.layout_of(spec, data)["sha256"]


def test_significant_strides_leave_out_size_one_dimensions():
    assert store.significant([2, 1, 3], [3, 99, 1]) == [3, None, 1]
    assert store.significant([2, 0], [5, 1]) == [None, None]
    assert store.contiguous_layout([2, 0, 3]) == [3, 3, 1]
