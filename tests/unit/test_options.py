"""The run's options are declared once (conformance/options.py): the CLI and the plugin offer the same."""
from __future__ import annotations

import argparse

from conformance import cli, options, plugin


class _Group:
    def __init__(self) -> None:
        self.flags: dict[str, dict] = {}

    def addoption(self, flag: str, **kw) -> None:
        self.flags[flag] = kw


class _Parser:
    def __init__(self) -> None:
        self.group = _Group()

    def getgroup(self, *_a, **_k) -> _Group:
        return self.group


def _run_parser() -> argparse.ArgumentParser:
    sub = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def test_the_cli_and_the_plugin_offer_the_same_run_options():
    p = _Parser()
    plugin.pytest_addoption(p)
    run_flags = {s for a in _run_parser()._actions for s in a.option_strings}
    assert set(p.group.flags) == {o.flag for o in options.RUN}
    assert set(p.group.flags) <= run_flags, set(p.group.flags) - run_flags


def test_what_the_cli_is_given_reaches_pytest_spelled_alike():
    ns = _run_parser().parse_args(["--target", "pyborch", "--backend-path", "a", "--backend-path", "b",
                                   "--case-order", "reverse", "--no-sandbox", "--case-timeout", "5"])
    assert options.to_pytest_args(ns) == ["--target", "pyborch", "--backend-path", "a", "--backend-path", "b",
                                          "--case-timeout", "5.0", "--case-order", "reverse", "--no-sandbox"]


def test_an_environment_default_is_read_when_the_flag_is_absent(monkeypatch):
    monkeypatch.setenv("CONFORMANCE_TARGET_USES_TORCH", "1")
    monkeypatch.setenv("CONFORMANCE_TARGET", "pyborch")
    p = _Parser()
    plugin.pytest_addoption(p)
    assert p.group.flags["--target-uses-torch"]["default"] is True
    assert p.group.flags["--target"]["default"] == "pyborch"
