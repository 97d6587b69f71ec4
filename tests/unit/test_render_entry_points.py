"""The one table that groups case origins into entry points (conformance/render/entry_points.py)."""
from __future__ import annotations

from conformance.render import entry_points as ep


def keys(eps):
    return [e.key for e in eps]


def test_each_origin_belongs_to_one_entry_point_of_the_table():
    origins = [o for e in ep.ENTRY_POINTS for o in e.origins]
    assert len(origins) == len(set(origins))
    assert keys(ep.entry_points_of("_view2torch")) == ["load(bytes)"]
    assert keys(ep.entry_points_of("rust:safe_open(pt)")) == [ep.SAFE_OPEN]


def test_an_origin_of_several_parts_counts_for_each_in_table_order():
    got = ep.entry_points_of("_flatten, _view2torch, _flatten")
    assert keys(got) == ["load(bytes)", "save"]
    assert ep.origin_parts(" a , ,b ") == ["a", "b"] and ep.origin_parts("") == ["?"] and ep.origin_parts(None) == ["?"]


def test_an_unknown_origin_stands_alone_after_the_known_ones():
    got = ep.entry_points_of("zz_new_thing, _view2torch, aa_other")
    assert keys(got) == ["load(bytes)", "aa_other", "zz_new_thing"]
    assert not got[1].known and got[1].title == "aa_other"


def test_a_loading_matrix_row_counts_for_the_entry_point_of_its_path():
    assert keys(ep.record_entry_points({"id": "load_path[load_file-mmap-float32]", "origin": "x"})) == [ep.SAFE_OPEN]
    assert keys(ep.record_entry_points({"id": "load_path[load-bfloat16]", "origin": "x"})) == ["load(bytes)"]
    numpy = ep.record_entry_points({"id": "load_path[safe_open-numpy-int8]", "origin": "x"})
    assert keys(numpy) == ["safetensors.safe_open(numpy)"] and not numpy[0].known
    assert keys(ep.record_entry_points({"id": "load_path[other-x]", "origin": "_flatten"})) == ["save"]
    assert keys(ep.record_entry_points({})) == ["?"]


def test_origins_sort_by_their_entry_point_then_their_place_in_its_row():
    order = sorted(["safetensors.torch.save", "_flatten", "unknown", "safetensors.torch.load", "_view2torch"],
                   key=ep.origin_rank)
    assert order == ["_view2torch", "safetensors.torch.load", "_flatten", "safetensors.torch.save", "unknown"]
