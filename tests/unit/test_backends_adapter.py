"""The one adapter of declared backends and module:NAME (conformance/backends/adapter.py): where it looks,
what it says when it finds nothing, which expectations file it points to, and how it becomes ``torch``
(each activation in a fresh Python, with fake backends: nothing here needs torch)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance import backends
from conformance.backends import adapter
from conformance.backends.declaration import Declaration, Hook, Sources

KIT = Path(adapter.__file__).resolve().parents[2]
SRC = Sources("FAKE_SRC", ("../fakecheckout/src",), "a fake checkout's src/ folder", "/path/to/fake/src")


def _pkg(root: Path, name: str = "fakeb", body: str = "VALUE = 1\n") -> Path:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / "__init__.py").write_text(body)
    return root


def _decl(**kw) -> Declaration:
    return Declaration(**{"name": "fakeb", "module": "fakeb", "uses_real_torch": False, **kw})


# -- a source tree -----------------------------------------------------------------------------------

def test_sources_are_looked_for_on_the_backend_path_then_the_variable_then_look_in(tmp_path, monkeypatch):
    decl = _decl(sources=SRC)
    first, env_src = _pkg(tmp_path / "first"), _pkg(tmp_path / "env")
    sibling = _pkg(tmp_path / "fakecheckout" / "src")
    (tmp_path / "kit").mkdir()
    monkeypatch.chdir(tmp_path / "kit")
    monkeypatch.setenv("FAKE_SRC", str(env_src))
    assert adapter.find_sources(decl, [str(first)]) == str(first)
    assert adapter.find_sources(decl, [str(tmp_path / "empty")]) == str(env_src)
    monkeypatch.delenv("FAKE_SRC")
    assert adapter.find_sources(decl, []) == str(sibling)


def test_a_relative_variable_means_the_callers_folder(tmp_path, monkeypatch):
    _pkg(tmp_path / "caller" / "rel")
    monkeypatch.setenv("CONFORMANCE_CALLER_DIR", str(tmp_path / "caller"))
    monkeypatch.setenv("FAKE_SRC", "rel")
    monkeypatch.chdir(tmp_path)
    assert adapter.find_sources(_decl(sources=SRC), []) == str(tmp_path / "caller" / "rel")


def test_no_sources_is_one_message_saying_where_it_looked_and_how_to_point_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FAKE_SRC", str(tmp_path / "nothing"))
    with pytest.raises(backends.BackendError) as e:
        adapter.find_sources(_decl(sources=SRC), [])
    msg = str(e.value)
    assert msg.startswith("fakeb not found. Looked for fakeb/__init__.py in: ")
    assert f"{tmp_path / 'nothing'} ($FAKE_SRC)" in msg and str(tmp_path.parent / "fakecheckout" / "src") in msg
    assert msg.endswith("Point the kit at a fake checkout's src/ folder: export FAKE_SRC=/path/to/fake/src "
                        "(or --backend-path /path/to/fake/src).")
    no_env = _decl(sources=Sources(None, (), "its folder", "/x"))
    with pytest.raises(backends.BackendError, match=r"Point the kit at its folder: --backend-path /x\.$"):
        adapter.find_sources(no_env, [])


@pytest.mark.parametrize("wrong", ["root", "package"])
def test_a_typed_folder_one_off_names_the_folder_meant(tmp_path, monkeypatch, wrong):
    src = _pkg(tmp_path / "checkout" / "src")
    monkeypatch.delenv("FAKE_SRC", raising=False)
    given = tmp_path / "checkout" if wrong == "root" else src / "fakeb"
    with pytest.raises(backends.BackendError) as e:
        adapter.find_sources(_decl(sources=SRC), [str(given)])
    assert str(e.value).startswith(f"{given} (--backend-path) is not the folder that contains fakeb/: ")
    assert str(e.value).endswith(f"point at {src}" if wrong == "root" else f"point at its parent, {src}")


def test_locate_keeps_the_source_folder_alone_on_the_backend_path(tmp_path, monkeypatch):
    monkeypatch.delenv("FAKE_SRC", raising=False)
    src = _pkg(tmp_path / "src")
    b = adapter.DeclaredBackend(_decl(sources=SRC), [str(tmp_path / "elsewhere"), str(src)])
    b.locate()
    assert b.sys_path == [str(src)]


# -- a module on sys.path ----------------------------------------------------------------------------

def test_a_module_is_found_on_the_backend_path_and_bound_where_it_lives(tmp_path):
    site = _pkg(tmp_path / "site")
    b = adapter.DeclaredBackend(_decl(), [str(site)])
    b.locate()
    assert b.sys_path == [str(site)]              # found where it was given: nothing added
    assert adapter.DeclaredBackend(_decl(module="json"), []).sys_path == []


def test_a_missing_module_says_how_to_install_it(tmp_path):
    b = adapter.DeclaredBackend(_decl(module="no_such_fakeb_xyz", pip="fakeb==1"), [str(tmp_path)])
    with pytest.raises(backends.BackendError) as e:
        b.locate()
    assert str(e.value) == (f"target 'fakeb': no importable module 'no_such_fakeb_xyz' (searched sys.path plus "
                            f"{tmp_path}); install it (pip install fakeb==1), or put its folder on PYTHONPATH "
                            "or pass --backend-path DIR")


def test_module_targets_are_decided_by_the_command_line():
    b = backends.resolve("module:pkg.sub", ["/x"])
    assert (b.name, b.module, b.package, b.uses_real_torch, b.sys_path) == ("module:pkg.sub", "pkg.sub", "pkg", None, ["/x"])
    assert b.worker_args() == ["--target", "module:pkg.sub", "--backend-path", "/x"]
    assert b.expectations_file() is None


def test_the_declared_backends_are_targets_and_unknown_ones_are_listed():
    for name in ("mindtorch_v2", "pyborch", "paddle"):
        b = backends.resolve(name)
        assert isinstance(b, adapter.DeclaredBackend) and b.name == name and b.uses_real_torch is False
    assert backends.resolve("pyborch").how == "kit alias: import torch[.x] -> borch[.x]"
    assert backends.resolve("paddle").how == "paddle.enable_compat() (its own import hook)"
    assert backends.resolve("pyborch").expectations_file() == "backends/pyborch/expectations.txt"
    with pytest.raises(backends.BackendError) as e:
        backends.resolve("nope")
    assert str(e.value).startswith("unknown target 'nope'. Known targets: mindtorch_v2, paddle, pyborch, torch")
    with pytest.raises(backends.BackendError, match="no backend 'nope' is declared"):
        backends.declared("nope")


# -- which expectations file ---------------------------------------------------------------------------

def test_the_expectations_hint_points_from_one_file_to_the_other():
    b = adapter.DeclaredBackend(_decl(hook=Hook("fakeb._hook", "install", True),
                                      expectations={"default": "exp.txt", "with_hook": "exp-hook.txt"}))
    hooked = "fakeb._hook.install() (its own import hook)"
    aliased = "kit alias: import torch[.x] -> fakeb[.x] (no _hook in this version)"
    assert b.expectations_hint("backends/fakeb/exp.txt", hooked) == (
        "these sources ship fakeb/_hook.py, and backends/fakeb/exp.txt is for sources without it: "
        "use backends/fakeb/exp-hook.txt")
    assert b.expectations_hint("backends/fakeb/exp-hook.txt", aliased) == (
        "these sources have no fakeb/_hook.py, and backends/fakeb/exp-hook.txt is for sources with it: "
        "use backends/fakeb/exp.txt")
    assert b.expectations_hint("backends/fakeb/exp.txt", aliased) is None
    assert b.expectations_hint("backends/fakeb/exp-hook.txt", hooked) is None
    assert b.expectations_hint("my/own/exp.txt", hooked) is None, "a file of the user's own is theirs"
    assert adapter.DeclaredBackend(_decl()).expectations_hint("backends/fakeb/exp.txt", hooked) is None


# -- becoming torch (in a fresh Python each) -----------------------------------------------------------

HOOKED = '''
import sys, types
def install():
    sys.modules["torch"] = sys.modules["fakeb"]
'''


def _activate(tmp_path: Path, decl: Declaration) -> dict:
    fields = {k: getattr(decl, k) for k in ("name", "module", "uses_real_torch", "pip", "install")}
    hook = decl.hook and [decl.hook.module, decl.hook.function, decl.hook.optional]
    script = textwrap.dedent(f"""\
        import json, sys
        from conformance.backends.adapter import DeclaredBackend
        from conformance.backends.declaration import Declaration, Hook
        from conformance.backends.base import BackendError
        hook = {hook!r}
        b = DeclaredBackend(Declaration(**{fields!r}, hook=Hook(*hook) if hook else None), {[str(tmp_path)]!r})
        try:
            b.activate()
        except BackendError as e:
            print(json.dumps({{"error": str(e)}})); sys.exit()
        import torch
        print(json.dumps({{"answered_by": b.answered_by, "how": b.how, "torch": torch.__name__}}))
        """)
    p = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={"PYTHONPATH": str(KIT), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_the_backends_own_hook_answers_import_torch(tmp_path):
    _pkg(tmp_path)
    (tmp_path / "fakeb" / "_hook.py").write_text(HOOKED)
    assert _activate(tmp_path, _decl(hook=Hook("fakeb._hook", "install", True))) == {
        "answered_by": "backend hook", "how": "fakeb._hook.install() (its own import hook)", "torch": "fakeb"}


def test_sources_without_an_optional_hook_are_aliased_by_the_kit(tmp_path):
    _pkg(tmp_path)
    assert _activate(tmp_path, _decl(hook=Hook("fakeb._hook", "install", True))) == {
        "answered_by": "kit alias", "how": "kit alias: import torch[.x] -> fakeb[.x] (no _hook in this version)",
        "torch": "fakeb"}


def test_a_required_hook_whose_backend_is_absent_or_lacks_it_is_one_line(tmp_path):
    out = _activate(tmp_path, _decl(hook=Hook("fakeb", "enable", False), install="get it from somewhere"))
    assert out == {"error": "target 'fakeb': fakeb is not importable here; get it from somewhere"}
    _pkg(tmp_path)
    out = _activate(tmp_path, _decl(hook=Hook("fakeb", "enable", False)))
    assert out["error"].startswith("target 'fakeb': fakeb has no function enable (hook.call in ")


def test_without_a_hook_a_plain_module_is_aliased_by_the_kit(tmp_path):
    _pkg(tmp_path)
    assert _activate(tmp_path, _decl()) == {"answered_by": "kit alias", "how": "kit alias: import torch[.x] -> fakeb[.x]",
                                            "torch": "fakeb"}
