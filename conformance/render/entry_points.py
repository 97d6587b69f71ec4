"""The one table that groups case origins into the safetensors entry points a user calls.

A case's ``origin`` names the safetensors function that uses the API (``_view2torch``,
``rust:safe_open(pt)``, ...); users call entry points (``load``, ``safe_open``, ``save``). Every
report reads the mapping from here. An origin missing from the table is not dropped: it becomes
an entry point of its own name, so a new catalog module shows up before anyone edits this file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class EntryPoint:
    key: str                  # short and stable: used in anchors and sort orders
    title: str                # what a user calls
    origins: tuple[str, ...]  # case origins that make it work
    used_by: str = ""         # who depends on it, for the reader
    known: bool = True        # False for an origin the table does not know


# In order of use: `load` and `safe_open(pt)` are what most model loading goes through. The
# end-to-end origins (``safetensors.torch.save`` ...) are cases that call the entry point itself.
# Origins not listed (save_model, the loading-strategy matrix, ...) show under their own name.
ENTRY_POINTS: tuple[EntryPoint, ...] = (
    EntryPoint("load(bytes)", "safetensors.torch.load(bytes)", ("_view2torch", "safetensors.torch.load"),
               "loading from bytes in memory (deserialized in Python)"),
    EntryPoint("safe_open(pt)", 'safe_open(framework="pt") / load_file',
               ("rust:safe_open(pt)", "safetensors.safe_open(pt)", "safetensors.torch.load_file"),
               "transformers' from_pretrained, diffusers, accelerate: any load_file"),
    EntryPoint("save", "safetensors.torch.save / save_file",
               ("_tobytes/_to_ndarray", "_flatten", "_find_shared_tensors", "storage_ptr/storage_size/_end_ptr",
                "safetensors.torch.save", "safetensors.torch.save_file"),
               "save_pretrained, checkpoint writers"),
    EntryPoint('load_file(backend="pread")', 'safetensors.torch.load_file(backend="pread")',
               ("rust:safe_open(pt) pread",), "loading without mmap (network file systems)"),
)
SAFE_OPEN = "safe_open(pt)"   # the entry point the checklist names explicitly (from_pretrained)

# Catalog modules whose cases call an entry point itself (end to end): an entry point works when these
# rows pass; the per-API rows of the other modules are the APIs it leans on.
E2E_MODULES = ("st_entrypoints", "transformers_e2e")
# The loading-strategy matrix (load_path[<path>-<dtype>]) loads through one entry point per path.
_LOAD_PATHS = {"load": "load(bytes)", "load_file-mmap": "safe_open(pt)", "safe_open-pt": "safe_open(pt)",
               "load_file-pread": 'load_file(backend="pread")', "safe_open-numpy": "safetensors.safe_open(numpy)"}
_LOAD_PATH_ID = re.compile(r"^load_path\[(" + "|".join(map(re.escape, _LOAD_PATHS)) + r")-")

_BY_ORIGIN = {origin: ep for ep in ENTRY_POINTS for origin in ep.origins}
_RANK = {ep.key: i for i, ep in enumerate(ENTRY_POINTS)}


def origin_parts(origin: str) -> list[str]:
    """A case may name several origins (``"_tobytes/_to_ndarray, _flatten"``)."""
    return [p.strip() for p in (origin or "?").split(",") if p.strip()] or ["?"]


def entry_points_of(origin: str) -> list[EntryPoint]:
    """The entry points a case of ``origin`` belongs to, in table order; unknown parts stand alone."""
    out: list[EntryPoint] = []
    for part in origin_parts(origin):
        ep = _BY_ORIGIN.get(part) or EntryPoint(part, part, (part,), "", known=False)
        if ep not in out:
            out.append(ep)
    return sorted(out, key=rank)


def record_entry_points(record: dict) -> list[EntryPoint]:
    """The entry points a case record counts for: its origin's, or for a loading-matrix row the entry
    point its loading path goes through."""
    m = _LOAD_PATH_ID.match(record.get("id", ""))
    if m:
        key = _LOAD_PATHS[m.group(1)]
        known = next((ep for ep in ENTRY_POINTS if ep.key == key), None)
        return [known or entry_points_of(key)[0]]
    return entry_points_of(record.get("origin", "?"))


def rank(ep: EntryPoint) -> tuple[int, str]:
    """Table order first, then unknown origins by name."""
    return (_RANK.get(ep.key, len(_RANK)), ep.key)


def origin_rank(origin: str) -> tuple[int, int, str]:
    """Sort origins by the first entry point they serve, then by their order in that entry's row."""
    first = origin_parts(origin)[0]
    ep = entry_points_of(first)[0]
    pos = ep.origins.index(first) if first in ep.origins else 0
    return (rank(ep)[0], pos, origin)
