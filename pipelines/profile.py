"""``prac bench profile``: where a ticket search's wall goes, round by round.

One search (the config's, on its cached or freshly built PrAC set; a run folder of its own
under the artifact root) runs with timers around the functions the rounds spend their time
in: the training steps (``prac.search.rounds.train``, less the evaluations inside it), the
validation and test evaluations (``prac.train.curve``), the flip probe, the mask
computation, the subset refresh and the checkpoints. Time is exclusive (a function's own,
less the timed functions it calls); what no timer covers (Python between steps, copies of
the early-stop weights, the rest of the loop) is "other". The flip probe's own pruning counts
as mask computation. Only the search rounds are timed:
the set's build and the validation retrains are reported as totals beside them.
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import tempfile
import time
from pathlib import Path

from prac.config.schema import Config
from prac.progress import say
from prac.setup import from_config
from prac.store import atomic_write, write_json

# (module, function, phase): the functions a search round spends its time in
TIMED = (("prac.search.rounds", "train", "training steps"),
         ("prac.train.curve", "loss_and_accuracy", "validation evaluations"),
         ("prac.train.curve", "evaluate", "test evaluations"),
         ("prac.search.loop", "prune_flips", "flip probe"),
         ("prac.train.distributed", "masks_on_main", "mask computation"),
         ("prac.search.loop", "refresh", "subset refresh"),
         ("prac.search.state", "save_checkpoint", "checkpoints"))


class Timers:
    """Exclusive wall time per phase while ``active``: a nested timed call's time goes to its
    own phase and is taken out of its caller's."""

    def __init__(self):
        self.seconds: dict[str, float] = {phase: 0.0 for *_, phase in TIMED}
        self.calls: dict[str, int] = {phase: 0 for *_, phase in TIMED}
        self.stack: list[list[float]] = []  # per open call: [start, time of its timed children]
        self.active = False
        self.wall = 0.0  # the search rounds' wall, checkpoints included

    def wrap(self, fn, phase: str):
        def timed(*args, **kwargs):
            if not self.active:
                return fn(*args, **kwargs)
            self.stack.append([time.perf_counter(), 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                start, children = self.stack.pop()
                spent = time.perf_counter() - start
                self.seconds[phase] += spent - children
                self.calls[phase] += 1
                if self.stack:
                    self.stack[-1][1] += spent
        return timed

    @contextlib.contextmanager
    def installed(self):
        """The timers around ``TIMED`` (and the search rounds switching them on), then the
        original functions back."""
        saved = []
        for mod, name, phase in TIMED:
            m = importlib.import_module(mod)
            saved.append((m, name, getattr(m, name)))
            setattr(m, name, self.wrap(getattr(m, name), phase))
        loop = importlib.import_module("prac.search.loop")
        rounds_fn = loop.search_rounds

        def search_rounds(*args, **kwargs):
            self.active, start = True, time.perf_counter()
            try:
                return rounds_fn(*args, **kwargs)
            finally:
                self.active, self.wall = False, self.wall + time.perf_counter() - start
        saved.append((loop, "search_rounds", rounds_fn))
        loop.search_rounds = search_rounds
        try:
            yield self
        finally:
            for m, name, fn in saved:
                setattr(m, name, fn)


def run_profile(cfg: Config, out, progress=None) -> dict:
    """Profile one search of ``cfg`` on its PrAC set (cached under ``out``, or built there). The
    search runs in a scratch root holding a copy of the set, so a finished run of the same
    config is neither read back instead of searched nor touched."""
    from prac.search.loop import run_search
    from prac.select import cache
    from prac.select.build import build_set

    setup = from_config(cfg)
    entry = build_set(setup, out, progress)
    timers = Timers()
    with tempfile.TemporaryDirectory(prefix="prac-profile-") as scratch:
        copy = Path(scratch) / "prac" / entry.key
        shutil.copytree(entry.path, copy)
        with timers.installed():
            report = run_search(setup, cache.load(copy), scratch, progress)
    wall = timers.wall
    rounds = len(report["rounds"]) - 1
    phases = dict(timers.seconds)
    phases["other (Python between steps, early-stop copies, the loop)"] = wall - sum(phases.values())
    result = {"model": report["model"], "dataset": report["dataset"], "train_size": report["train_size"],
              "rounds": rounds, "search_seconds": wall, "build_seconds": entry.meta["dense"]["seconds"],
              "retrain_seconds": report["retrain_seconds"], "phases": phases, "calls": timers.calls,
              "search_steps": report["steps_total"] - report["dense_steps"]}
    say(f"search: {wall:.1f} s over {rounds} rounds; " + ", ".join(
        f"{k.split(' (')[0]} {100 * v / wall:.0f} %" for k, v in phases.items() if wall))
    return result


def markdown(p: dict, command: str) -> str:
    wall = p["search_seconds"]
    lines = [f"## {p['model']} on {p['dataset']} ({p['train_size']:,} training samples), {p['rounds']} rounds", "",
             f"`{command}`", "",
             f"Search rounds {wall:.1f} s ({p['search_steps']:,} optimizer steps, "
             f"{1000 * wall / max(1, p['search_steps']):.1f} ms a step all in); beside them the set's build "
             f"{p['build_seconds']:.1f} s and the validation retrain(s) {p['retrain_seconds']:.1f} s.", "",
             "| phase | seconds | share of the search | per round s | calls |", "|---|---:|---:|---:|---:|"]
    for phase, s in sorted(p["phases"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {phase} | {s:.2f} | {100 * s / wall:.1f} % | {s / max(1, p['rounds']):.3f} "
                     f"| {p['calls'].get(phase, '')} |")
    return "\n".join(lines) + "\n"


def write(out: Path, p: dict, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "profile.json", p)
    atomic_write(out / "profile.md", markdown(p, command).encode())
