"""conformance/oracle_cache.py, its key and file format: the cache folder depends on every version the
oracle's answers depend on (and on nothing else, not the key's order); records.jsonl is read back only
where each record is whole, of this schema and matches its checksum, and a corrupt file is one clear line.
No oracle is started: records are appended and read back by hand."""
from __future__ import annotations

import gc
import json

import pytest

from conformance import oracle_cache
from conformance.oracle_cache import OBS_SCHEMA, CacheError, OracleCache, cache_key, checksum

VERSIONS = {"torch": "2.13.0", "safetensors": "0.8.0", "numpy": "2.1.0", "transformers": "4.57.6",
            "tokenizers": None, "huggingface_hub": "0.30.0"}


@pytest.fixture
def versions(monkeypatch):
    """The distributions' versions and importability cache_key reads, as the test sets them."""
    v = dict(VERSIONS)
    importable = {"transformers": True, "tokenizers": False, "huggingface_hub": True}
    monkeypatch.setattr(oracle_cache, "dist_version", lambda name: v[name])
    monkeypatch.setattr(oracle_cache, "_importable", lambda module: importable[module])
    return v, importable


def _folder(tmp_path, catalog="cat1"):
    return OracleCache(tmp_path, cache_key(catalog)).dir


def test_the_key_names_every_version_the_oracles_answers_depend_on(versions):
    key = cache_key("cat1")
    assert key["torch"] == "2.13.0" and key["safetensors"] == "0.8.0" and key["numpy"] == "2.1.0"
    assert key["catalog"] == "cat1" and key["records"] == OBS_SCHEMA and key["python"].count(".") == 2
    assert key["transformers"] == {"version": "4.57.6", "importable": True}
    assert key["tokenizers"] == {"version": None, "importable": False}


@pytest.mark.parametrize("change", ["torch", "safetensors", "numpy", "transformers", "huggingface_hub"])
def test_another_version_is_another_folder(tmp_path, versions, change):
    v, _ = versions
    before = _folder(tmp_path)
    v[change] = "9.9.9"
    assert _folder(tmp_path) != before


def test_another_catalog_or_a_hidden_module_is_another_folder(tmp_path, versions):
    _, importable = versions
    before = _folder(tmp_path)
    assert _folder(tmp_path, "cat2") != before
    importable["transformers"] = False        # shadowed or hidden while its metadata stays
    assert _folder(tmp_path) != before


def test_the_folder_is_named_by_the_versions_and_not_the_keys_order(tmp_path, versions):
    key = cache_key("cat1")
    folder = OracleCache(tmp_path, key).dir
    assert folder.parent == tmp_path and folder.name.startswith("torch-2.13.0_st-0.8.0_")
    assert OracleCache(tmp_path, dict(reversed(list(key.items())))).dir == folder


def test_a_checksum_reads_the_values_not_their_order():
    assert checksum({"a": 1, "b": [1, 2]}) == checksum({"b": [1, 2], "a": 1})
    assert checksum({"a": 1, "b": [1, 2]}) != checksum({"a": 1, "b": [1, 3]})


def _cache(tmp_path):
    return OracleCache(tmp_path, {"torch": "t", "safetensors": "s", "catalog": "c"})


def test_appended_records_read_back(tmp_path):
    c = _cache(tmp_path)
    c.append("a", {"value": 1})
    c.append("b", {"value": [2, "x"]})
    assert c.load() == ({"a": {"value": 1}, "b": {"value": [2, "x"]}}, None)
    assert c.warnings == []


def _edit_line(c, n, edit):
    lines = c.records_path.read_text().splitlines(keepends=True)
    rec = json.loads(lines[n])
    edit(rec)
    lines[n] = json.dumps(rec, sort_keys=True) + "\n"
    c.records_path.write_text("".join(lines))


def test_a_record_changed_after_it_was_written_is_recorded_again(tmp_path):
    c = _cache(tmp_path)
    c.append("a", {"value": 1})
    c.append("b", {"value": 2})
    _edit_line(c, 1, lambda r: r["obs"].update(value=3))
    records, _ = c.load()
    assert records == {"a": {"value": 1}}
    assert len(c.warnings) == 1 and "line 2" in c.warnings[0] and "checksum" in c.warnings[0]


