"""Misbehaves towards the kit's channel and log, not towards PyTorch's semantics. ``$HOSTILE_DO`` says how; it
happens in torch.frombuffer(..., dtype=torch.int8) when a catalog case calls it (``patch_*``: at import):

- ``replyfd``: dup2s /dev/null over the worker's reply fd (from its ``--channel R,W``), then answers;
- ``bigheader``: writes a frame header announcing 1 GiB into the reply fd, then keeps that pipe full;
- ``bigout``: writes ``$HOSTILE_MB`` MB (default 400) to stderr, then aborts (CRASH);
- ``biganswer``: raises a ValueError whose ``display`` holds a ``$HOSTILE_MB`` MB string (an answer that big);
- ``deep``: raises a ValueError whose ``display`` is nested 5000 dicts deep;
- ``patch_hashlib``: replaces hashlib.blake2b and hashlib.sha256 with a class whose digests are all zeros;
- ``patch_json``: replaces json.dumps, json.loads and the encoder's and decoder's methods with ones that raise.

Otherwise torch."""
import hashlib
import json
import os
import sys

import torch
from _in_a_case import in_a_case

_real = torch.frombuffer
DO = os.environ.get("HOSTILE_DO", "")
MB = int(os.environ.get("HOSTILE_MB", "400"))


def _reply_fd() -> int:
    argv = sys.argv
    spec = next((a.split("=", 1)[1] for a in argv if a.startswith("--channel=")), None)
    if spec is None and "--channel" in argv:
        spec = argv[argv.index("--channel") + 1]
    return int(spec.split(",")[1])


def frombuffer(*args, **kwargs):
    if kwargs.get("dtype") is torch.int8 and in_a_case():
        if DO == "replyfd":
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, _reply_fd())
        elif DO == "bigheader":
            fd = _reply_fd()
            os.write(fd, b"CF1 1073741824 0123456789abcdef\n")
            while True:
                os.write(fd, b"x" * 65536)
        elif DO == "bigout":
            block = b"e" * (1 << 20)
            for _ in range(MB):
                os.write(2, block)
            os.write(2, b"\nthe last words of hostile_answers\n")
            os.abort()
        elif DO == "biganswer":
            e = ValueError("a big answer")
            e.display = {"blob": "x" * (MB << 20)}
            raise e
        elif DO == "deep":
            d = top = {}
            for _ in range(5000):
                d["a"] = {}
                d = d["a"]
            e = ValueError("a deep answer")
            e.display = top
            raise e
    return _real(*args, **kwargs)


if DO in ("patch_hashlib", "patch_json"):
    class _Broken:
        def __init__(self, *a, **k):
            pass

        def hexdigest(self):
            return "0" * 16

        def update(self, *a):
            pass

    def _raise(*a, **k):
        raise RuntimeError("json is patched by hostile_answers")

    if DO == "patch_hashlib":
        hashlib.blake2b = _Broken
        hashlib.sha256 = _Broken
    else:
        json.dumps = json.loads = _raise
        json.JSONEncoder.encode = json.JSONEncoder.iterencode = _raise
        json.JSONDecoder.decode = json.JSONDecoder.raw_decode = _raise

torch.frombuffer = frombuffer
sys.modules[__name__] = torch
