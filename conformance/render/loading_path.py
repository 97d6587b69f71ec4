"""Which path safetensors' ``safe_open(framework="pt")`` takes on a backend, and why: every headline says it.

The Rust extension parses ``torch.__version__`` as major.minor.patch: at >= 2.0 it maps the file
with ``torch.UntypedStorage.from_file`` (the torch-storage path; ``ByteStorage`` for 1.11 to 2.0),
below 1.11 it maps the file itself and hands the bytes to ``torch.frombuffer``. The run's header
says which (``run.loading_path``); results written before that are read from ``run.target_env.version``.
"""
from __future__ import annotations

from typing import Any

from ..loading_path import decide, rust_version

STORAGE_NEEDS = ("torch.UntypedStorage.from_file(path, shared=False, nbytes=n)", "UntypedStorage.__getitem__(slice)",
                 "torch.asarray(storage, dtype=torch.uint8)", "Tensor.view(dtype=)", "Tensor.reshape")
FROMBUFFER_NEEDS = ("torch.frombuffer(buffer, dtype=)", "Tensor.reshape")


def of(header: dict[str, Any]) -> dict[str, str]:
    """{"path": "storage"|"frombuffer"|"none", "why": ..., "version": ..., "other": what the other path needs}."""
    lp = header.get("loading_path")
    env = header.get("target_env") or {}
    version = env.get("version")
    if not isinstance(lp, dict) or "path" not in lp:
        lp = decide(version) if env else None     # results written before run.loading_path existed
    if lp is None:
        path, why = "unknown", "the run did not record the target's torch.__version__"
    else:
        version = lp.get("version", version)
        path, why = str(lp.get("path") or "none"), _why(lp, version)
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


def _why(lp: dict[str, Any], version: Any) -> str:
    """The recorded reason, with the version the Rust parser read from it."""
    why = str(lp.get("why") or "")
    parsed = rust_version(str(version)) if isinstance(version, str) else None
    if parsed and ".".join(map(str, parsed)) not in why:
        why += f" (parsed as {'.'.join(map(str, parsed))})"
    return why


TITLES = {"storage": "the torch-storage path", "frombuffer": "the Rust mmap + torch.frombuffer path",
          "none": "no path (safe_open(pt) fails first)", "unknown": "an unknown path"}


def sentence(header: dict[str, Any]) -> str:
    """One line for a headline: which path, why, and what the other one would need."""
    lp = of(header)
    other = "" if "would need" in lp["why"] else f"; {lp['other']}"
    return f"safetensors' safe_open(pt) takes {TITLES.get(lp['path'], lp['path'])} here ({lp['why']}){other}."