def test_a_record_as_appended_reads_back_without_encoding_its_observation_again(tmp_path, monkeypatch):
    c = _cache(tmp_path)
    c.append("a", {"value": [1.5, "x"], "b": None})

    def encoded(obs):
        raise AssertionError("the observation was encoded again")

    monkeypatch.setattr(oracle_cache, "checksum", encoded)
    assert c.load() == ({"a": {"value": [1.5, "x"], "b": None}}, None) and c.warnings == []


def test_a_record_written_another_way_is_checked_by_the_observation_it_reads_back_as(tmp_path):
    """The sum is of the observation, not of the line: a line spaced otherwise still holds, and a
    changed value does not."""
    c = _cache(tmp_path)
    c.append("a", {"value": [1, 2]})
    c.append("b", {"value": 2})
    lines = c.records_path.read_text().splitlines()
    lines[0] = json.dumps(json.loads(lines[0]), separators=(",", ":"))
    lines[1] = lines[1].replace('"value": 2', '"value": 3')
    c.records_path.write_text("\n".join(lines) + "\n")
    assert c.load()[0] == {"a": {"value": [1, 2]}}
    assert len(c.warnings) == 1 and "line 2" in c.warnings[0] and "checksum" in c.warnings[0]


def test_records_are_read_outside_the_cyclic_gc_which_is_then_as_it_was(tmp_path):
    c = _cache(tmp_path)
    c.append("a", {"value": [1, 2]})
    frozen = gc.get_freeze_count()
    assert c.load()[0] == {"a": {"value": [1, 2]}} and gc.isenabled()
    assert gc.get_freeze_count() > frozen            # its full collections do not walk them again
    gc.disable()
    try:
        c.load()
        assert not gc.isenabled()
    finally:
        gc.enable()
    c.records_path.write_text("not json\n")
    with pytest.raises(CacheError):
        c.load()
    assert gc.isenabled()


def test_a_record_of_another_schema_is_recorded_again(tmp_path):
    c = _cache(tmp_path)
    c.append("a", {"value": 1})
    _edit_line(c, 0, lambda r: r.update(schema=OBS_SCHEMA + 1))
    assert c.load()[0] == {} and "schema" in c.warnings[0]


def test_a_good_record_after_a_bad_one_of_the_same_case_holds(tmp_path):
    c = _cache(tmp_path)
    c.append("a", {"value": 1})
    _edit_line(c, 0, lambda r: r.update(sum="0" * 16))
    c.append("a", {"value": 1})
    assert c.load()[0] == {"a": {"value": 1}} and c.warnings == []


def test_a_write_cut_short_is_skipped_then_dropped_by_the_next_append(tmp_path):
    c = _cache(tmp_path)
    c.append("a", {"value": 1})
    with open(c.records_path, "a") as f:
        f.write('{"case": "b", "obs": {"val')          # killed mid-write
    assert c.load()[0] == {"a": {"value": 1}}
    c.append("c", {"value": 3})
    assert c.load()[0] == {"a": {"value": 1}, "c": {"value": 3}}


def test_a_corrupt_line_is_one_clear_error_naming_it_and_the_fix(tmp_path):
    c = _cache(tmp_path)
    c.append("a", {"value": 1})
    with open(c.records_path, "a") as f:
        f.write("not json\n")
    with pytest.raises(CacheError) as e:
        c.load()
    msg = str(e.value)
    assert f"{c.records_path}:2" in msg and "--rebuild-oracle" in msg and "\n" not in msg


def test_a_symlink_in_place_of_the_records_is_never_written_through(tmp_path):
    c = _cache(tmp_path)
    c.dir.mkdir(parents=True)
    target = tmp_path / "elsewhere"
    target.write_text("")
    c.records_path.symlink_to(target)
    with pytest.raises(CacheError, match="symlink"):
        c.append("a", {"value": 1})
    assert target.read_text() == ""


def test_a_bad_record_after_a_good_one_of_the_same_case_drops_both(tmp_path):
    c = _cache(tmp_path)
    c.append("a", {"value": 1})
    c.append("a", {"value": 2})
    _edit_line(c, 1, lambda r: r["obs"].update(value=5))
    assert c.load()[0] == {}          # the earlier answer is no longer the latest one: recorded again
