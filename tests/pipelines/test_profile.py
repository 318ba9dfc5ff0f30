"""The search profiler's timers: exclusive time per phase, only while the search rounds run."""

import time

from pipelines.profile import Timers


def test_a_nested_call_is_taken_out_of_its_callers_time():
    timers = Timers()
    inner = timers.wrap(lambda: time.sleep(0.05), "flip probe")
    outer = timers.wrap(lambda: (time.sleep(0.05), inner()), "training steps")
    outer()                                 # inactive: not counted
    assert timers.calls["training steps"] == 0
    timers.active = True
    outer()
    assert timers.calls == {**timers.calls, "training steps": 1, "flip probe": 1}
    assert 0.045 < timers.seconds["flip probe"] < 0.09
    assert 0.045 < timers.seconds["training steps"] < 0.09  # its own 50 ms, not the probe's too
