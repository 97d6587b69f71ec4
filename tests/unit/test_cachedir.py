"""A cache folder made once (conformance/cachedir.py): made whole into a temp folder and renamed into place, so
a make that fails leaves no half folder behind, and a folder holding its marker is never made again."""
from __future__ import annotations

import os

import pytest

from conformance import cachedir


def test_made_once_then_reused(tmp_path):
    folder, made = tmp_path / "models" / "v1", []

    def make(tmp):
        made.append(tmp)
        (tmp / "data").write_text("x")
        (tmp / "DONE").write_text("")

    assert cachedir.made_once(folder, "DONE", make) == folder
    assert (folder / "data").read_text() == "x" and made[0] != folder, "made elsewhere, then renamed"
    cachedir.made_once(folder, "DONE", make)
    assert len(made) == 1


def test_a_failed_make_leaves_no_half_folder(tmp_path):
    folder = tmp_path / "v1"

    def broken(tmp):
        (tmp / "half").write_text("x")
        raise RuntimeError("killed half way")

    with pytest.raises(RuntimeError):
        cachedir.made_once(folder, "DONE", broken)
    assert not folder.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1.lock"], "the temp folder is gone too"


def test_a_folder_without_its_marker_is_made_again(tmp_path):
    folder = tmp_path / "v1"
    folder.mkdir()
    (folder / "stale").write_text("from a run killed before the marker")
    cachedir.made_once(folder, "DONE", lambda tmp: (tmp / "DONE").write_text(""))
    assert sorted(os.listdir(folder)) == ["DONE"]


def test_a_subprocess_of_the_kit_imports_this_kit_first():
    env = cachedir.kit_importable({"PYTHONPATH": "/other"})
    top = env["PYTHONPATH"].split(os.pathsep)
    assert os.path.isdir(os.path.join(top[0], "conformance")) and top[1:] == ["/other"]
    assert cachedir.kit_importable({})["PYTHONPATH"] == top[0]
