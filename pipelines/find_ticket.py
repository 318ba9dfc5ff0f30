"""Stage 2: iterative magnitude pruning that trains only on the PrAC set.

    prac find-ticket --prac KEY [--set prune.rounds=13 ...] [--out DIR]

Round 0 is the dense network. When the PrAC set was built with this model, training and
seed, round 0 *is* the build's dense run (its weights are cached with the set), as in the
paper's accounting; otherwise (another architecture) round 0 trains on the subset, for
``train.epochs x |subset| / N`` epochs at the search's lr. Each
later round prunes by magnitude, rewinds (or, with ``prune.search=finetune``, keeps the
trained weights), and trains on the subset for ``epochs x |subset| / N`` epochs. Every
round's network is evaluated on the full validation and test splits; the final ticket
(mask + rewind weights) is retrained on the full training split.

A run checkpoints to ``<run>/checkpoint.safetensors`` after every round and every epoch;
the same command (or ``--resume <run>``) continues a killed run from there and finishes
with the same masks and metrics, bit for bit, as an uninterrupted one.

Under ``torchrun --nproc_per_node=K -m prac find-ticket`` every round trains data-parallel
(``prac.distributed``); each round's masks are computed on rank 0 and broadcast, and rank
0 alone writes the run folder.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import time
from pathlib import Path

import torch

from pipelines.common import Snapshot, dataset, device, new_model, on_device, state_of
from prac import cache, distributed, paths
from prac.checkpoint import load_checkpoint, remove_checkpoint, save_checkpoint
from prac.config import Config, digest, load_config, to_dict
from prac.engine import evaluate, steps_for, train
from prac.errors import PracError
from prac.progress import say
from prac.prune import Masks, density, full_masks, hamming
from prac.report import amortised_savings, savings, write_report
from prac.select import prune_flips, random_indices
from prac.store import read_json, save_tensors, write_json


class EarlyBird:
    """Stop a round once the mask that pruning would give now differs from the previous
    epoch's by less than ``eps`` (normalised Hamming distance) for ``patience`` epochs."""

    def __init__(self, cfg: Config, masks: Masks):
        self.cfg, self.masks, self.prev, self.calm = cfg, masks, None, 0

    def on_epoch_end(self, epoch: int, model) -> bool:
        p = self.cfg.prune
        now = distributed.masks_on_main(model, self.masks, p.rate, p.out_rate, p.scope)  # same stop on every rank
        self.calm = self.calm + 1 if self.prev is not None and hamming(now, self.prev) < p.eb_eps else 0
        self.prev = now
        return self.calm >= p.eb_patience

    def state_dict(self) -> dict:
        return {"prev": self.prev, "calm": self.calm}

    def load_state_dict(self, saved: dict) -> None:
        self.prev, self.calm = saved["prev"], saved["calm"]


RUN_FILE = "run.json"            # the run's config and PrAC set, written first
CHECKPOINT = "checkpoint.safetensors"  # the newest state of an unfinished run

# Bumped whenever the search's code changes what a configuration computes, so that a
# cached run from older code is never served as this code's result.
SEARCH_VERSION = 3  # 3: a transferred round 0 trains train.epochs x f at the search lr


def run_name(cfg: Config, prac_key: str) -> str:
    h = digest("ticket", SEARCH_VERSION, prac_key, cfg.model, cfg.train, cfg.prune, cfg.select, cfg.seed)
    return f"{cfg.model.name}-{cfg.select.subset}-{h[:12]}"


def round_seed(seed: int, r: int) -> int:
    return seed * 1009 + r


def subset_for(cfg: Config, stats: dict[str, torch.Tensor], n: int) -> torch.Tensor:
    index = stats["index"]
    if cfg.select.subset == "random":
        return random_indices(n, len(index), cfg.seed)
    if cfg.select.subset == "full":
        return torch.arange(n)
    return index


def dense_is_reusable(cfg: Config, meta: dict) -> bool:
    """The cached dense run is this run's round 0 when model, training and seed agree."""
    # rebuilt through the schema, so a field added since (at its default) does not count as a change
    built = load_config(None, [], base=meta["config"])
    return (built.model == cfg.model and built.train == cfg.train and built.seed == cfg.seed
            and meta["dense"]["rewind_step"] == cfg.prune.rewind_step)


