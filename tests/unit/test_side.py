"""Which side a process is on (conformance/side.py): a worker's exported --target, else where torch came from."""
from __future__ import annotations

import json
from types import SimpleNamespace as NS

import pytest

from conformance import side


@pytest.mark.parametrize("value, name", [
    (json.dumps(["--target", "mindtorch_v2", "--backend-path", "/x"]), "mindtorch_v2"),
    (json.dumps(["--target", "torch"]), "torch"),
    (json.dumps(["--target"]), None), (json.dumps({"target": "x"}), None), ("not json", None), ("", None),
])
def test_the_target_name_comes_from_the_workers_arguments(monkeypatch, value, name):
    monkeypatch.setenv(side.TARGET_ARGS_ENV, value)
    assert side.target_name() == name


def test_a_worker_is_the_reference_only_when_its_target_is_torch(monkeypatch):
    monkeypatch.setenv(side.TARGET_ARGS_ENV, json.dumps(["--target", "torch"]))
    assert side.is_reference(NS(__file__="/anywhere/torch/__init__.py"))
    monkeypatch.setenv(side.TARGET_ARGS_ENV, json.dumps(["--target", "pyborch"]))
    assert not side.is_reference(NS(__file__="/anywhere/torch/__init__.py"))


def test_outside_a_worker_the_reference_is_torch_from_real_torchs_folder(monkeypatch):
    from conformance.backends import base

    monkeypatch.delenv(side.TARGET_ARGS_ENV, raising=False)
    monkeypatch.setattr(base, "real_torch_dir", lambda: "/site/torch")
    assert side.is_reference(NS(__file__="/site/torch/__init__.py"))
    assert not side.is_reference(NS(__file__="/site/torchx/__init__.py")), "a folder beside it is not it"
    assert not side.is_reference(NS(__file__=None))
    monkeypatch.setattr(base, "real_torch_dir", lambda: None)
    assert not side.is_reference(NS(__file__="/site/torch/__init__.py"))
