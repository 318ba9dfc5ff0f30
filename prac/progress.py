"""Progress bars with ETA (rich), written to stderr so stdout stays for results.

Under torchrun only rank 0 shows bars and status lines."""

from __future__ import annotations

import contextlib
import os

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from prac.train import distributed

console = Console(stderr=True, highlight=False)


@contextlib.contextmanager
def progress_bars(enabled: bool = True):
    """Yields a rich ``Progress`` (or None when disabled, ``PRAC_NO_PROGRESS`` is set, or on a
    rank other than 0)."""
    if not enabled or os.environ.get("PRAC_NO_PROGRESS") or not distributed.is_main():
        yield None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("steps"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                  console=console, transient=True) as bars:
        yield bars


def say(message: str) -> None:
    """A status line for the user (stderr), from rank 0 only."""
    if distributed.is_main():
        console.print(message)
