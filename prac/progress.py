"""Progress on stderr, so stdout stays for results: bars with ETA (rich) on a terminal; when
stderr is piped (a log file, a CI job), one plain line per event and, for a long training,
one progress line every few seconds, never wrapped.

Under torchrun only rank 0 shows bars and status lines."""

from __future__ import annotations

import contextlib
import os
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from prac.train import distributed

console = Console(stderr=True, highlight=False)
# seconds between two progress lines of one training when stderr is not a terminal
LINE_INTERVAL = 5.0


class ProgressLines:
    """The part of rich's ``Progress`` that training calls (``add_task``, ``update``, ``advance``,
    ``remove_task``), as plain lines for a stderr that is not a terminal: at most one line every
    ``interval`` seconds per task, ``label: done/total steps, elapsed``."""

    def __init__(self, interval: float = LINE_INTERVAL, write=None, clock=time.monotonic):
        self.interval, self.clock, self.tasks = interval, clock, {}
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self._next_id = 0

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **_) -> int:
        task, self._next_id = self._next_id, self._next_id + 1
        now = self.clock()
        self.tasks[task] = {"label": description, "total": total, "done": completed, "start": now, "last": now}
        return task

    def update(self, task: int, *, completed: float | None = None, advance: float | None = None,
               total: float | None = None, description: str | None = None, **_) -> None:
        t = self.tasks.get(task)
        if t is None:
            return
        if total is not None:
            t["total"] = total
        if description is not None:
            t["label"] = description
        if completed is not None:
            t["done"] = completed
        if advance is not None:
            t["done"] += advance
        now = self.clock()
        if now - t["last"] >= self.interval:
            t["last"] = now
            total = f"/{t['total']:,.0f}" if t["total"] is not None else ""
            self.write(f"{t['label']}: {t['done']:,.0f}{total} steps, {_elapsed(now - t['start'])} elapsed")

    def advance(self, task: int, advance: float = 1) -> None:
        self.update(task, advance=advance)

    def remove_task(self, task: int) -> None:
        self.tasks.pop(task, None)


def _elapsed(seconds: float) -> str:
    """``42 s``, ``3:07`` or ``1:03:07``."""
    minutes, s = divmod(int(seconds), 60)
    if not minutes:
        return f"{s} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{s:02d}" if hours else f"{minutes}:{s:02d}"


@contextlib.contextmanager
def progress_bars(enabled: bool = True):
    """Yields a rich ``Progress`` on a terminal, a ``ProgressLines`` when stderr is not one, or
    None when disabled (``--quiet``), when ``PRAC_NO_PROGRESS`` is set, or on a rank other than 0."""
    if not enabled or os.environ.get("PRAC_NO_PROGRESS") or not distributed.is_main():
        yield None
        return
    if not console.is_terminal and not console.is_jupyter:  # a notebook renders rich's bars itself
        yield ProgressLines()
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("steps"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                  console=console, transient=True) as bars:
        yield bars


def say(message: str) -> None:
    """A status line for the user (stderr), from rank 0 only."""
    if distributed.is_main():  # piped: one line per message, never hard-wrapped at 80 columns
        console.print(message.rstrip(), soft_wrap=not console.is_terminal)
