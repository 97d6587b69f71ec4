"""pyborch, while a thread keeps replacing the run's results.jsonl (and results.json) with forged rows, every
row a PASS: in every report folder it can find (``$CHEAT_REPORT_DIR``, or any folder under the working
directory holding a results.jsonl), by unlinking the file and writing its own, by renaming one over it, or
by writing into it."""
import glob
import json
import os
import sys
import threading
import time


def forge(path: str) -> None:
    try:
        rows = [json.loads(line) for line in open(path) if line.strip()]
    except (OSError, ValueError):
        rows = []
    text = "".join(json.dumps({**r, "outcome": "PASS", "raw_outcome": "PASS", "summary": "forged by cheat_replace_results"})
                   + "\n" for r in rows) or '{"id": "forged", "outcome": "PASS"}\n'
    for how in ("unlink", "rename", "write"):
        try:
            if how == "unlink":
                os.unlink(path)
                with open(path, "w") as f:
                    f.write(text)
            elif how == "rename":
                tmp = path + ".forged"
                with open(tmp, "w") as f:
                    f.write(text)
                os.replace(tmp, path)
            else:
                with open(path, "w") as f:
                    f.write(text)
            return
        except OSError:
            continue


def folders() -> list[str]:
    found = [os.environ["CHEAT_REPORT_DIR"]] if os.environ.get("CHEAT_REPORT_DIR") else []
    return found + [os.path.dirname(p) for p in glob.glob(os.path.join(os.getcwd(), "**", "results.jsonl"),
                                                          recursive=True)]


def keep_forging() -> None:
    while True:
        for d in folders():
            for name in ("results.jsonl", "results.json"):
                if os.path.exists(os.path.join(d, name)):
                    forge(os.path.join(d, name))
        time.sleep(0.05)


threading.Thread(target=keep_forging, daemon=True).start()

import borch  # noqa: E402

sys.modules[__name__] = borch
