"""``prac bench``: the savings claim, measured side by side in one run.

    prac bench --config configs/fashion_mnist_lenet.yaml --seeds 3 --out artifacts/bench

For each seed: build the PrAC set, then search tickets with full-data IMP (the baseline),
PrAC IMP, a random subset of the PrAC set's size (same scaled epochs), and full-data IMP
with its epochs cut to spend PrAC's steps (the compute-matched control). Every round's
ticket is retrained on the full training split from its rewind point and tested; the
PrAC ticket's masks are also retrained from a fresh random initialisation (Frankle &
Carbin's control). Every piece is cached (PrAC sets, runs, retrains), so an interrupted
benchmark resumes where it stopped.

    prac bench transfer --config configs/transfer_fashion_lenet_conv2.yaml --methods full,prac

runs the target architecture's methods and adds ``transfer``: its tickets found with the
PrAC set the source architecture built, with that build amortised over both searches.

Under ``torchrun --nproc_per_node=K -m prac bench`` every training is data-parallel and
rank 0 alone writes (``prac.train.distributed``); ``bench speed`` measures one process and
refuses to run under torchrun.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from pipelines import bench_report, bench_stats
from prac import paths
from prac.select import cache
from prac.train import distributed
from prac.select.build import build_set
from prac.train.checkpoint import load_checkpoint, remove_checkpoint, save_checkpoint
from prac.config.schema import Config
from prac.search.policies import policy
from prac.select.selectors import SELECTORS
from prac.errors import PracError
from prac.report.account import amortised_savings, build_charged
from prac.train.curve import EARLY_STOP
from prac.prune import density, magnitude_masks, round_masks, shuffled_masks
from prac.search.loop import HISTORY, TICKET, run_search
from prac.setup import from_config
from prac.store import load_tensors, read_json, unpack, write_json
from prac.search.validate import retrain, retrain_seed

METHODS = ("full", "prac", "random", "matched", "reinit", "forgetting", "el2n", "ccs", "prac_paper")  # selectors by name beside full, matched
DEFAULT_METHODS = METHODS[:5]


def with_changes(cfg: Config, **groups) -> Config:
    return dataclasses.replace(cfg, **{g: dataclasses.replace(getattr(cfg, g), **kw) for g, kw in groups.items()})


def method_config(cfg: Config, method: str, prac_fraction: float | None = None) -> Config:
    """The config of one benchmark method: full-data IMP is the ``imp`` search policy; the
    controls swap the selector (``select.method``) and keep everything else."""
    if method == "full":  # plain IMP: every round trains the full split for train.epochs, rewinding
        return with_changes(cfg, prune={"search": "imp"})
    if method == "matched":  # the full split, each round spending the budget PrAC's rounds spend
        if not policy(cfg.prune.search).budget:
            raise PracError(f"the compute-matched control spends a round's step budget, which prune.search="
                            f"{cfg.prune.search} has not; use prune.search=finetune or leave 'matched' out of --methods")
        return with_changes(cfg, select={"method": "full"})
    if method in SELECTORS:  # random, forgetting, ccs: the same search on another selector's samples
        return with_changes(cfg, select={"method": method})
    return with_changes(cfg, select={"method": "prac"})


# How a round's ticket is retrained (``retrained_rounds``): its mask and its starting weights.
#   rewind        the round's mask on the rewind weights (the ticket itself)
#   reinit        the round's mask on a fresh random initialisation (Frankle & Carbin's control)
#   random_prune  a random mask with the round's per-layer densities, on the rewind weights
#   oneshot       the dense network pruned by magnitude straight to the round's per-layer
#                 densities (one shot, no intermediate rounds), on the rewind weights
VARIANTS = ("rewind", "reinit", "random_prune", "oneshot")


def variant_masks(variant: str, history: dict, r: int, cfg: Config, dense) -> dict:
    """Round ``r``'s mask under ``variant`` (``dense``: the trained dense model, for oneshot)."""
    masks = round_masks(history, r)
    if variant == "random_prune":  # seeded by (seed, round): the same control wherever it is retrained
        return shuffled_masks(masks, torch.Generator().manual_seed(retrain_seed(cfg.seed, r)))
    if variant == "oneshot":  # after r rounds IMP keeps (1 - rate)^r of each hidden layer, the output at its rate
        p = cfg.prune
        conv = None if p.conv_rate is None else 1 - (1 - p.conv_rate) ** r
        return magnitude_masks(dense, None, 1 - (1 - p.round_rate) ** r, 1 - (1 - p.out_rate) ** r, p.scope, conv)
    return masks


