"""Real PyTorch against its own oracle: every case PASS, deterministically.

The ``oracle`` fixture's run (PYTHONHASHSEED=1) recorded the cache; here the kit runs again with other
hash seeds, with and without pytest-xdist, and must observe byte for byte the same, reading the
cache without writing to it.
"""
from __future__ import annotations

import json

from conformance.compare import diff
from kitrun import RECORDING_SEED, file_state, not_applicable, run_kit


def _differences(cases: dict, reference: dict) -> dict:
    """Per case id, how the observations differ, by the kit's own rule (compare.diff: exception
    messages, which may hold temp paths, are shown but not compared)."""
    assert set(cases) == set(reference)
    out = {i: diff(_compared(reference[i]["observed"]), _compared(c["observed"])) for i, c in cases.items()}
    return {i: d for i, d in out.items() if d}


def _compared(obs):
    """An observation without its display part (call logs, blame), which is shown and never compared."""
    return {k: v for k, v in obs.items() if k != "display"} if isinstance(obs, dict) else obs


def _all_pass(cases) -> bool:
    """Every case PASS, except those the oracle itself cannot run here (SKIP, same observation)."""
    cases = list(cases)
    return all(c["outcome"] == "PASS" or not_applicable(c) for c in cases) and \
        sum(c["outcome"] == "PASS" for c in cases) > len(cases) // 2


def test_recording_run_passes_every_case_and_records_each_once(oracle):
    results = oracle.results
    assert results["run"]["target"] == "torch"
    assert _all_pass(results["cases"])
    lines = oracle.records.read_text().splitlines()
    # Observations of a module this environment lacks (e.g. transformers) are never records: they are
    # kept beside them, in environment.json, and recorded once the module is installed.
    lacking = oracle.records.parent / "environment.json"
    lacking = set(json.loads(lacking.read_text())) if lacking.exists() else set()
    assert len(lines) + len(lacking) == len(oracle.ids) == results["run"]["cases_in_catalog"]
    assert {json.loads(line)["case"] for line in lines} | lacking == oracle.ids


def test_second_run_other_hash_seed_reuses_the_cache(oracle, tmp_path):
    seed = "2"
    assert seed != RECORDING_SEED
    run = run_kit("torch", tmp_path / "report", oracle.cache, hash_seed=seed)
    assert run.returncode == 0, run.output[-4000:]
    cases = run.cases
    assert set(cases) == oracle.ids
    assert _all_pass(cases.values())
    first = {c["id"]: c for c in oracle.results["cases"]}
    assert not _differences(cases, first), "the target observed something else under another hash seed"
    # Nothing was recorded again: the cache files are exactly as the recording run left them.
    assert file_state(oracle.records) == oracle.records_state
    assert file_state(oracle.meta) == oracle.meta_state
    assert run.results["run"]["oracle"] == oracle.results["run"]["oracle"]


def test_same_outcomes_with_and_without_xdist(oracle, tmp_path):
    run = run_kit("torch", tmp_path / "report", oracle.cache, "-n", "2", hash_seed="3")
    assert run.returncode == 0, run.output[-4000:]
    assert "bringing up nodes" in run.output, "the run did not use pytest-xdist"
    first = {c["id"]: c for c in oracle.results["cases"]}
    cases = run.cases
    assert {i: c["outcome"] for i, c in cases.items()} == {i: c["outcome"] for i, c in first.items()}
    assert not _differences(cases, first)
    assert (run.report_dir / "index.html").is_file()
    assert file_state(oracle.records) == oracle.records_state
    # Each case ran once, in one of two target processes (one per xdist worker), and the slow
    # fresh-process cases were dealt to different workers rather than queued on one.
    processes = {c["process"] for c in cases.values()}
    assert processes == {"gw0#1", "gw1#1"} and run.results["run"]["target_processes"] == 2
    slow = [c["process"] for i, c in cases.items() if i.startswith("import_safetensors_torch[")]
    assert len(slow) == 2 and len(set(slow)) == 2, slow
    assert run.results["run"]["target_env"]["module"] == "torch", "the workers' hello reaches the results"


def test_observations_do_not_depend_on_case_order(oracle, tmp_path):
    """Every case imports what it uses: run in reverse and in a seeded shuffled order, the oracle and pyborch
    observe byte for byte what they observe in catalog order (a case that leans on an import made by an
    earlier case, as module_load_state_dict once did with torch.nn, differs here). A row that differs between
    two runs in the same order is the backend's own nondeterminism (pyborch's data_ptr() of temporary
    arrays), not the order's, and is left out, by name."""
    first = {c["id"]: c for c in oracle.results["cases"]}
    for target, reference in (("torch", first), ("pyborch", None)):
        unstable: set[str] = set()
        if reference is None:
            runs = [run_kit(target, tmp_path / f"{target}-catalog-{i}", oracle.cache) for i in (1, 2)]
            assert all(r.returncode in (0, 1) for r in runs), runs[0].output[-4000:]
            reference = runs[0].cases
            unstable = set(_differences(runs[1].cases, reference))
            assert len(unstable) <= 5, f"{target} is nondeterministic in too many rows to judge order: {unstable}"
        for order in ("reverse", "shuffle:20261130"):
            run = run_kit(target, tmp_path / f"{target}-{order.replace(':', '-')}", oracle.cache,
                          "--case-order", order)
            assert run.returncode in (0, 1), run.output[-4000:]
            seqs = {c["id"]: c["seq"] for c in run.cases.values() if c["process"].startswith("main#")}
            assert seqs != {i: c["seq"] for i, c in reference.items() if i in seqs}, f"{order} ran in catalog order"
            differ = {i: d for i, d in _differences(run.cases, reference).items() if i not in unstable}
            assert not differ, f"{target} observed something else in {order} order"
            assert {i: c["raw_outcome"] for i, c in run.cases.items() if i not in unstable} == \
                {i: c["raw_outcome"] for i, c in reference.items() if i not in unstable}