def retrain(cfg: Config, t: dict, rewind: dict, masks: Masks, model, seed: int, progress=None, label="retrain",
            checkpoint=None, resume=None):
    """Train the ticket (rewind weights x mask) on the full training split; test accuracy."""
    model.load_state_dict(rewind)
    n = len(t["y_train"])
    st = train(model, t["x_train"], t["y_train"], torch.arange(n), cfg.train, epochs=cfg.train.epochs, seed=seed,
               masks=masks, progress=progress, label=label, checkpoint=checkpoint, resume=resume)
    return evaluate(model, t["x_test"], t["y_test"]), st


def amortise(entry: cache.Entry, run: str, use: dict) -> dict | None:
    """Record this run as a use of the set; the savings of every recorded use together,
    with the set's build counted once."""
    try:
        if distributed.is_main():  # under torchrun one record, not one per rank
            entry.record_use(run, {**use, "created": datetime.datetime.now(datetime.timezone.utc).isoformat()})
    except OSError as e:  # a read-only shared cache: the run itself is still valid
        say(f"[yellow]could not record the use of PrAC set {entry.key[:12]} ({e.strerror}); "
            "no amortised savings[/yellow]")
        return None
    uses = entry.uses()
    return amortised_savings(entry.meta["dense"]["steps"], uses)


def check_same_data(entry: cache.Entry, fingerprint: str) -> None:
    if entry.meta["fingerprint"] != fingerprint:
        raise PracError(f"PrAC set {entry.key[:12]} was built on data with fingerprint {entry.meta['fingerprint'][:12]} "
                        f"({entry.meta['dataset']}) but this run's data has fingerprint {fingerprint[:12]}; "
                        "use the dataset settings it was built with, or build a PrAC set for this data")


def resumable(rdir) -> tuple[Config, cache.Entry, Path]:
    """The config, PrAC set and artifact root of the run started in folder ``rdir``."""
    rdir = Path(rdir)
    if not (rdir / RUN_FILE).is_file():
        raise PracError(f"{rdir} is not a prac run folder (no {RUN_FILE}); give a runs/<run> folder that "
                        "find-ticket started")
    started = read_json(rdir / RUN_FILE)
    root = rdir.resolve().parent.parent  # <root>/runs/<run>
    return load_config(None, [], base=started["config"]), cache.resolve(root, started["prac_key"]), root


