"""Progress when stderr is not a terminal: plain lines, at most one every few seconds per training."""

import pytest

from prac import progress
from prac.progress import ProgressLines, progress_bars


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_lines_at_most_one_per_interval_per_task():
    clock, lines = Clock(), []
    bars = ProgressLines(interval=5, write=lines.append, clock=clock)
    a = bars.add_task("round 1/13", total=4100)
    b = bars.add_task("retrain", total=90)
    clock.now += 1
    bars.update(a, completed=10)
    assert lines == []  # nothing within the first interval: a short training prints nothing
    clock.now += 5
    bars.update(a, completed=1200)
    bars.update(a, completed=1210)  # the same instant: no second line
    bars.advance(b, 30)
    assert lines == ["round 1/13: 1,200/4,100 steps, 6 s elapsed", "retrain: 30/90 steps, 6 s elapsed"]
    clock.now += 200
    bars.update(a, completed=4100)
    assert lines[-1] == "round 1/13: 4,100/4,100 steps, 3:26 elapsed"
    bars.remove_task(a)
    bars.update(a, completed=1)  # a removed task is quiet
    clock.now += 3600
    bars.update(b, completed=90)
    assert lines[-1] == "retrain: 90/90 steps, 1:03:26 elapsed" and len(lines) == 4
    assert all(line == line.strip() and "\n" not in line for line in lines)


def test_progress_bars_off_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("PRAC_NO_PROGRESS", raising=False)
    monkeypatch.setattr(type(progress.console), "is_terminal", property(lambda self: False))
    with progress_bars(True) as bars:
        assert isinstance(bars, ProgressLines)  # the methods training calls, no bars
        bars.interval = 0
        task = bars.add_task("dense lenet_300_100", total=10)
        bars.update(task, completed=5)
        bars.remove_task(task)
    assert capsys.readouterr().err == "dense lenet_300_100: 5/10 steps, 0 s elapsed\n"
    with progress_bars(False) as bars:  # --quiet
        assert bars is None
    monkeypatch.setenv("PRAC_NO_PROGRESS", "1")
    with progress_bars(True) as bars:
        assert bars is None


def test_say_is_not_wrapped_off_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(type(progress.console), "is_terminal", property(lambda self: False))
    message = "round 3: 51.20 % of weights, " + "val 97.22 % " * 20
    progress.say(message)
    assert capsys.readouterr().err == message.rstrip() + "\n"


@pytest.mark.parametrize("seconds,shown", [(0, "0 s"), (59.9, "59 s"), (60, "1:00"), (3599, "59:59"),
                                           (3600, "1:00:00"), (90061, "25:01:01")])
def test_elapsed(seconds, shown):
    assert progress._elapsed(seconds) == shown
