"""A backend's declaration (conformance/backends/declaration.py): backends/<name>/backend.toml read as data,
and every unusable one refused in one line naming the file, the field and the fix."""
from __future__ import annotations

from pathlib import Path

import pytest

from conformance.backends import declaration as d

GOOD = """\
module = "fake"
uses_real_torch = false
pip = "fake==1.0"
[sources]
env = "FAKE_SRC"
look_in = ["../fake/src"]
example = "/path/to/fake/src"
[hook]
call = "fake._hook:install"
optional = true
[expectations]
default = "expectations.txt"
with_hook = "expectations-hook.txt"
"""


def _write(tmp_path: Path, text: str, name: str = "fake") -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    for f in ("expectations.txt", "expectations-hook.txt"):
        (folder / f).write_text("")
    (folder / d.FILE).write_text(text)
    return folder / d.FILE


def test_every_field_is_read(tmp_path):
    _write(tmp_path, GOOD)
    decl = d.load("fake", tmp_path)
    assert (decl.name, decl.module, decl.package, decl.uses_real_torch, decl.pip) == \
        ("fake", "fake", "fake", False, "fake==1.0")
    assert decl.sources == d.Sources("FAKE_SRC", ("../fake/src",), "the folder that contains fake/", "/path/to/fake/src")
    assert decl.hook == d.Hook("fake._hook", "install", True)
    assert decl.hook.spelled() == "fake._hook.install()" and decl.hook.file() == "fake/_hook.py"
    assert decl.expectations == {"default": "expectations.txt", "with_hook": "expectations-hook.txt"}
    assert decl.folder == tmp_path / "fake"


def test_the_smallest_declaration_is_a_module_and_whether_it_is_built_on_torch(tmp_path):
    _write(tmp_path, 'module = "pkg.sub"\nuses_real_torch = true\n')
    decl = d.load("fake", tmp_path)
    assert decl.package == "pkg" and decl.uses_real_torch is True
    assert (decl.sources, decl.hook, decl.expectations, decl.pip) == (None, None, None, None)
    assert decl.install_hint() == "install it, or put its folder on PYTHONPATH or pass --backend-path DIR"


def test_the_install_hint_says_pip_install_or_the_declared_sentence(tmp_path):
    _write(tmp_path, 'module = "m"\nuses_real_torch = false\npip = "m==2"\n')
    assert "pip install m==2" in d.load("fake", tmp_path).install_hint()
    _write(tmp_path, 'module = "m"\nuses_real_torch = false\npip = "m==2"\ninstall = "in its own env: pip install {pip}"\n')
    assert d.load("fake", tmp_path).install_hint() == "in its own env: pip install m==2"


def test_names_lists_folders_with_a_declaration_only(tmp_path):
    _write(tmp_path, GOOD, "b")
    _write(tmp_path, GOOD, "a")
    (tmp_path / "no_declaration").mkdir()
    assert d.names(tmp_path) == ["a", "b"]
    assert d.files(tmp_path) == [tmp_path / "a" / d.FILE, tmp_path / "b" / d.FILE]
    assert d.names(tmp_path / "absent") == []


def test_the_checkouts_declarations_are_all_usable():
    names = d.names()
    assert {"mindtorch_v2", "pyborch", "paddle"} <= set(names)
    for name in names:
        decl = d.load(name)
        assert decl.name == name and decl.uses_real_torch is not None
        for f in (decl.expectations or {}).values():
            assert (decl.folder / f).is_file()


@pytest.mark.parametrize("text, field, words", [
    ("module = ", None, "not TOML"),
    ('uses_real_torch = false\n', "module", "missing"),
    ('module = 3\nuses_real_torch = false\n', "module", "not a non-empty string"),
    ('module = "not a name"\nuses_real_torch = false\n', "module", "is not a module name"),
    ('module = "m"\n', "uses_real_torch", "missing"),
    ('module = "m"\nuses_real_torch = "no"\n', "uses_real_torch", "is not true or false"),
    ('module = "m"\nuses_real_torch = false\nmodul = "x"\n', "modul", "unknown field"),
    ('module = "m"\nuses_real_torch = false\nsources = 1\n', "sources", "is not a table"),
    ('module = "m"\nuses_real_torch = false\n[sources]\nexample = "/x"\nenv = "1 bad"\n', "sources.env",
     "not an environment variable name"),
    ('module = "m"\nuses_real_torch = false\n[sources]\nexample = "/x"\nlook_in = "../a"\n', "sources.look_in",
     "not a list of folders"),
    ('module = "m"\nuses_real_torch = false\n[sources]\nenv = "X"\n', "sources.example", "missing"),
    ('module = "m"\nuses_real_torch = false\n[sources]\nexample = "/x"\nwhere = 1\n', "sources.where", "unknown field"),
    ('module = "m"\nuses_real_torch = false\n[hook]\noptional = true\n', "hook.call", "missing"),
    ('module = "m"\nuses_real_torch = false\n[hook]\ncall = "m.install"\n', "hook.call", "is not module:function"),
    ('module = "m"\nuses_real_torch = false\n[hook]\ncall = "other:install"\n', "hook.call", "is not part of"),
    ('module = "m"\nuses_real_torch = false\n[hook]\ncall = "m.h:f"\noptional = 1\n', "hook.optional",
     "is not true or false"),
    ('module = "m"\nuses_real_torch = false\n[hook]\ncall = "m:f"\noptional = true\n', "hook.optional",
     "always there"),
    ('module = "m"\nuses_real_torch = false\n[expectations]\ndefault = "nope.txt"\n', "expectations.default",
     "names no file"),
    ('module = "m"\nuses_real_torch = false\n[expectations]\ndefault = "../fake/expectations.txt"\n',
     "expectations.default", "names no file"),
    ('module = "m"\nuses_real_torch = false\n[expectations]\nwith_hook = "expectations.txt"\n',
     "expectations.default", "missing"),
    ('module = "m"\nuses_real_torch = false\n[expectations]\ndefault = "expectations.txt"\n'
     'with_hook = "expectations-hook.txt"\n', "expectations.with_hook", "no [hook]"),
    ('module = "m"\nuses_real_torch = false\ninstall = "pip install {pip}"\n', "install", "no pip field"),
])
def test_a_bad_declaration_is_one_line_naming_file_field_and_fix(tmp_path, text, field, words):
    path = _write(tmp_path, text)
    with pytest.raises(d.DeclarationError) as e:
        d.load("fake", tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: {field}: " if field else f"{path}: "), msg
    assert words in msg and "; fix: " in msg and d.DOC in msg, msg


def test_an_unreadable_declaration_is_one_line_too(tmp_path):
    path = _write(tmp_path, "")
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(d.DeclarationError, match=r"cannot be read .*; fix: make it a readable UTF-8 file"):
        d.load("fake", tmp_path)
