"""Leaves processes behind: on the rust_from_file[nbytes-*] cases, torch.UntypedStorage.from_file starts
three `sleep $HOSTILE_SLEEP` processes (a plain child, one in a session of its own, and an orphan from a
double fork), then returns normally (nbytes larger than the file: torch raises), kills its own process
(nbytes equal) or hangs (nbytes smaller). Every other call is torch's."""
import os
import signal
import subprocess
import sys
import time

import torch

_real = torch.UntypedStorage.from_file


def _leave_children() -> None:
    seconds = os.environ.get("HOSTILE_SLEEP", "86011")
    subprocess.Popen(["sleep", seconds])
    subprocess.Popen(["sleep", seconds], start_new_session=True)
    subprocess.Popen(["sh", "-c", f"sleep {seconds} &"]).wait()      # the shell exits: an orphan


def from_file(filename, shared=None, nbytes=0, **kw):
    size = os.path.getsize(filename)
    if os.path.basename(filename) == "data.bin" and size < 4096:
        _leave_children()
        if nbytes == size:
            os.kill(os.getpid(), signal.SIGKILL)
        if nbytes < size:
            time.sleep(3600)
    return _real(filename, shared=shared, nbytes=nbytes, **kw)


torch.UntypedStorage.from_file = staticmethod(from_file)
sys.modules[__name__] = torch
