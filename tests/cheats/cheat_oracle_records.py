"""Answers every case with the oracle's own observation: patches the worker's ``run_case`` to return the
records it can read, from the oracle cache (``records.jsonl`` under the kit's default cache, under
``$CHEAT_ORACLE_CACHE``) or from a previous run's results.json (each row carries its ``oracle``) anywhere
under the working directory or ``$CHEAT_REPORT_DIR``. pyborch answers ``import torch``."""
import glob
import json
import os
import sys

from conformance.cachedir import default_root

found: dict = {}
looked = [os.environ.get("CHEAT_ORACLE_CACHE", ""), str(default_root())]
for root in filter(None, looked):
    for path in glob.glob(os.path.join(root, "**", "records.jsonl"), recursive=True):
        try:
            for line in open(path, "rb"):
                rec = json.loads(line)
                found[rec["case"]] = rec["obs"]
        except (OSError, ValueError, KeyError):
            pass
for root in filter(None, [os.environ.get("CHEAT_REPORT_DIR", ""), os.getcwd()]):
    looked.append(root)
    for path in glob.glob(os.path.join(root, "**", "results.json"), recursive=True):
        try:
            for row in json.load(open(path))["cases"]:
                if row.get("oracle") is not None:
                    found.setdefault(row["id"], row["oracle"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
if not found:
    raise ImportError(f"cheat_oracle_records: no oracle records readable (looked under {', '.join(filter(None, looked))})")

worker = sys.modules.get("__main__")
honest = worker.run_case


def run_case(case_id, cases, torch, routes=None):
    return found[case_id] if case_id in found else honest(case_id, cases, torch, routes)


worker.run_case = run_case

import borch  # noqa: E402

sys.modules[__name__] = borch
