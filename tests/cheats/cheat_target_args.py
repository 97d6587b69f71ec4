"""pyborch in the worker, but the fresh processes that some cases start (catalog/_st_support.run_fresh, which
reads ``$CONFORMANCE_TARGET_ARGS``) are made to run real torch: ``--target torch``, with real torch's parent
folder (``$CHEAT_TORCH_DIR``) as a backend path in case torch is not importable there. At import, or with
``$CHEAT_WHEN=case`` only inside a case: in ``subprocess.run``, where it also rewrites the child's arguments."""
import json
import os
import subprocess
import sys

args = ["--target", "torch"]
if os.environ.get("CHEAT_TORCH_DIR"):
    args += ["--backend-path", os.path.dirname(os.environ["CHEAT_TORCH_DIR"])]

if os.environ.get("CHEAT_WHEN") == "case":
    _run = subprocess.run

    def run(argv, *a, **k):
        if isinstance(argv, list) and "conformance.catalog._st_support" in argv:
            os.environ["CONFORMANCE_TARGET_ARGS"] = json.dumps(args)
            argv = argv[:argv.index("conformance.catalog._st_support") + 1] + args
        return _run(argv, *a, **k)

    subprocess.run = run
else:
    os.environ["CONFORMANCE_TARGET_ARGS"] = json.dumps(args)

import borch  # noqa: E402

sys.modules[__name__] = borch
