"""The paddle declaration (backends/paddle/backend.toml, acted on by conformance/backends/adapter.py):
``--target paddle`` through paddle's own hook, ``paddle.enable_compat()``, with paddle's folder visible in
the target's sandbox; one line when paddle is not importable. Real paddle runs in ``tox -e untuned`` only;
here a stand-in package with the same hook checks the adapter's side."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import textwrap

import pytest

from kitrun import REPO, kit_env

# what paddle.enable_compat() does, reduced: a finder that answers `import torch` with this module
FAKE_PADDLE = textwrap.dedent('''
    import importlib.abc, importlib.machinery, sys

    __version__ = "3.3.1"

    class _Loader(importlib.abc.Loader):
        def create_module(self, spec):
            return sys.modules[__name__]
        def exec_module(self, module):
            pass

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            return importlib.machinery.ModuleSpec(name, _Loader()) if name == "torch" else None

    def enable_compat():
        sys.meta_path.insert(0, _Finder())
''')


def _fake(tmp_path):
    site = tmp_path / "site"
    (site / "paddle").mkdir(parents=True)
    (site / "paddle" / "__init__.py").write_text(FAKE_PADDLE)
    return site


SHOW = "import torch, conformance.backends as b; print(torch.__name__, torch.__version__)"


@pytest.mark.skipif(importlib.util.find_spec("paddle") is not None, reason="paddle is importable here")
def test_without_paddle_the_target_is_one_usage_line_saying_how_to_install_it(tmp_path):
    for cmd in (["run", "--target", "paddle", "--report-dir", str(tmp_path / "r")],
                ["exec", "--target", "paddle", "--", "python", "-c", "1"]):
        p = subprocess.run([sys.executable, "-m", "conformance", *cmd], cwd=REPO, env=kit_env(),
                           capture_output=True, text=True, timeout=120)
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert p.returncode == 4, p.stderr
        assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
        assert "pip install paddlepaddle==3.3.1" in lines[0] and "tox -e untuned" in lines[0]


def test_the_adapter_answers_import_torch_through_paddles_own_hook(tmp_path):
    site = _fake(tmp_path)
    p = subprocess.run([sys.executable, "-m", "conformance.activate", "--target", "paddle", "--backend-path",
                        str(site), "--", "-c", SHOW], cwd=REPO, env=kit_env(), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["paddle", "3.3.1"]


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="the sandbox needs bubblewrap (apt-get install bubblewrap)")
def test_paddles_folder_is_visible_in_the_sandbox_where_real_torch_is_not(tmp_path):
    site = _fake(tmp_path)
    code = SHOW + ("; import paddle, importlib.metadata as m; print(paddle.__file__, "
                   "any((d.metadata['Name'] or '').lower() == 'torch' for d in m.distributions()))")
    p = subprocess.run([sys.executable, "-m", "conformance", "exec", "--target", "paddle", "--require-sandbox",
                        "--backend-path", str(site), "--", "python", "-c", code], cwd=REPO, env=kit_env(),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    name, version, origin, torch_dist = p.stdout.split()
    assert (name, version) == ("paddle", "3.3.1") and origin == str(site / "paddle" / "__init__.py")
    assert torch_dist == "False", "real torch's distribution is visible in the target's sandbox"
