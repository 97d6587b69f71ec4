import atexit
import os
import signal
import sys

from .cli import main

code = main()
# The command is over, its reports written: a Ctrl-C from here on has nothing left to stop. Ignored, it cannot
# kill the interpreter while it shuts down (Python puts SIGINT back to its default there: exit -2, no reports'
# exit code; a second Ctrl-C of an interrupted run can land there).
signal.signal(signal.SIGINT, signal.SIG_IGN)
# What is registered to run at exit runs (coverage saves its data there, say); the interpreter's own teardown,
# which frees every object of a run one by one (the oracle's records: ~0.2 s), is skipped.
getattr(atexit, "_run_exitfuncs", lambda: None)()
try:
    sys.stdout.flush()
    sys.stderr.flush()
except (OSError, ValueError):      # a closed or broken pipe: nothing more can be said there
    pass
os._exit(code if isinstance(code, int) else 1)
