"""Before the first case: the run's settings checked, the target's sandbox planned, the workloads made and the
oracle recorded on the target's loading path."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import guard, loading_path
from .client import WorkerStartError
from .oracle_cache import CacheError, OracleCache, ensure_recorded
from .registry import catalog_dir, load_catalog
from .run_state import State, is_controller


def names_the_catalog(config: pytest.Config) -> bool:
    cat = catalog_dir().resolve()
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == cat or cat in path.parents:
            return True
    return False


def make_sandbox(config: pytest.Config, state: State, cache_root: Path) -> None:
    """The target's own world (conformance/sandbox.py): real torch hidden unless the target is built on
    it, the kit's state out of reach. Without bubblewrap the run says so, or stops (--require-sandbox)."""
    from . import sandbox
    from .catalog import _hf_models
    from .dists import ORACLE_TORCH_ENV, installed_torch_version

    backend = state.backend
    if backend.uses_real_torch is None:          # module:NAME: the command line declares it, never the target
        backend.uses_real_torch = bool(config.getoption("target_uses_torch"))
    # Every process keys the tiny models and recordings by the oracle's torch, which a target cannot see.
    os.environ.setdefault(ORACLE_TORCH_ENV, installed_torch_version() or "")
    if config.getoption("no_sandbox"):
        state.sandbox_note = {"engine": None, "hides_torch": False, "why": "--no-sandbox"}
        return
    replay = os.environ.get("CONFORMANCE_REPLAY")      # a user's recording (run --replay DIR): read-only
    try:
        # the models are made later, by the runner: the folder must exist now to be bound
        _hf_models.root().mkdir(parents=True, exist_ok=True)
        state.sandbox = sandbox.for_backend(backend, cache_root, [str(_hf_models.root()), *([replay] if replay else [])],
                                            report_dir=str(state.report_dir) if state.report_dir else None)
        state.sandbox_note = state.sandbox.describe()
    except (sandbox.SandboxError, OSError) as e:
        if config.getoption("require_sandbox"):
            raise pytest.UsageError(f"--require-sandbox: {e}") from None
        state.sandbox_note = {"engine": None, "hides_torch": False, "why": str(e)}


def check_settings(config: pytest.Config, cache_root: Path, report_dir: str | None):
    """The run's settings checked before anything runs (one usage error each); the report folder's lock."""
    try:
        guard.positive_seconds(config.getoption("case_timeout"))
        guard.frame_limit()
        guard.not_a_file(cache_root, "--oracle-cache")
        if report_dir and is_controller(config):
            return guard.lock_report_dir(guard.writable_dir(Path(report_dir), "--report-dir"))
    except guard.GuardError as e:
        raise pytest.UsageError(str(e)) from None
    return None


def prepare_workloads() -> None:
    """The tiny models and the forward-pass recordings, made with real torch before a target starts: in
    its sandbox a target cannot make them (no torch there), only read them."""
    import importlib.util

    if importlib.util.find_spec("transformers") is None:
        return
    from .catalog import _hf_models
    from .trace import cache
    try:
        _hf_models.ensure_models()
        for workload in cache.WORKLOADS:
            cache.ensure_recording(workload)
    except Exception:      # noqa: BLE001  the cases that need them observe why, on their own rows
        pass


def path_cache(state: State, as_version: str) -> OracleCache:
    return OracleCache(state.cache.dir.parent, {**state.cache.key, "torch_version_as": as_version})


def record_oracle_on_path(state: State) -> None:
    """When safetensors takes another loading path for the target than for real torch (its __version__),
    the oracle is recorded again as safetensors sees a torch of that version, and the target is judged
    against that: the verdict is about the path its users take (docs/results-schema.md)."""
    oracle_path = loading_path.decide((state.oracle_hello or {}).get("version"))
    as_version = loading_path.oracle_version_for(state.loading_path(), oracle_path)
    if not as_version:
        return
    try:
        state.path_oracle, _ = ensure_recorded(path_cache(state, as_version), list(load_catalog()), state.timeout,
                                               ("--torch-version", as_version))
        state.path_oracle_version = as_version
    except (CacheError, WorkerStartError) as e:
        state.gate_problems.append(f"the oracle could not be recorded on the target's loading path "
                                   f"(torch.__version__ {as_version}): {e}; rows were judged against the storage path")
