"""perf.md from the loading benchmark's perf.json (conformance/render/perf.py): only a file of this format is
read (one clear line otherwise), numbers in fixed formats, a failed row's error numbered under the table and
every backend string escaped."""
from __future__ import annotations

import json

import pytest

from conformance.render import perf


def data(*rows, **kw) -> dict:
    return {"kind": perf.KIND, "format": perf.FORMAT, "rows": list(rows), **kw}


def ok_row(**kw) -> dict:
    return {"checkpoint": "small", "backend": "torch", "path": "load_file", "status": "ok", "seconds": 0.12345,
            "mb_s": 812.6, "peak_mib": 100.04, "peak_delta_mib": 3.25, "data": "mapped", "time_ratio": 1.0,
            "mem_ratio": 2.345, **kw}


@pytest.mark.parametrize("text, why", [
    ("not json", "cannot read"),
    (json.dumps({"kind": "other", "rows": []}), "is not a perf.json written by benchmarks/bench_loading.py"),
    (json.dumps({"kind": perf.KIND, "format": 1, "rows": []}), "has format 1, this kit reads 2"),
])
def test_only_a_perf_json_of_this_format_is_read(tmp_path, text, why):
    p = tmp_path / "perf.json"
    p.write_text(text)
    with pytest.raises(perf.PerfError, match=why):
        perf.load(p)
    p.write_text(json.dumps(data()))
    assert perf.load(p)["rows"] == []


def test_numbers_have_fixed_formats_and_a_failed_row_none():
    (r,) = perf.rows(data(ok_row()))
    assert (r["seconds"], r["mb_s"], r["peak_mib"], r["delta_mib"], r["time_ratio"], r["mem_ratio"]) == \
        ("0.123", "813", "100.0", "3.2", "1.00x", "2.35x")
    (bad,) = perf.rows(data(ok_row(status="failed", error="Trace\n  back", seconds=9)))
    assert bad["seconds"] == "" and bad["error"] == "Trace back"
    (odd,) = perf.rows(data(ok_row(seconds=True, mb_s="fast")))
    assert odd["seconds"] == "-" and odd["mb_s"] == "-", "only numbers are numbers"


def test_failures_are_numbered_under_the_table_and_backend_strings_escaped():
    text = perf.markdown(data(ok_row(), ok_row(backend="mt|<b>", status="failed", error="boom *x*"),
                              environment={"backends": {"mt|<b>": "0.1"}}))
    assert "| small | mt\\|\\<b\\> | load\\_file | failed (1) |" in text
    assert "1. small / mt\\|\\<b\\> / load\\_file: boom \\*x\\*" in text
    assert "Backend versions: mt\\|\\<b\\> 0.1" in text and "<b>" not in text
