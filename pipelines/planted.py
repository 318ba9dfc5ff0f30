"""``prac bench planted``: can a ticket search find a ticket that is known to exist?

    run_planted(["circle"], ["planted", 0.01, 0.1, 0.5], ALL_METHODS, 3, Path("artifacts/planted"))

Each task of ``prac.data.planted`` hides a hand-made sparse solution in a He-initialised
host MLP (Plant 'n' Seek, Fischer & Burkholz 2022). Every method starts from that host's
initialisation (``model_fn=lambda: copy.deepcopy(task.host)``) and the task's arrays, and
is asked for a mask at each target density: ``planted`` (ρ*, the planted ticket's) or a
fraction of the weights (biases are never pruned and not counted).

Methods (``METHODS``):
- ``oracle`` the planted mask; ``shuffled`` the planted mask permuted within each layer
  (same per-layer densities, wrong edges): both at ρ* only;
- ``random`` a global random mask at the density;
- ``oneshot`` full-data magnitude pruning in one shot after the dense run, rewound to the
  init, its output layer pruned to IMP's end density (``oneshot_output_rate``);
- ``imp`` full-data IMP rewinding to the init; ``prac`` PrAC IMP (prac's default search);
  ``random_subset`` the PrAC search on a random subset of the PrAC set's size: all three
  ``prac.find_ticket`` with ``prune.target_density`` and ``rounds_for(density)`` rounds,
  which prune hidden layers at 1 − T^(1/n) per round and the output layer at half that;
- ``synflow`` data-free iterative SynFlow (``prac.prune_synflow``), 100 rounds.

Per (task, seed, method, density) the result holds the weak ticket (test accuracy after
training the masked host from its rewound weights on the full training split, with the
recipe of find-ticket's validation retrain, ``prac.search.validate.retrain``), the strong ticket
(the same metric untrained, after ``prac.data.planted.strong_metric_calibrated``), the
structure against the planted mask (``structure``: edge precision/recall with their chance
levels, planted units recovered, per-layer densities, layer collapse) and the cost of the
search (optimizer steps charged, wall seconds). Each result is a JSON file under
``out/planted-results/<recipe hash>/``, written atomically and skipped when present; the
prac runs are cached by prac under ``out/prac`` and ``out/runs``. ``planted.json``,
``planted.md`` and the plots (``pipelines.planted_report``) summarise over seeds.

prac trains on its own standardisation of the inputs (per feature, the training split's
statistics; for the circle an almost isotropic ×1.73), so weak tickets are trained on those
inputs; the strong metric is the task's own, on the raw inputs the planting was made for.

Regression (helix, relu): prac trains with MSE (``prac.train.loop``), and a training sample
counts as learned (the tracker's and the flip probe's "correct") while its squared error is
below ``select.learned_mse`` = (``LEARNED_STDS`` noise stds)² = 9e-4 here. The weak and
strong metrics are the test MSE per entry (``weak_test_mse``, ``strong_test_mse``: lower
is better; the noise variance 1e-4 is the floor), beside the fraction of test samples
learned (``weak_test_learned``, what prac's reports call test accuracy for regression).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import prac
from pipelines import planted_report
from pipelines.bench_report import hardware
from pipelines.planted_masks import case_generator, random_mask
from pipelines.planted_structure import structure
from prac.select import cache
from prac.config.schema import digest
from prac.config.load import load_config
from prac.train.evaluate import evaluate_mse
from prac.data.planted import PlantedTask, make_task, strong_metric_calibrated
from prac.errors import PracError
from prac.models.planted import TASKS
from prac.config.identity import SEARCH_VERSION
from prac.progress import say
from prac.prune import Masks, shuffled_masks
from prac.setup import Setup, from_arrays, state_of
from prac.store import read_json, unpack, write_json
from prac.prune_synflow import ROUNDS as SYNFLOW_ROUNDS, synflow_masks
from prac.search.policies import POLICIES
from prac.search.validate import retrain, retrain_seed

METHODS = ("oracle", "random", "shuffled", "oneshot", "imp", "prac", "random_subset", "synflow")
ALL_METHODS = METHODS
PLANTED_ONLY = ("oracle", "shuffled")  # they exist only at the planted ticket's density
SEARCHES = ("oneshot", "imp", "prac", "random_subset")  # prac.find_ticket runs
DENSITIES = ("planted", 0.01, 0.1, 0.5)
# regression: learned = squared error below (3 noise stds)²; a perfect fit misses it on 0.3 %
# of the samples (|N(0,1)| > 3), a fit 1 std off on ~2 %
LEARNED_STDS = 3

# The training recipe of every method's weak-ticket training and of the searches: Adam,
# batch 128, peak lr 3e-3 on a cosine schedule, 10 epochs over the 8,100 training samples
# (900 of the 9,000 are held out for validation). Measured on circle seeds 0-1: the dense
# host reaches 98.1-98.5 % test accuracy in ~1 s per training on one core (20 epochs: +0.1
# pp; constant lr: 95-97 %).
RECIPE = {"train.epochs": 10, "train.batch_size": 128, "train.lr": 3e-3, "train.schedule": "cosine",
          "prune.validate": "last"}
ROUND_RATE = 0.2   # aim of the IMP schedule: about 20 % of the remaining weights per round
MAX_ROUNDS = 25
# The hosts have ~20k weights: a batch is microseconds of arithmetic, and a second thread
# only adds synchronisation. Measured on the shared 2-core machine under load: one 640-step
# training 0.87 s on one thread, 3.8-5.9 s on two.
THREADS = 1
VERSION = 3  # 3: regression tasks (2: full-data IMP and one-shot train plain full rounds, no step budget)


def rounds_for(density: float) -> int:
    """IMP rounds to ``density`` at about 20 % a round: round(log d / log 0.8), 1 to 25."""
    return max(1, min(MAX_ROUNDS, round(math.log(density) / math.log(1 - ROUND_RATE))))


def oneshot_output_rate(density: float, rounds: int) -> float:
    """The one-shot output-layer rate that leaves the output layer as dense as IMP leaves it
    after ``rounds`` rounds at prac's rule (hidden 1 − d^(1/n) a round, output half that)."""
    r = 1 - density ** (1 / rounds)
    return 1 - (1 - r / 2) ** rounds


