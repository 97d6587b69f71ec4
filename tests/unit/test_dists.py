"""Installed distributions' versions (conformance/dists.py): what the oracle cache and headers are keyed by."""
from __future__ import annotations

from conformance import dists


def test_an_installed_distribution_has_its_version_and_an_absent_one_none():
    import pytest

    assert dists.dist_version("pytest") == pytest.__version__
    assert dists.dist_version("no-such-distribution-of-the-kit") is None


def test_the_runner_passes_the_oracles_torch_version_down(monkeypatch):
    monkeypatch.setenv(dists.ORACLE_TORCH_ENV, "9.9.9+passed-down")
    assert dists.oracle_torch_version() == "9.9.9+passed-down"
    monkeypatch.delenv(dists.ORACLE_TORCH_ENV)
    assert dists.oracle_torch_version() == dists.installed_torch_version()


def test_the_torch_version_is_read_beside_real_torchs_folder_not_from_a_proxy(monkeypatch, tmp_path):
    from conformance.backends import base

    real = tmp_path / "site"
    (real / "torch").mkdir(parents=True)
    info = real / "torch-9.8.7.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 9.8.7\n")
    (real / "torch_other-1.0.dist-info").mkdir()      # another distribution beside it is not read as torch's
    (real / "torch_other-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 6.6\n")
    monkeypatch.setattr(base, "real_torch_dir", lambda: str(real / "torch"))
    dists.installed_torch_version.cache_clear()      # read once a process
    try:
        assert dists.installed_torch_version() == "9.8.7"
    finally:
        dists.installed_torch_version.cache_clear()
