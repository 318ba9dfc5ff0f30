"""Run the prac CLI and SIGKILL this very process at the N-th call of a function:

    python kill_at.py MODULE:ATTR N prac-arguments...

A kill point named by a function (a training step, a file's fsync, the pruning of a round)
is exact and repeatable, where a timer would not be.
"""

import importlib
import os
import signal
import sys

target, n, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
module, attr = target.split(":")
owner = importlib.import_module(module)
original, calls = getattr(owner, attr), 0


def killer(*a, **k):
    global calls
    calls += 1
    if calls == n:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*a, **k)


setattr(owner, attr, killer)
sys.argv = ["prac", *args]
from prac.cli import main  # noqa: E402  (after the patch, so every caller sees it)

main()
