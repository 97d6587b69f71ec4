"""paddle (PyPI ``paddlepaddle``, CPU) made ``torch`` through its own import hook, ``paddle.enable_compat()``.

Paddle is big (about 870 MB) and optional: it is never in the ``test`` extra or the default CI. It lives in an
environment of its own (``tox -e untuned`` makes one), whose site-packages is on ``sys.path`` or given with
``--backend-path SITE``. The folder that holds ``paddle/`` is bound into the target's sandbox with the
backend's other folders (``sandbox.for_backend``).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from .base import Backend, BackendError

INSTALL_HINT = ("install it into an environment of its own (not beside the kit's torch): "
                "python -m venv --system-site-packages ENV && ENV/bin/pip install paddlepaddle==3.3.1, then run "
                "the kit with ENV/bin/python, or pass --backend-path ENV/lib/python3.11/site-packages; "
                "tox -e untuned does both")


class PaddleBackend(Backend):
    def __init__(self, sys_path: list[str] | None = None) -> None:
        super().__init__(name="paddle", how="paddle.enable_compat() (its own import hook)",
                         uses_real_torch=False, sys_path=list(sys_path or []))
        self.package = "paddle"

    def _site(self) -> str | None:
        """The folder that holds ``paddle/``, found without importing it."""
        saved = list(sys.path)
        sys.path[:0] = self.sys_path
        try:
            spec = importlib.util.find_spec("paddle")
        except (ImportError, ValueError):
            spec = None
        finally:
            sys.path[:] = saved
        if spec is None or not spec.submodule_search_locations:
            return None
        return os.path.dirname(list(spec.submodule_search_locations)[0])

    def locate(self) -> None:
        site = self._site()
        if site is None:
            searched = " plus " + ", ".join(self.sys_path) if self.sys_path else ""
            raise BackendError(f"target 'paddle': no importable module 'paddle' (searched sys.path{searched}); "
                               + INSTALL_HINT)
        if site not in self.sys_path and site not in sys.path:
            self.sys_path.append(site)      # the workers' sandboxes bind it, their sys.path reaches it

    def activate(self) -> None:
        sys.path[:0] = self.sys_path
        try:
            paddle = importlib.import_module("paddle")
        except ModuleNotFoundError as e:
            if e.name != "paddle":
                raise
            raise BackendError(f"target 'paddle': paddle is not importable here; {INSTALL_HINT}") from None
        paddle.enable_compat()
        self.answered_by = "backend hook"
