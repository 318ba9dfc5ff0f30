"""``prac bench lth``: the lottery ticket experiments (Frankle & Carbin, ICLR 2019) on your setting.

    prac bench lth --config configs/fashion_mnist_lenet_lth.yaml --seeds 3 --out artifacts/lth

Per seed, one PrAC set's build trains the dense network (the reference: its early-stop step
and its test accuracy there), then every method gives, per pruning round, a ticket trained
on the full training split with its validation curve (``prac.train.curve``):

- ``iterative``: full-data IMP rewinding to the initialisation; its rounds are its tickets;
- ``oneshot``: the dense network pruned in one shot to each round's per-layer densities;
- ``reinit``: iterative's masks on a fresh random initialisation;
- ``random_prune``: random masks with iterative's per-layer densities, on the original
  initialisation;
- ``prac``: the tickets PrAC IMP (the shipped search) finds, retrained on the full split;
  ``mask_overlap`` says how much of their masks the iterative and one-shot tickets share.

The last four are retrains (``pipelines.bench.retrained_rounds``, variants oneshot, reinit,
random_prune and rewind) with find-ticket's seed rule. Each ticket yields its early-stop
step (minimum validation loss), the test accuracy there, and its final test accuracy;
``lth.json`` has them per method and round as mean ± std over seeds, ``lth.md`` a table,
and three plots (``pipelines.lth_report``). Every piece (PrAC sets, runs, retrains) is
cached, so an interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from pipelines import bench_report, lth_report
from pipelines.bench import dense_model, figures, method_config, retrained_rounds, shared_root, variant_masks
from prac.select.build import build_set
from prac.config.schema import Config
from prac.errors import PracError
from prac.prune import round_masks
from prac.search.loop import HISTORY, run_search
from prac.setup import from_config
from prac.store import load_tensors

METHODS = ("iterative", "oneshot", "reinit", "random_prune", "prac")
RETRAINED = {"oneshot": "oneshot", "reinit": "reinit", "random_prune": "random_prune"}  # method: variant of iterative


def lth_seed(cfg: Config, out, progress, methods=METHODS, only: set[int] | None = None) -> dict:
    """Every method's tickets for one seed: ``{"dense": ..., method: [round rows]}``."""
    t0 = time.perf_counter()
    entry = build_set(from_config(cfg), out, progress)
    f = entry.meta["prac_fraction"]
    res = {"dense": {"density": 1.0, **figures(entry.meta["dense"]), "steps": entry.meta["dense"]["steps"]}}
    full_cfg = method_config(cfg, "full", f)
    imp = run_search(from_config(full_cfg), entry, out, progress)
    if "iterative" in methods:
        res["iterative"] = [{"round": x["round"], "density": x["density"], **figures(x), "steps": x["steps"]}
                            for x in imp["rounds"][1:]]
    for method, variant in RETRAINED.items():
        if method in methods:
            res[method] = retrained_rounds(full_cfg, imp, out, progress, variant, only)[1:]
    if "prac" in methods:
        prac_cfg = method_config(cfg, "prac", f)
        run = run_search(from_config(prac_cfg), entry, out, progress)
        res["prac"] = retrained_rounds(prac_cfg, run, out, progress, "rewind", only)[1:]
        res["prac_search_steps"], res["iterative_steps"] = run["charged_steps"], imp["charged_steps"]
        res["mask_overlap"] = overlaps(full_cfg, imp, run, out)
    res["seconds"] = time.perf_counter() - t0
    return res


def overlap(a: dict, b: dict) -> float:
    """The fraction of ``a``'s kept weights that ``b`` keeps too."""
    return sum(int((a[n] & b[n]).sum()) for n in a) / max(1, sum(int(m.sum()) for m in a.values()))


def overlaps(cfg: Config, imp: dict, prac_run: dict, out) -> list[dict]:
    """Per round, how much of the PrAC ticket's mask the iterative and the one-shot tickets of
    the same round share, and how much of iterative's the one-shot ticket shares: which
    pruning the PrAC search's masks resemble."""
    history = {k: load_tensors(Path(r["run_dir"]) / HISTORY) for k, r in (("imp", imp), ("prac", prac_run))}
    dense = dense_model(from_config(cfg), out, imp["prac_key"])
    rows = []
    for x in prac_run["rounds"][1:]:
        r = x["round"]
        ours, it = round_masks(history["prac"], r), round_masks(history["imp"], r)
        one = {k: m.cpu() for k, m in variant_masks("oneshot", history["imp"], r, cfg, dense).items()}
        rows.append({"round": r, "density": x["density"], "prac_iterative": overlap(ours, it),
                     "prac_oneshot": overlap(ours, one), "iterative_oneshot": overlap(it, one)})
    return rows


def run_lth(cfg: Config, seeds: int, out, progress=None, methods=METHODS, only: set[int] | None = None) -> dict:
    """The benchmark over ``seeds`` seeds; writes ``out/lth.json``, ``lth.md`` and the plots."""
    if seeds < 1:
        raise PracError(f"--seeds {seeds} must be at least 1; use e.g. --seeds 3")
    unknown = set(methods) - set(METHODS)
    if unknown or not methods:
        raise PracError(f"unknown methods {sorted(unknown)} for bench lth; choose from {', '.join(METHODS)}")
    if cfg.prune.schedule != "iterative":
        raise PracError("bench lth compares one-shot with iterative pruning itself; leave prune.schedule=iterative")
    # test accuracy along every curve: plot 3 is the LTH paper's test accuracy against training step
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, eval_test=True))
    root, report_dir = shared_root(out, "lth")
    per_seed = bench_report.over_seeds(cfg, seeds, lambda scfg, i: lth_seed(scfg, root, progress, methods, only))
    return bench_report.publish(report_dir, lth_report.summarise(per_seed, [m for m in METHODS if m in methods]), cfg, seeds,
                                lth_report, "lth")
