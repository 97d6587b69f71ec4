"""The oracle cache key covers the kit's target-side code as a whole (registry.target_side_files)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conformance import registry

KIT = Path(registry.__file__).resolve().parent


def _names(files) -> set[str]:
    return {str(Path(f).resolve().relative_to(KIT)) for f in files}


def test_the_target_side_is_what_the_worker_and_the_catalog_import_and_nothing_of_the_session():
    side = _names(registry.target_side_files())
    assert {"worker.py", "registry.py", "side.py", "backends/base.py", "channel.py", "trace/replay.py"} <= side
    assert {str(p.relative_to(KIT)) for p in (KIT / "catalog").glob("*.py")} <= side
    assert not side & {"plugin.py", "cli.py", "oracle_cache.py", "client.py"}
    assert not any(n.startswith("render/") for n in side)


def test_every_kit_module_a_worker_loads_is_hashed():
    """What a worker process actually has loaded once its catalog is in (imports inside functions too,
    as far as the cases run at import) must be among the hashed files."""
    script = ("import json, sys, conformance.worker as w, conformance.registry as r; r.load_catalog();"
              "print(json.dumps([m.__file__ for n, m in list(sys.modules.items())"
              " if n.startswith('conformance') and getattr(m, '__file__', None)]))")
    p = subprocess.run([sys.executable, "-c", script], cwd=KIT.parent, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    loaded = _names(json.loads(p.stdout))
    assert loaded and loaded <= _names(registry.target_side_files()), loaded - _names(registry.target_side_files())


def test_a_change_to_a_target_side_file_outside_the_catalog_changes_the_digest(monkeypatch):
    before = registry.catalog_digest()
    edited, read = (KIT / "side.py").resolve(), Path.read_bytes

    def read_bytes(self: Path) -> bytes:       # side.py as if one comment were added
        return read(self) + (b"#" if self.resolve() == edited else b"")

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    assert registry.catalog_digest() != before