def density_label(d) -> str:
    """``"planted"`` or a density written as ``f"{d:g}"`` (``"0.1"``), checked."""
    if isinstance(d, str) and d.strip().lower() in ("planted", "rho*", "ρ*"):
        return "planted"
    try:
        x = float(d)
    except (TypeError, ValueError):
        raise PracError(f"density '{d}' is neither 'planted' nor a number; use e.g. planted,0.01,0.1,0.5") from None
    if not 0 < x < 1:
        raise PracError(f"density {d} must be a fraction of the weights in (0, 1), or 'planted'; use e.g. 0.1")
    return f"{x:g}"


# ---------------------------------------------------------------- one (task, seed) at a time

@dataclass
class Case:
    """One task at one seed: the planted task, the recipe, and prac's view of its data."""
    task: PlantedTask
    seed: int
    recipe: dict
    out: Path
    progress: object = None
    _setup: Setup | None = None

    def model_fn(self):
        return copy.deepcopy(self.task.host)

    @property
    def arrays(self) -> tuple:
        t = self.task
        return t.x_train, t.y_train, t.x_test, t.y_test

    def values(self, **more) -> dict:
        # regression: learned tied to the task's noise (a recipe may still set its own)
        learned = {"select.learned_mse": (LEARNED_STDS * self.task.noise_std) ** 2} if self.task.regression else {}
        return {"seed": self.seed, **learned, **self.recipe, **more}

    @property
    def setup(self) -> Setup:
        """prac's setup of this task (its split, standardisation and recipe), for retrains."""
        if self._setup is None:
            self._setup = from_arrays(load_config(None, values=self.values()), self.model_fn, self.arrays)
        return self._setup

    def retrain(self, masks: Masks) -> dict:
        """The weak ticket: ``masks`` on the host's init, trained on the full training split
        as find-ticket's validation retrains a ticket (same function, seed rule and recipe)."""
        setup = self.setup
        model = setup.new_model()
        dev = setup.device
        res = retrain(setup.cfg, setup.tensors(), state_of(model), {k: m.to(dev) for k, m in masks.items()}, model,
                      retrain_seed(self.seed, 0), self.progress, "retrain ticket")
        return {**self.weak(model, res["test_acc"], res["val_acc"]), "retrain_steps": res["steps"],
                "retrain_seconds": res["seconds"]}

    def weak(self, model, test_acc: float, val_acc: float) -> dict:
        """The weak-ticket figures of a trained ``model``: prac's test and validation
        accuracy, and for regression (where those are fractions learned) the MSEs."""
        if not self.task.regression:
            return {"weak_test_acc": test_acc, "weak_val_acc": val_acc}
        return {"weak_test_mse": self.mse(model, "test"), "weak_val_mse": self.mse(model, "val"),
                "weak_test_learned": test_acc, "weak_val_learned": val_acc}

    def mse(self, model, split: str) -> float:
        """Test or validation MSE per entry of ``model`` on prac's view of the data."""
        d, dev = self.setup.data, self.setup.device
        return evaluate_mse(model.to(dev), getattr(d, f"x_{split}").to(dev), getattr(d, f"y_{split}").to(dev))

    def dense_mse(self, prac_key: str) -> float:
        """Test MSE of the dense host that built PrAC set ``prac_key`` (trained with the
        recipe on the full training split), from the cached set's weights."""
        model = self.setup.new_model()
        dense = cache.resolve(self.out, prac_key).dense()
        model.load_state_dict(unpack(dense, "trained"))
        return self.mse(model, "test")


