"""Which code a run ran (conformance/backends/identity.py): a source tree by its files' names and bytes,
installed code by its distribution, and the run header's target_spec."""
from __future__ import annotations

import types
from pathlib import Path

from conformance.backends import identity


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_tree_is_its_code_files_names_and_bytes(tmp_path):
    a = _tree(tmp_path / "a", {"fk/__init__.py": "A = 1\n", "fk/sub/m.py": "", "fk/notes.txt": "x",
                               "fk/__pycache__/m.cpython-311.pyc": "x"})
    got = identity.describe_sources("fk", [str(a)])
    assert got["package"] == "fk" and got["location"] == str(a / "fk") and got["files"] == 2
    assert "distribution" not in got
    _tree(a, {"fk/notes.txt": "changed", "fk/__pycache__/other.pyc": "y"})
    assert identity.describe_sources("fk", [str(a)])["digest"] == got["digest"], "only code files count"
    _tree(a, {"fk/sub/m.py": "B = 2\n"})
    assert identity.describe_sources("fk", [str(a)])["digest"] != got["digest"]
    b = _tree(tmp_path / "b", {"fk/__init__.py": "A = 1\n", "fk/sub/n.py": ""})
    assert identity.describe_sources("fk", [str(b)])["digest"] != got["digest"], "a renamed file is other code"


def test_a_single_file_module_and_no_module(tmp_path):
    _tree(tmp_path, {"single_fk.py": "X = 1\n"})
    got = identity.describe_sources("single_fk", [str(tmp_path)])
    assert got["location"] == str(tmp_path / "single_fk.py") and got["files"] == 1
    assert identity.describe_sources(None, []) is None
    assert identity.describe_sources("no_such_fk_here", [str(tmp_path)]) == {"package": "no_such_fk_here",
                                                                             "location": None}


def test_installed_code_is_named_by_the_distribution_beside_it(tmp_path):
    site = _tree(tmp_path / "site-packages", {
        "fkdist/__init__.py": "",
        "fk_dist-2.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: fk-dist\nVersion: 2.0\n",
        "fk_dist-2.0.dist-info/top_level.txt": "fkdist\n"})
    got = identity.describe_sources("fkdist", [str(site)])
    assert got == {"package": "fkdist", "location": str(site / "fkdist"), "distribution": "fk-dist 2.0"}
    assert identity.token(got) == "fk-dist==2.0"


def test_token_and_differs_say_in_one_line_how_other_code_differs(tmp_path):
    tree = {"package": "fk", "location": "/x/fk", "digest": "abc", "files": 3}
    assert identity.token(tree) == "abc" and identity.token(None) is None
    assert identity.differs(None, tree) is None and identity.differs("abc", tree) is None
    assert identity.differs("def", tree) == "the run used sources def, and this finds sources abc (3 files) at /x/fk"
    assert identity.differs("def", {"package": "fk", "location": None}) == \
        "the run used sources def, and no 'fk' is found here"
    assert identity.differs("def", None) == "the run used sources def, and no None is found here"
    dist = {"package": "fk", "location": "/s/fk", "distribution": "fk 2"}
    assert identity.differs("fk==1", dist) == "the run used sources fk==1, and this finds fk 2 at /s/fk"


def test_the_target_spec_takes_who_answered_from_the_targets_own_hello():
    backend = types.SimpleNamespace(name="fake", sys_path=["/src"], uses_real_torch=False)
    hello = {"answered_by": "backend hook", "how": "fake.hook() (its own import hook)", "module": "fake"}
    spec = identity.target_spec(backend, hello, {"digest": "abc"})
    assert spec == {"target": "fake", "backend_path": ["/src"], "answered_by": "backend hook",
                    "how": "fake.hook() (its own import hook)", "declared_uses_real_torch": False,
                    "sources": {"digest": "abc"}}
    spec["backend_path"].append("/other")
    assert backend.sys_path == ["/src"], "the spec is a copy"
    assert identity.target_spec(backend, None, None)["answered_by"] is None
