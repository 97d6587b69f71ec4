"""Which loading path safetensors takes for a torch.__version__ (conformance/loading_path.py), parsed as
safetensors' Rust code parses it."""
from __future__ import annotations

import pytest

from conformance import loading_path as lp


@pytest.mark.parametrize("version, parsed", [
    ("2.13.0", (2, 13, 0)), ("2.13.0+cpu", (2, 13, 0)), ("1.10.2a0", (1, 10, 2)), ("+1.+2.3", (1, 2, 3)),
    ("1.11.0.dev1", (1, 11, 0)), ("255.255.255", (255, 255, 255)),
    ("256.0.0", None), ("2.13", None), ("2", None), ("", None), ("a.b.c", None), ("-1.0.0", None),
    ("2.13.x", None), ("2. 13.0", None), ("1.0.٣", None),
])
def test_rust_version_reads_major_minor_and_the_leading_digits_of_patch(version, parsed):
    assert lp.rust_version(version) == parsed


def test_the_path_follows_the_version():
    assert lp.decide("2.13.0")["path"] == lp.STORAGE
    assert lp.decide("1.11.0")["path"] == lp.STORAGE
    low = lp.decide("1.10.99")
    assert low["path"] == lp.FROMBUFFER and low["version"] == "1.10.99" and "below 1.11" in low["why"]
    assert lp.decide(None) == {"path": None, "version": None, "why": lp.decide(None)["why"]}
    assert "does not parse" in lp.decide("dev")["why"]


def test_a_version_that_is_not_a_string_is_read_as_its_str():
    class V:
        def __str__(self):
            return "2.1.0"
    assert lp.decide(V())["version"] == "2.1.0" and lp.decide(V())["path"] == lp.STORAGE


def test_storage_rows_are_off_the_path_of_a_target_below_1_11_only():
    low, high, unparsed = lp.decide("1.10.0"), lp.decide("2.0.0"), lp.decide("x")
    assert "'1.10.0'" in lp.off_path("storage", low)
    assert lp.off_path("storage", high) is None
    assert lp.off_path("storage", unparsed) is None, "an unparsable version refuses files: not off the path"
    assert lp.off_path(None, low) is None and lp.off_path("storage", None) is None


def test_the_oracle_takes_the_targets_path_when_it_is_another():
    target, oracle = lp.decide("1.10.0"), lp.decide("2.13.0")
    assert lp.oracle_version_for(target, oracle) == lp.ORACLE_AS[lp.FROMBUFFER]
    assert lp.decide(lp.oracle_version_for(target, oracle))["path"] == lp.FROMBUFFER
    assert lp.oracle_version_for(oracle, oracle) is None
    assert lp.oracle_version_for(lp.decide("x"), oracle) is None
    assert lp.oracle_version_for(None, oracle) is None and lp.oracle_version_for(target, None) is None


def test_a_refusal_over_the_version_blames_the_version():
    cause = {"api": "safetensors.safe_open", "phase": "call", "evidence": "raised"}
    obs = {"raises": "SafetensorError", "message": f"Error: {lp.REFUSAL} '1.x'"}
    blamed = lp.refusal_cause("torch.frombuffer", cause, obs)
    assert blamed["api"] == "torch.__version__" and blamed["phase"] == "chain"
    assert blamed["evidence"].endswith("; raised")
    assert lp.refusal_cause("torch.__version__", cause, obs) is cause, "the version's own rows stay its own"
    assert lp.refusal_cause("torch.frombuffer", cause, {"raises": "OSError"}) is cause
    other_phase = {**cause, "phase": "input"}
    assert lp.refusal_cause("torch.frombuffer", other_phase, obs) is other_phase
    assert lp.refusal_cause("torch.frombuffer", None, obs) is None