def search_values(case: Case, method: str, density: float) -> dict:
    """The ``prac.find_ticket`` settings of a search method at ``density``."""
    n = rounds_for(density)
    # plain IMP: every round trains the full split for train.epochs from the rewind point, as
    # prac bench's full-data IMP (the imp search policy)
    full = {"prune.search": "imp"}
    if method == "oneshot":
        return case.values(**full, **{"prune.schedule": "oneshot", "prune.target_density": density,
                                      "prune.rounds": 1, "prune.output_rate": oneshot_output_rate(density, n)})
    base = case.values(**{"prune.target_density": density, "prune.rounds": n})
    if method == "imp":
        return {**base, **full}
    if method == "random_subset":  # as prac bench's control: the PrAC search's recipe, a random subset, no probe
        return {**base, "select.method": "random"}
    return base  # prac: prac's default search


def run_method(case: Case, method: str, label: str) -> dict:
    """One method at one density on one (task, seed): masks, weak and strong tickets,
    structure and cost."""
    task = case.task
    density = task.density if label == "planted" else float(label)
    t0 = time.perf_counter()
    res: dict = {"task": task.name, "seed": case.seed, "method": method, "label": label, "target_density": density}
    start = None
    if method in SEARCHES:
        values = search_values(case, method, density)
        ticket = prac.find_ticket(case.model_fn, *case.arrays, config=values, out=case.out)
        rep = ticket.report
        masks, start = ticket.masks, ticket.rewind
        res.update(case.weak(ticket.model(), rep["ticket"]["test_acc"], rep["ticket"]["val_acc"]),
                   search_steps=rep["charged_steps"], retrain_steps=rep["retrain_steps"],
                   search_seconds=rep["dense_seconds"] + rep["round0_seconds"] + rep["search_seconds"],
                   rounds=values["prune.rounds"], dense_test_acc=rep["dense_test_acc"],
                   subset_fraction=rep["prac_size"] / rep["train_size"], run=Path(ticket.run_dir).name)
        if task.regression:
            res["dense_test_mse"] = case.dense_mse(rep["prac_key"])
    else:
        gen = case_generator(task.name, case.seed, method, label)
        if method == "oracle":
            masks = task.mask
        elif method == "shuffled":
            masks = shuffled_masks(task.mask, gen)
        elif method == "random":
            masks = random_mask(task.mask, density, gen)
        elif method == "synflow":
            masks = synflow_masks(case.model_fn(), density, tuple(task.x_train.shape[1:]))
        else:
            raise PracError(f"unknown method '{method}'; choose from {', '.join(METHODS)}")
        res.update(search_steps=0, search_seconds=time.perf_counter() - t0)
        res.update(case.retrain(masks))
    masks = {k: m.bool().cpu() for k, m in masks.items()}
    host = case.model_fn()
    if start is not None:
        host.load_state_dict({k: v.cpu() for k, v in start.items()})
    res["strong_test_mse" if task.regression else "strong_test_acc"] = strong_metric_calibrated(task, masks, host)
    res.update(structure(masks, task.mask))
    res["seconds"] = time.perf_counter() - t0
    return res


def result_path(out: Path, key: str, task: str, seed: int, method: str, label: str) -> Path:
    return out / "planted-results" / key / task / f"seed{seed}" / method / f"{label}.json"