def retrained_rounds(cfg: Config, run: dict, out, progress, variant: str = "rewind",
                     only: set[int] | None = None) -> list[dict]:
    """Every round's ticket retrained on the full split under ``variant`` (``VARIANTS``), by
    ``prac.search.validate.retrain`` with the seed rule of find-ticket's validation, so a round
    find-ticket already retrained is read from its report, not trained again. Each round
    gives its final and early-stop figures and its validation curve (``prac.train.curve``);
    cached per round under the run folder."""
    rdir = Path(run["run_dir"])
    cache_file = rdir / ("retrain.json" if variant == "rewind" else f"retrain_{variant}.json")
    done = read_json(cache_file) if cache_file.is_file() else {}
    if variant == "rewind":
        done.update({str(c["round"]): figures(c) for c in run.get("candidates", []) if str(c["round"]) not in done})
    setup = from_config(cfg)
    dev = setup.device
    t = setup.tensors()
    history = load_tensors(rdir / HISTORY)
    rewind = {k: v.to(dev) for k, v in unpack(load_tensors(rdir / TICKET), "rewind").items()}
    dense = dense_model(setup, out, run["prac_key"]) if variant == "oneshot" else None
    results = []
    for x in run["rounds"]:
        r = x["round"]
        if r == 0:
            results.append({"round": 0, "density": 1.0, **figures(x), "steps": x["steps"]})
            continue
        if only and r not in only:
            results.append({"round": r, "density": x["density"], "test_acc": None, "val_acc": None, "steps": x["steps"]})
            continue
        if str(r) not in done:
            masks = {k: m.to(dev) for k, m in variant_masks(variant, history, r, cfg, dense).items()}
            model = setup.new_model(seed=cfg.seed + 7919 if variant == "reinit" else None)
            start = dict(model.state_dict()) if variant == "reinit" else rewind
            ckpt = rdir / f"{cache_file.stem}-{r}.checkpoint.safetensors"   # a killed retrain resumes here
            res = retrain(cfg, t, start, masks, model, retrain_seed(cfg.seed, r), progress,
                          f"retrain {'' if variant == 'rewind' else variant + ' '}round {r}",
                          checkpoint=lambda state: save_checkpoint(ckpt, {"train": state}),
                          resume=(load_checkpoint(ckpt) or {}).get("train"))
            done[str(r)] = {**figures(res), "density": density(masks)}
            if distributed.is_main():
                write_json(cache_file, done)
                remove_checkpoint(ckpt)
        results.append({"round": r, "density": x["density"], **done[str(r)], "steps": x["steps"]})
    distributed.barrier()  # rank 0's retrain cache is complete before any rank reads it again
    return results


def figures(res: dict) -> dict:
    """What the benchmarks keep of a trained ticket: final and early-stop accuracies, the
    early-stop step, the validation curve."""
    return {k: res.get(k) for k in ("test_acc", "val_acc", *EARLY_STOP, "curve")}


def dense_model(setup, out, key: str):
    """The PrAC set ``key``'s trained dense network (the one-shot pruning's source)."""
    model = setup.new_model()
    weights = cache.resolve(out, key).dense()
    model.load_state_dict(unpack(weights, "trained"))
    return model


def composition_by_class(cfg: Config, entry) -> dict[str, list[int]]:
    """Per class: PrAC members that are hard-to-memorize only, flipped only, or both."""
    st = entry.stats()
    y = from_config(cfg).data.y_train
    k = int(y.max()) + 1
    hard = (st["forgetting_events"] > entry.meta["threshold"]) | st["never_learned"]
    flip = st["prune_flipped"]
    return {name: torch.bincount(y[sel], minlength=k).tolist()
            for name, sel in (("hard_only", hard & ~flip), ("flipped_only", flip & ~hard), ("both", hard & flip))}


