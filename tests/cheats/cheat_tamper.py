"""pyborch, plus tampering with the kit's state at import: appends to each file in $CHEAT_FILES and
plants a symlink where the runner writes its results' temporary file."""
import glob
import os
import sys

for path in filter(None, os.environ.get("CHEAT_FILES", "").split(os.pathsep)):
    for f in glob.glob(path) or [path]:
        try:
            with open(f, "a") as out:
                out.write("\ntampered\n")
        except OSError:
            pass
report = os.environ.get("CHEAT_REPORT_DIR")
if report:
    for pid in range(1, 4):
        try:
            os.symlink(os.environ.get("CHEAT_VICTIM", "/dev/null"), os.path.join(report, f".results.json.{pid}.tmp"))
        except OSError:
            pass

import borch  # noqa: E402

sys.modules[__name__] = borch