def check(tasks, densities, methods, seeds) -> tuple[list[str], list[str], list[str]]:
    tasks = list(TASKS) if list(tasks) == ["all"] else list(tasks)
    for t in tasks:
        if t not in TASKS:
            raise PracError(f"unknown planted task '{t}'; use one of {', '.join(TASKS)}, or all")
    if not tasks:
        raise PracError("no task given; use e.g. --task circle")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise PracError(f"unknown methods {unknown or '[]'}; choose from {', '.join(METHODS)}")
    if not isinstance(seeds, int) or seeds < 1:
        raise PracError(f"seeds={seeds} must be at least 1; use e.g. --seeds 3")
    labels = list(dict.fromkeys(density_label(d) for d in densities))
    if not labels:
        raise PracError("no density given; use e.g. --densities planted,0.01,0.1,0.5")
    return tasks, labels, [m for m in METHODS if m in methods]


def run_planted(tasks: list[str], densities: list[str | float], methods: list[str], seeds: int, out: Path,
                progress=None, *, recipe: dict | None = None, task_kwargs: dict | None = None,
                threads: int | None = THREADS) -> dict:
    """Every method at every density on every task and seed (seeds 0..seeds-1); writes
    ``out/planted.json``, ``out/planted.md`` and the plots, and returns the summary.

    ``recipe``: dotted config keys over ``RECIPE`` (e.g. ``{"train.epochs": 20}`` or
    ``{"prune.scope": "global"}``); ``task_kwargs``: passed to ``make_task`` (``n_train``,
    ``n_test``, ``widths``). Both enter the key of the cached results. ``threads``: torch's
    CPU threads while the bench runs (restored after; None leaves them as they are)."""
    tasks, labels, methods = check(tasks, densities, methods, seeds)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run(tasks, labels, methods, seeds, Path(out), progress, recipe, task_kwargs)
    finally:
        torch.set_num_threads(before)


def results_key(recipe: dict, task_kwargs: dict) -> str:
    """The cached results' key: prac's SEARCH_VERSION and the search's settings, defaults
    and the search policies' settings included, so a result of older search code, or of
    defaults that have moved since, is never served as this code's."""
    base = load_config(None, values=recipe)
    policies = {name: dataclasses.asdict(p) for name, p in sorted(POLICIES.items())}
    return digest("planted", VERSION, SEARCH_VERSION, recipe, task_kwargs, SYNFLOW_ROUNDS, LEARNED_STDS,
                  dataclasses.asdict(base.prune), dataclasses.asdict(base.select), policies)[:12]


def _run(tasks, labels, methods, seeds, out: Path, progress, recipe, task_kwargs) -> dict:
    recipe = {**RECIPE, **(recipe or {})}
    if "seed" in recipe:
        raise PracError("the recipe cannot set seed: the bench runs seeds 0..seeds-1; use seeds=N")
    task_kwargs = dict(task_kwargs or {})
    key = results_key(recipe, task_kwargs)  # a bad recipe key fails now, not after the first search
    t0 = time.perf_counter()
    results, skipped = [], {}
    units = [(t, s, m, d) for t in tasks for s in range(seeds) for d in labels for m in methods]
    bar = progress.add_task("planted", total=len(units)) if progress is not None else None
    cases: dict = {}
    for i, (name, seed, method, label) in enumerate(units):
        if method in PLANTED_ONLY and label != "planted":
            skipped.setdefault(name, {}).setdefault(method, {})[label] = \
                f"{method} exists only at the planted density (ρ*); not run at {label}"
        else:
            path = result_path(out, key, name, seed, method, label)
            if path.is_file():
                res = read_json(path)
            else:
                if (name, seed) not in cases:
                    task = make_task(name, seed, **task_kwargs)
                    cases = {(name, seed): Case(task, seed, recipe, out, progress)}  # one task in memory
                case = cases[(name, seed)]
                say(f"[bold]{name}[/bold] seed {seed}: {method} at {label}")
                res = run_method(case, method, label)
                write_json(path, res)
            results.append(res)
        if bar is not None:
            progress.update(bar, completed=i + 1)
    facts = {name: planted_report.facts(make_task(name, 0, **task_kwargs)) for name in tasks}
    summary = planted_report.summarise(results, skipped, facts)
    summary.update(recipe=recipe, task_kwargs=task_kwargs, seeds=list(range(seeds)), densities=labels,
                   methods=methods, results_key=key, seconds=time.perf_counter() - t0,
                   hardware=hardware())
    planted_report.write(out, summary)
    say(f"wrote {out}/planted.json, planted.md and plots")
    return summary