def find_ticket(cfg: Config, entry: cache.Entry, out=None, progress=None) -> dict:
    data = dataset(cfg.dataset)
    check_same_data(entry, data.fingerprint)
    rdir = paths.run_dir(out, run_name(cfg, entry.key))
    if distributed.main_says((rdir / "report.json").is_file()):
        say(f"run {rdir.name} is finished: nothing to do")
        return {**read_json(rdir / "report.json"), "run_dir": str(rdir)}
    stats = entry.stats()  # read (and checksummed) once, before anything is written
    rdir.mkdir(parents=True, exist_ok=True)
    if distributed.is_main() and not (rdir / RUN_FILE).is_file():  # what `prac find-ticket --resume RUN_DIR` needs
        write_json(rdir / RUN_FILE, {"prac_key": entry.key, "config": to_dict(cfg)})
    ckpt = rdir / CHECKPOINT
    saved = load_checkpoint(ckpt)
    # the engine state of an interrupted train() and, inside a round, that round's masks
    resume = None if saved is None else saved.pop("train", None)
    round_masks = None if saved is None else saved.pop("round_masks", None)
    if saved is not None:
        say(f"resuming run {rdir.name} after round {saved['done']}"
            + ("" if resume is None else f", epoch {resume['epoch']} of the next training"))

    start = time.perf_counter()
    dev = device()
    t = on_device(data, dev)
    n = data.train_size
    p = cfg.prune
    initial = subset_for(cfg, stats, n)
    hard = torch.nonzero((stats["forgetting_events"] > entry.meta["threshold"]) | stats["never_learned"]).flatten()
    model = new_model(cfg, data, dev)
    # Everything the search has done so far; checkpointed after every round and, with the
    # engine's state, after every epoch, so a killed run continues exactly where it was.
    run: dict = saved or {"done": -1, "elapsed": 0.0}

    def checkpoint(**extra) -> None:
        save_checkpoint(ckpt, {**run, **extra, "elapsed": run["elapsed"] + time.perf_counter() - start})

    def scaled_epochs(size: int, base: float | None = None) -> float:
        """Epochs over a pool of ``size`` samples that spend the initial subset's budget:
        ``base x |S0| / N`` epochs over |S0| (dynamic iterations; ``base`` defaults to the
        search rounds' epochs). A reprobed pool changes which samples a round trains on, not
        how many steps it takes, so the PrAC search and its random control always spend the
        same steps."""
        base = base or p.search_epochs or cfg.train.epochs
        if not cfg.select.scale_epochs:
            return base
        steps = steps_for(base * len(initial) / n, len(initial), cfg.train.batch_size)
        return steps / math.ceil(size / cfg.train.batch_size)

    search_train = dataclasses.replace(cfg.train, lr=p.search_lr or cfg.train.lr,
                                       schedule=p.search_schedule or cfg.train.schedule)
    if run["done"] < 0 and dense_is_reusable(cfg, entry.meta):
        weights = entry.dense()
        d = entry.meta["dense"]
        run.update(init={k[5:]: v for k, v in weights.items() if k.startswith("init.")},
                   rewind={k[7:]: v for k, v in weights.items() if k.startswith("rewind.")},
                   model={k[8:]: v for k, v in weights.items() if k.startswith("trained.")},
                   reused=True, round0_seconds=0.0,
                   rounds=[{"round": 0, "density": 1.0, "steps": d["steps"], "samples": d["samples"],
                            "val_acc": d["val_acc"], "test_acc": d["test_acc"], "subset_size": n}])
    elif run["done"] < 0:  # another architecture (or training): its dense round trains on the subset too
        run.setdefault("init", state_of(model))
        snap = Snapshot(p.rewind_step)
        # the dense run's epochs scaled like a round's, at the search's lr: round 0 is part of the search
        st = train(model, t["x_train"], t["y_train"], initial, search_train,
                   epochs=scaled_epochs(len(initial), cfg.train.epochs),
                   seed=round_seed(cfg.seed, 0), listeners=[snap], progress=progress, label="round 0 (dense)",
                   checkpoint=lambda state: checkpoint(train=state), resume=resume)
        resume = None
        if p.rewind_step > st.steps:
            raise PracError(f"prune.rewind_step={p.rewind_step} is beyond round 0's {st.steps} steps; lower it")
        run.update(rewind=run["init"] if p.rewind_step == 0 else snap.state, model=state_of(model), reused=False,
                   round0_seconds=st.seconds,
                   rounds=[{"round": 0, "density": 1.0, "steps": st.steps, "samples": st.samples,
                            "val_acc": evaluate(model, t["x_val"], t["y_val"]),
                            "test_acc": evaluate(model, t["x_test"], t["y_test"]), "subset_size": len(initial)}])
    if run["done"] < 0:
        run.update(done=0, masks=full_masks(model), history={}, subset=initial, search_seconds=0.0, search_done=False)
        checkpoint()
    rewind = {k: v.to(dev) for k, v in run["rewind"].items()}
    model.load_state_dict(run["model"])
    rounds, history, masks, subset = run["rounds"], run["history"], run["masks"], run["subset"]
    for r in range(run["done"] + 1, 0 if run["search_done"] else p.rounds + 1):
        t0 = time.perf_counter()
        if resume is not None:  # killed inside this round: its masks were saved with the engine state
            masks = round_masks
        else:
            masks = distributed.masks_on_main(model, masks, p.rate, p.out_rate, p.scope)
            if p.search == "rewind":
                model.load_state_dict(rewind)
        listeners = [EarlyBird(cfg, masks)] if p.early_bird else []
        st = train(model, t["x_train"], t["y_train"], subset, search_train, epochs=scaled_epochs(len(subset)),
                   seed=round_seed(cfg.seed, r), masks=masks, listeners=listeners, progress=progress,
                   label=f"round {r}/{p.rounds}", checkpoint=lambda state: checkpoint(train=state, round_masks=masks),
                   resume=resume)
        resume = None
        rounds.append({"round": r, "density": density(masks), "val_acc": evaluate(model, t["x_val"], t["y_val"]),
                       "test_acc": evaluate(model, t["x_test"], t["y_test"]), "steps": st.steps,
                       "samples": st.samples, "subset_size": len(subset), "stopped_early": st.stopped_early})
        history.update({f"round{r}.{k}": m for k, m in masks.items()})
        say(f"round {r}: {100 * density(masks):.2f} % of weights, val {100 * rounds[-1]['val_acc']:.2f} %, "
            f"test {100 * rounds[-1]['test_acc']:.2f} %, {st.steps:,} steps on {len(subset):,} samples")
        if cfg.select.reprobe != "none" and cfg.select.subset == "prac":
            flipped = torch.nonzero(prune_flips(model, masks, t["x_train"], p.rate, p.out_rate, p.scope)).flatten()
            keep = subset if cfg.select.reprobe == "union" else hard
            subset = torch.unique(torch.cat([keep, flipped]))
        reached = p.target_density is not None and density(masks) <= p.target_density
        run.update(done=r, masks=masks, subset=subset, model=state_of(model), search_done=reached or r == p.rounds,
                   search_seconds=run["search_seconds"] + time.perf_counter() - t0)
        checkpoint()
        if reached:
            break
    search_seconds = run["search_seconds"]

    if distributed.is_main():
        save_tensors(rdir / "ticket.safetensors", {**{f"mask.{k}": m for k, m in masks.items()},
                                                   **{f"rewind.{k}": v for k, v in rewind.items()}})
        save_tensors(rdir / "masks.safetensors", history)
    ticket_acc, rst = retrain(cfg, t, rewind, masks, model, round_seed(cfg.seed, 10_000), progress, "retrain ticket",
                              checkpoint=lambda state: checkpoint(train=state), resume=resume)
    reused, round0_seconds = run["reused"], run["round0_seconds"]

    dense_steps = rounds[0]["steps"]
    steps_total = sum(x["steps"] for x in rounds)
    full_round = steps_for(cfg.train.epochs, n, cfg.train.batch_size)
    baseline_total = full_round * len(rounds)  # dense round + the same number of full-data rounds
    # The account charges the PrAC set's build (its dense run) once: it is round 0 when this
    # run reuses it, and is added on top when round 0 trained another architecture.
    build_steps = entry.meta["dense"]["steps"]
    own_steps = steps_total - (dense_steps if reused else 0)
    charged = own_steps + (build_steps if cfg.select.subset == "prac" or reused else 0)
    amortised = None
    if cfg.select.subset == "prac":
        amortised = amortise(entry, rdir.name, {"run": rdir.name, "model": cfg.model.name, "own_steps": own_steps,
                                                "baseline_steps_total": baseline_total})
    report = {
        "dataset": data.kind, "model": cfg.model.name, "source_model": entry.meta["model"], "prac_key": entry.key,
        "subset": cfg.select.subset, "seed": cfg.seed,
        "prac_size": len(initial), "train_size": n,
        "dense_test_acc": rounds[0]["test_acc"],
        "final_density": density(masks), "ticket_test_acc": ticket_acc,
        "rounds": rounds,
        "steps_total": steps_total, "dense_steps": dense_steps, "retrain_steps": rst.steps,
        "dense_reused": reused, "build_steps": build_steps, "own_steps": own_steps, "charged_steps": charged,
        "baseline_steps_total": baseline_total, "baseline_dense_steps": full_round,
        **savings(charged, steps_total - dense_steps, baseline_total, full_round, rst.steps),
        "amortised": amortised,
        "sample_gradients": sum(x["samples"] for x in rounds),
        "search_seconds": search_seconds, "round0_seconds": round0_seconds,
        "dense_seconds": entry.meta["dense"]["seconds"], "retrain_seconds": rst.seconds,
        "wall_seconds": run["elapsed"] + time.perf_counter() - start,
        "config": to_dict(cfg),
        "world_size": distributed.world_size(),
    }
    if distributed.is_main():
        write_report(rdir, report)
        remove_checkpoint(ckpt)
    distributed.barrier()  # the run is finished for every rank once its report exists
    say(f"ticket at {100 * density(masks):.2f} % of weights: test accuracy {100 * ticket_acc:.2f} % after the full-data "
        f"retrain (dense {100 * report['dense_test_acc']:.2f} %); iteration savings "
        f"{100 * report['iteration_savings']:.1f} % vs full-data IMP")
    report["run_dir"] = str(rdir)
    return report
