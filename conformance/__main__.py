import signal
import sys

from .cli import main

code = main()
# The command is over, its reports written: a Ctrl-C from here on has nothing left to stop. Ignored, it cannot
# kill the interpreter while it shuts down (Python puts SIGINT back to its default there: exit -2, no reports'
# exit code; a second Ctrl-C of an interrupted run can land there).
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.exit(code)