def run_seed(cfg: Config, out, progress, methods=DEFAULT_METHODS, only: set[int] | None = None,
             source: Config | None = None) -> dict:
    """All methods for one seed: per method, its per-round retrained accuracies and costs;
    with ``source``, also ``cfg``'s tickets found with the PrAC set ``source`` builds."""
    t0 = time.perf_counter()
    entry = build_set(from_config(cfg), out, progress)
    build_seconds = entry.meta["dense"]["seconds"]
    f = entry.meta["prac_fraction"]
    res = {"prac_fraction": f, "composition_by_class": composition_by_class(cfg, entry)}
    for method in [m for m in METHODS if m in methods]:
        if method == "reinit":
            run = run_search(from_config(method_config(cfg, "prac", f)), entry, out, progress)
            rounds = retrained_rounds(method_config(cfg, "prac", f), run, out, progress, "reinit", only)
            res[method] = {"rounds": rounds, "steps_total": run["steps_total"], "wall_seconds": None, "run": run}
            continue
        mcfg = method_config(cfg, method, f)
        run = run_search(from_config(mcfg), entry, out, progress)
        if method == "full":
            # full-data IMP's rounds already are its tickets trained on the full split
            rounds = [{"round": x["round"], "density": x["density"], **figures(x), "steps": x["steps"]}
                      for x in run["rounds"]]
        else:
            rounds = retrained_rounds(mcfg, run, out, progress, only=only)
        # the dense round is built once and shared: each method's search time includes it
        res[method] = method_result(run, rounds, build_seconds)
    if source is not None:
        res["transfer"] = transferred(cfg, source, out, progress, only)
    res["seconds"] = time.perf_counter() - t0
    return res


def method_result(run: dict, rounds: list[dict], build_seconds: float) -> dict:
    # the build's time is charged where its steps are: full-data IMP beside a shortened dense run
    # trained its own round 0, and the set's build is not its cost
    build = build_seconds if build_charged(run["dense_reused"], run["subset"]) else 0.0
    return {"rounds": rounds, "steps_total": run["charged_steps"], "compute": run["compute"]["charged"],
            "wall_seconds": build + run["round0_seconds"] + run["search_seconds"], "run": run,
            "retrain_steps": run["retrain_steps"], "retrain_seconds": run["retrain_seconds"]}


def transferred(cfg: Config, source: Config, out, progress, only: set[int] | None) -> dict:
    """``cfg``'s tickets searched with the PrAC set that ``source`` (another architecture,
    same data) builds. The source's own PrAC search runs too: the build is then amortised
    over two architectures, as a cached set is meant to be."""
    entry = build_set(from_config(source), out, progress)
    f = entry.meta["prac_fraction"]
    own = run_search(from_config(method_config(source, "prac", f)), entry, out, progress)
    mcfg = method_config(cfg, "prac", f)
    run = run_search(from_config(mcfg), entry, out, progress)
    res = method_result(run, retrained_rounds(mcfg, run, out, progress, only=only), entry.meta["dense"]["seconds"])
    pair = amortised_savings(entry.meta["dense"]["steps"], [own, run])
    return {**res, "source_model": source.model.name, "prac_fraction": f, "amortised": pair}


def run_bench(what: str, cfg: Config, seeds: int, out, progress, methods=DEFAULT_METHODS,
              eval_rounds: set[int] | None = None, source: Config | None = None) -> dict:
    if what == "speed":
        from pipelines.speed import run_speed

        if distributed.active():
            raise PracError("bench speed compares the engine with a bare loop in one process; run it without torchrun")
        return run_speed(cfg, out, progress)
    if seeds < 1:
        raise PracError(f"--seeds {seeds} must be at least 1; use e.g. --seeds 3")
    unknown = set(methods) - set(METHODS)
    if unknown or not methods:
        raise PracError(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    root, report_dir = shared_root(out, "bench")

    def one(scfg: Config, i: int) -> dict:
        ssrc = None if source is None else dataclasses.replace(source, seed=source.seed + i)
        return run_seed(scfg, root, progress, methods, eval_rounds, ssrc)

    return bench_report.publish(report_dir, bench_stats.summarise(bench_report.over_seeds(cfg, seeds, one)), cfg,
                                seeds, bench_report, "bench")


def shared_root(out, name: str) -> tuple[Path, Path]:
    """(the artifact root, the report's folder): a benchmark caches its PrAC sets and runs
    where find-ticket does (``--out``, default ``artifacts``), so each side reuses the other's
    work and ``prac cache ls`` / ``prac report`` show them; its report goes to ``--out`` itself,
    or to ``artifacts/<name>/`` by default."""
    return paths.root(out), Path(out) if out else paths.DEFAULT_ROOT / name
