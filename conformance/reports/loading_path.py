"""Which path safetensors' ``safe_open(framework="pt")`` takes on a backend, and why: every headline says it.

The Rust extension parses ``torch.__version__`` as major.minor.patch: at >= 2.0 it maps the file
with ``torch.UntypedStorage.from_file`` (the torch-storage path; ``ByteStorage`` for 1.11 to 2.0),
below 1.11 it maps the file itself and hands the bytes to ``torch.frombuffer``. The run's header
says which (``run.loading_path``); results written before that are read from ``run.target_env.version``.
"""
from __future__ import annotations

from typing import Any

from ..catalog.rust_safe_open import _rust_version   # the catalog's model of the Rust version parser

STORAGE_NEEDS = ("torch.UntypedStorage.from_file(path, shared=False, nbytes=n)", "UntypedStorage.__getitem__(slice)",
                 "torch.asarray(storage, dtype=torch.uint8)", "Tensor.view(dtype=)", "Tensor.reshape")
FROMBUFFER_NEEDS = ("torch.frombuffer(buffer, dtype=)", "Tensor.reshape")


def of(header: dict[str, Any]) -> dict[str, str]:
    """{"path": "storage"|"frombuffer"|"none", "why": ..., "version": ..., "other": what the other path needs}."""
    lp = header.get("loading_path")
    env = header.get("target_env") or {}
    version = env.get("version")
    if isinstance(lp, dict) and lp.get("path"):
        path, why, version = str(lp["path"]), str(lp.get("why") or ""), lp.get("version", version)
    else:
        path, why = _derive(version)
    out = {"path": path, "why": why, "version": "" if version is None else str(version)}
    if path == "storage":
        out["other"] = ("the other path (Rust mmap + torch.frombuffer, taken when __version__ parses below 1.11) "
                        "would need " + ", ".join(FROMBUFFER_NEEDS))
    elif path == "frombuffer":
        out["other"] = ("the torch-storage path (taken when __version__ parses as >= 2.0) would need "
                        + ", ".join(STORAGE_NEEDS))
    else:
        out["other"] = "either path needs a torch.__version__ string that parses as major.minor.patch"
    return out


def _derive(version: Any) -> tuple[str, str]:
    if version is None:
        return "unknown", "the run did not record the target's torch.__version__"
    if not isinstance(version, str):
        return "none", f"torch.__version__ is {version!r}, not a str: safe_open(pt) raises TypeError"
    parsed = _rust_version(version)
    if parsed is None:
        return "none", f"torch.__version__ {version!r} does not parse as major.minor.patch: safe_open(pt) fails"
    shown = ".".join(map(str, parsed))
    if parsed >= (2, 0, 0):
        return "storage", f"torch.__version__ {version!r} parses as {shown} >= 2.0: UntypedStorage.from_file"
    if parsed >= (1, 11, 0):
        return "storage", f"torch.__version__ {version!r} parses as {shown} >= 1.11: ByteStorage.from_file"
    return "frombuffer", f"torch.__version__ {version!r} parses as {shown} < 1.11: Rust mmap + torch.frombuffer"


TITLES = {"storage": "the torch-storage path", "frombuffer": "the Rust mmap + torch.frombuffer path",
          "none": "no path (safe_open(pt) fails first)", "unknown": "an unknown path"}


def sentence(header: dict[str, Any]) -> str:
    """One line for a headline: which path, why, and what the other one would need."""
    lp = of(header)
    return f"safetensors' safe_open(pt) takes {TITLES.get(lp['path'], lp['path'])} here ({lp['why']}); {lp['other']}."
