"""Stage 2: iterative magnitude pruning that trains only on the PrAC set.

    prac find-ticket --prac KEY [--set prune.rounds=13 ...] [--out DIR]
    prac.find_ticket(model_fn, x_train, y_train, x_test, y_test)          # the Python API

A run reads as its steps (``find_ticket``):
1. round 0, the dense network: when the PrAC set was built with this model, training and
   seed, it *is* the build's dense run (its weights are cached with the set), as in the
   paper's accounting; otherwise (another architecture) round 0 trains on the subset, for
   ``train.epochs x |subset| / N`` epochs at the search's lr;
2. the search rounds: each prunes (``prune.criterion``: by magnitude among the weights
   whose sign still matches the rewind weights'), keeps the trained weights (or, with
   ``prune.search=rewind``, rewinds) and trains on the subset for a step budget, more while
   its validation accuracy falls short (``prac.search.rounds``); every round is evaluated on the
   full validation and test splits;
3. validation (``prac.search.validate``): the chosen ticket (mask + rewind weights) is retrained
   on the full training split, under ``prune.validate`` (last round, or bisection for the
   sparsest winning round); its trained weights are kept;
4. the account (``prac.report.account``): steps and savings against full-data IMP.

A run checkpoints to ``<run>/checkpoint.safetensors`` after every round, every epoch and
every retrain; the same command (or ``--resume <run>``) continues a killed run from there
and finishes with the same masks and metrics, bit for bit, as an uninterrupted one.

Under ``torchrun --nproc_per_node=K -m prac find-ticket`` every round trains data-parallel
(``prac.train.distributed``); each round's masks are computed on rank 0 and broadcast, and rank
0 alone writes the run folder.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import torch

from prac import paths
from prac.select import cache
from prac.train import distributed
from prac.train.checkpoint import load_checkpoint, remove_checkpoint, save_checkpoint
from prac.config.schema import Config, TrainConfig, to_dict
from prac.config.load import load_config
from prac.train.curve import EARLY_STOP, Curve, cost as curve_cost
from prac.train.loop import steps_for, train
from prac.errors import PracError
from prac.search.naming import as_started, reaches, run_name
from prac.progress import say
from prac.prune import Masks, density, full_masks, pull_back, round_masks
from prac.report.account import account_for, build_forwards, forwards, write_report
from prac.select import budget_subset, hardness, prune_flips, random_indices
from prac.select.reuse import check_same_data, own_dense_round, reuse_problem, same_architecture, teacher_logits
from prac.search.rounds import evaluate_pruned, train_round
from prac.setup import Setup, Snapshot, state_of
from prac.store import read_json, save_tensors, write_json
from prac.search.validate import round_seed, validate_run

RUN_FILE = "run.json"                  # the run's config, PrAC set and network, written first
CHECKPOINT = "checkpoint.safetensors"  # the newest state of an unfinished run
TICKET = "ticket.safetensors"          # the chosen ticket: mask.<name> and rewind.<name>
TRAINED = "trained.safetensors"        # the chosen ticket after its full-data retrain
HISTORY = "masks.safetensors"          # every round's masks: round<r>.<name>

def subset_for(cfg: Config, stats: dict[str, torch.Tensor], labels: torch.Tensor, size: int | None) -> torch.Tensor:
    """The first round's training subset: the PrAC set (or, with ``select.size=budget``, the
    ``size`` samples built around it), a random subset of the same size, or everything."""
    n = len(labels)
    index = stats["index"]
    if size is not None and cfg.select.subset == "prac":
        score = hardness(stats["forgetting_events"], stats["never_learned"], stats["prune_flipped"])
        index = budget_subset(index, score, labels, size, cfg.seed)
    if cfg.select.subset == "random":
        return random_indices(n, len(index) if size is None else size, cfg.seed)
    if cfg.select.subset == "full":
        return torch.arange(n)
    return index


def resumable(rdir) -> tuple[Config, cache.Entry, Path]:
    """The config, PrAC set and artifact root of the run started in folder ``rdir``."""
    rdir = Path(rdir)
    if not (rdir / RUN_FILE).is_file():
        raise PracError(f"{rdir} is not a prac run folder (no {RUN_FILE}); give a runs/<run> folder that "
                        "find-ticket started")
    started = read_json(rdir / RUN_FILE)
    if (started.get("network") or {}).get("user_model"):
        raise PracError(f"{rdir} is a run of a model of your own ({started['network']['model']}); resume it from "
                        "Python by calling prac.find_ticket again with the same arguments")
    root = rdir.resolve().parent.parent  # <root>/runs/<run>
    return load_config(None, [], base=as_started(started["config"])), cache.resolve(root, started["prac_key"]), root


class Run:
    """A ticket search in progress: its folder, its state (checkpointed after every round,
    epoch and retrain, so a killed run continues exactly where it was) and its budget."""

    def __init__(self, setup: Setup, entry: cache.Entry, stats: dict, rdir: Path, progress=None):
        self.setup, self.cfg, self.entry, self.rdir, self.progress = setup, setup.cfg, entry, rdir, progress
        self.ckpt = rdir / CHECKPOINT
        saved = load_checkpoint(self.ckpt)
        # the engine state of an interrupted train() and, inside a round, that round's masks
        self.resume = None if saved is None else saved.pop("train", None)
        self.round_masks = None if saved is None else saved.pop("round_masks", None)
        self.retraining = None if saved is None else saved.pop("retraining", None)
        # inside a round extended by prune.search_extend: which budget, the figures of the budgets
        # before it and (prune.search_plateau) the validation accuracy after the last of them
        self.resume_chunk = None if saved is None else (saved.pop("chunk", 0) or 0, saved.pop("chunk_stats", None),
                                                        saved.pop("chunk_val", None))
        if saved is not None:
            say(f"resuming run {rdir.name} after round {saved['done']}"
                + ("" if self.resume is None else f", epoch {self.resume['epoch']} of the next training"))
        self.state: dict = saved or {"done": -1, "elapsed": 0.0}
        self.start = time.perf_counter()
        self.t = setup.tensors()
        self.n = setup.data.train_size
        self.stats = stats
        b = self.cfg.train.batch_size
        self.full_round = steps_for(self.cfg.train.epochs, self.n, b)
        budget = self.cfg.prune.search_budget
        self.round_steps = None if budget is None else max(1, round(budget * self.full_round))
        # select.size=budget: one pass of a round's steps over distinct samples
        self.size = self.round_steps * b if self.cfg.select.size == "budget" else None
        # prune.search_pace=adaptive splits a budget into quarters: without one, rounds are fixed
        self.adaptive = self.cfg.prune.search_pace == "adaptive" and self.round_steps is not None
        # prune.search_cap: the steps the search may spend beyond every round's own budget (None: no cap)
        cap = self.cfg.prune.search_cap
        self.first_bank = (None if cap is None or self.round_steps is None
                           else round((cap - 1) * self.cfg.prune.n_rounds * self.round_steps))
        self.initial = subset_for(self.cfg, self.stats, setup.data.y_train, self.size)
        self.hard = torch.nonzero((self.stats["forgetting_events"] > entry.meta["threshold"])
                                  | self.stats["never_learned"]).flatten()
        p = self.cfg.prune
        self.teacher = None
        if p.distill > 0:
            self.teacher = (teacher_logits(setup, entry, stats, self.t).to(setup.device), p.distill)
        self.search_train = dataclasses.replace(self.cfg.train, lr=p.search_lr or self.cfg.train.lr,
                                                schedule=p.search_schedule or self.cfg.train.schedule)

    def late(self, masks: Masks) -> bool:
        """Whether a fine-tuning round with ``masks`` rewinds and trains ``prune.late_budget``
        instead (``prune.late_rewind``; a rewinding search, full-data IMP among them, is left as it is)."""
        p = self.cfg.prune
        return p.search == "finetune" and p.late_rewind is not None and density(masks) <= p.late_rewind

    def rewinds(self, masks: Masks) -> bool:
        """Whether the round with ``masks`` trains from the rewind weights (a rewinding search,
        or a late round of a fine-tuning one) rather than fine-tuning the weights it has."""
        return self.cfg.prune.search == "rewind" or self.late(masks)

    def round_train(self, masks: Masks) -> TrainConfig:
        """How the round with ``masks`` trains: a rewound round as the search's training, a
        fine-tuning one at the lr ``reach_lr`` set and with ``prune.search_weight_decay``, whose
        pull lets the weights the pruned network stops using fade before the next prune."""
        if self.rewinds(masks):
            return self.search_train
        return dataclasses.replace(self.search_train, weight_decay=self.cfg.prune.search_weight_decay,
                                   lr=self.state.get("finetune_lr", self.search_train.lr))

    def reach_lr(self, init: dict[str, torch.Tensor], trained: dict[str, torch.Tensor], masks: Masks) -> float:
        """The fine-tuning rounds' peak lr (``prune.search_reach``). Adam moves a weight about its lr
        per step, so a B-step budget reaches lr x B, too little where the dense run barely moved
        its weights (Conv-2's Adam 2e-4): the lr rises until a budget reaches ``search_reach`` x the
        mean distance round 0 moved a prunable weight, never below the search's (``naming.reaches``)."""
        p, lr = self.cfg.prune, self.search_train.lr
        if not reaches(p, self.search_train.optimizer):
            return lr
        moved = torch.cat([(trained[n].cpu().float() - init[n].cpu().float()).abs().flatten() for n in masks])
        return max(lr, p.search_reach * moved.mean().item() / self.round_steps)

    def own_steps(self, masks: Masks) -> int | None:
        """A round's own step budget: ``prune.late_budget`` of a full round for a late-rewind
        round, else ``prune.search_budget``'s (None: no budget, epochs scaled by the set)."""
        if self.late(masks):
            return max(1, round(self.cfg.prune.late_budget * self.full_round))
        return self.round_steps

    def bank(self) -> int | None:
        """What ``prune.search_cap`` still allows beyond the remaining rounds' own budgets: the
        first bank, plus what every search round so far left of its budget or took beyond it
        (None: no cap)."""
        if self.first_bank is None:
            return None
        return self.first_bank + sum(x.get("budget", self.round_steps) - x["steps"] for x in self.state["rounds"][1:])

    def checkpoint(self, **extra) -> None:
        save_checkpoint(self.ckpt, {**self.state, **extra,
                                    "elapsed": self.state["elapsed"] + time.perf_counter() - self.start})

    def take_chunk(self) -> tuple[int, dict | None, float | None]:
        """Where the round killed inside its budgets continues (once; every later round starts
        at its first budget): (chunk, the figures before it, the accuracy after the last)."""
        chunk, self.resume_chunk = self.resume_chunk or (0, None, None), None
        return chunk

    def take_resume(self) -> dict | None:
        """The engine state to continue the next training from (once)."""
        resume, self.resume = self.resume, None
        return resume

    def scaled_epochs(self, size: int, base: float | None = None, steps: int | None = None) -> float:
        """Epochs over a pool of ``size`` samples that spend the initial subset's budget:
        ``base x |S0| / N`` epochs over |S0| (dynamic iterations; ``base`` defaults to the
        search rounds' epochs). A reprobed pool changes which samples a round trains on, not
        how many steps it takes, so the PrAC search and its random control always spend the
        same steps. ``steps``: a round's own budget, when it is not ``prune.search_budget``'s."""
        cfg = self.cfg
        steps = steps or self.round_steps
        if steps is not None and base is None:  # prune.search_budget: a fixed share of a full round
            return steps / math.ceil(size / cfg.train.batch_size)
        base = base or cfg.prune.search_epochs or cfg.train.epochs
        if not cfg.select.scale_epochs:
            return base
        steps = steps_for(base * len(self.initial) / self.n, len(self.initial), cfg.train.batch_size)
        return steps / math.ceil(size / cfg.train.batch_size)

    def probed(self, r: int) -> torch.Tensor:
        """The training samples round ``r``'s flip probe predicts: all of them, or a fresh
        random ``select.probe_fraction`` of them (the same draw on every rank)."""
        q = self.cfg.select.probe_fraction
        if q >= 1:
            return torch.arange(self.n)
        g = torch.Generator().manual_seed(round_seed(self.cfg.seed, 40_000 + r))
        return torch.randperm(self.n, generator=g)[:max(1, round(q * self.n))].sort().values

    def refreshed(self, subset: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
        """The next round's pool after a reprobe: the flips of the current ticket added to the
        pool (union) or to the hard-to-memorize samples (refresh); with select.size=budget,
        brought back to the budget around them."""
        keep = subset if self.cfg.select.reprobe == "union" else self.hard
        pool = torch.unique(torch.cat([keep, flipped]))
        if self.size is None:
            return pool
        st = self.stats
        now = torch.zeros(self.n, dtype=torch.bool)
        now[flipped] = True
        score = hardness(st["forgetting_events"], st["never_learned"], now)
        return budget_subset(pool, score, self.setup.data.y_train, self.size, self.cfg.seed + 1 + self.state["done"])

    def curve(self, total_steps: int, checks_only: bool = False) -> Curve:
        """The validation curve of a training of ``total_steps`` (``prac.train.curve``); with
        ``checks_only``, a point only where the caller records one (a fine-tuning round's
        budget checks) and at the end."""
        tc = self.cfg.train
        return Curve(self.t, total_steps, 0 if checks_only else tc.eval_every, tc.eval_test, tc.precision,
                     self.setup.learned_mse)

    def curve_cost(self, total_steps: int) -> int:
        """Samples the curve of a training of ``total_steps`` predicts (``prac.train.curve.cost``)."""
        tc = self.cfg.train
        return curve_cost(total_steps, tc.eval_every, len(self.t["y_val"]), len(self.t["y_test"]), tc.eval_test)

    def elapsed(self) -> float:
        return self.state["elapsed"] + time.perf_counter() - self.start


def find_ticket(setup: Setup, entry: cache.Entry, out=None, progress=None) -> dict:
    """Search, validate and account for a ticket of ``setup`` with PrAC set ``entry``; the
    report (with ``run_dir``). A finished run is read back, not recomputed."""
    check_same_data(entry, setup.data.fingerprint)
    problem = reuse_problem(setup, entry.meta)
    if problem:
        raise PracError(problem)
    rdir = paths.run_dir(out, run_name(setup, entry.key))
    if distributed.main_says((rdir / "report.json").is_file()):
        say(f"run {rdir.name} is finished: nothing to do")
        return {**read_json(rdir / "report.json"), "run_dir": str(rdir)}
    stats = entry.stats()  # read (and checksummed) once, before anything is written
    rdir.mkdir(parents=True, exist_ok=True)
    if distributed.is_main() and not (rdir / RUN_FILE).is_file():  # what `prac find-ticket --resume RUN_DIR` needs
        write_json(rdir / RUN_FILE, {"prac_key": entry.key, "config": to_dict(setup.cfg), "network": setup.header()})
    run = Run(setup, entry, stats, rdir, progress)
    model = setup.new_model()
    if run.state["done"] < 0:
        round_zero(run, model)
    search_rounds(run, model)
    chosen = validate_run(run, model)
    report = account_for(run, chosen)
    if distributed.is_main():
        save_ticket(run, chosen["round"])
        write_report(rdir, report)
        remove_checkpoint(run.ckpt)
    distributed.barrier()  # the run is finished for every rank once its report exists
    tk = report["ticket"]
    say(f"ticket at {100 * tk['density']:.2f} % of weights (round {tk['round']}, "
        f"{'a winning ticket' if tk['winning'] else 'NOT within tolerance of the dense network'}): test accuracy "
        f"{100 * tk['test_acc']:.2f} % after the full-data retrain (dense {100 * report['dense_test_acc']:.2f} %); "
        f"iteration savings {100 * report['iteration_savings']:.1f} % vs full-data IMP")
    report["run_dir"] = str(rdir)
    return report


def round_zero(run: Run, model) -> None:
    """The dense round: the set's cached dense run when it is this run's, else a dense
    training on the subset (another architecture, or full-data IMP beside a shortened
    dense run, ``prac.select.reuse.own_dense_round``)."""
    cfg, entry, state = run.cfg, run.entry, run.state
    own = own_dense_round(run.setup, entry.meta)
    # reuse_problem() made sure seed and training agree
    if same_architecture(run.setup, entry.meta) and not own:
        weights = entry.dense()
        d = entry.meta["dense"]
        state.update(init={k[5:]: v for k, v in weights.items() if k.startswith("init.")},
                     rewind={k[7:]: v for k, v in weights.items() if k.startswith("rewind.")},
                     model={k[8:]: v for k, v in weights.items() if k.startswith("trained.")},
                     reused=True, round0_seconds=0.0,
                     rounds=[{"round": 0, "density": 1.0, "steps": d["steps"], "samples": d["samples"],
                              "forwards": build_forwards(run), "val_acc": d["val_acc"], "test_acc": d["test_acc"],
                              # sets built before the curves existed have no early-stop figures
                              **{k: d.get(k) for k in EARLY_STOP}, "curve": d.get("curve", []),
                              "subset_size": run.n}])
    else:
        p, t = cfg.prune, run.t
        state.setdefault("init", state_of(model))
        snap = Snapshot(p.rewind_step)
        # the dense run's epochs scaled like a round's, at the search's lr: round 0 is part of the search
        epochs = run.scaled_epochs(len(run.initial), cfg.train.epochs)
        curve = run.curve(steps_for(epochs, len(run.initial), cfg.train.batch_size))
        # full-data IMP's own round 0 draws the build's data order, so it is the dense run a full-length
        # build would have made: its rounds do not depend on select.dense_fraction
        seed = cfg.seed if own else round_seed(cfg.seed, 0)
        st = train(model, t["x_train"], t["y_train"], run.initial, run.search_train, epochs=epochs,
                   seed=seed, listeners=[snap, curve], progress=run.progress,
                   label="round 0 (dense)", checkpoint=lambda s: run.checkpoint(train=s), resume=run.take_resume(),
                   teacher=run.teacher, learned_mse=run.setup.learned_mse)
        if p.rewind_step > st.steps:
            raise PracError(f"prune.rewind_step={p.rewind_step} is beyond round 0's {st.steps} steps; lower it")
        state.update(rewind=state["init"] if p.rewind_step == 0 else snap.state, model=state_of(model),
                     reused=False, round0_seconds=st.seconds,
                     rounds=[{"round": 0, "density": 1.0, "steps": st.steps, "samples": st.samples,
                              **curve.finish(model, st.steps), "forwards": forwards(st.samples, curve.evaluated()),
                              "subset_size": len(run.initial)}])
    state.update(done=0, masks=full_masks(model), history={}, subset=run.initial, search_seconds=0.0,
                 search_done=False, retrained={})
    lr = state["finetune_lr"] = run.reach_lr(state["init"], state["model"], state["masks"])
    if lr != run.search_train.lr:
        reach = cfg.prune.search_reach
        say(f"fine-tuning rounds at lr {lr:.3g}, {lr / run.search_train.lr:.1f}x the search's: with it a budget can "
            f"move a weight {reach:g}x the mean distance the dense run moved one (prune.search_reach={reach:g})")
    run.checkpoint()


def search_rounds(run: Run, model) -> None:
    """Prune, rewind or keep, train on the subset, evaluate, reprobe: until ``prune.rounds``
    rounds are done or ``prune.target_density`` is reached."""
    cfg, state, t, p = run.cfg, run.state, run.t, run.cfg.prune
    rewind = {k: v.to(run.setup.device) for k, v in state["rewind"].items()}
    model.load_state_dict(state["model"])
    rounds, history, masks, subset = state["rounds"], state["history"], state["masks"], state["subset"]
    for r in range(state["done"] + 1, 0 if state["search_done"] else p.n_rounds + 1):
        t0 = time.perf_counter()
        if run.resume is not None:  # killed inside this round: its masks were saved with the engine state
            masks = run.round_masks
        else:
            masks = distributed.masks_on_main(model, masks, p.round_rate, p.out_rate, p.scope, p.conv_rate,
                                              p.criterion, rewind)
            if run.rewinds(masks):
                model.load_state_dict(rewind)
            elif p.partial_rewind > 0:
                pull_back(model, rewind, p.partial_rewind)
        last = r == p.n_rounds or (p.target_density is not None and density(masks) <= p.target_density)
        if last and p.search == "finetune":  # its mask is its ticket: training it would serve nothing
            st, chunks, evaluation = evaluate_pruned(run, model, masks)
        else:
            st, chunks, evaluation = train_round(run, model, masks, subset, r, rounds[-1]["val_acc"])
        evaluated = evaluation.pop("evaluated")
        rounds.append({"round": r, "density": density(masks), **evaluation, "steps": st.steps,
                       "samples": st.samples, "subset_size": len(subset), "stopped_early": st.stopped_early,
                       "chunks": chunks, "forwards": forwards(st.samples, evaluated),
                       "budget": run.own_steps(masks), "rewound": run.rewinds(masks)})
        rounds[-1]["bank"] = run.bank()
        history.update({f"round{r}.{k}": m for k, m in masks.items()})
        accuracy = f"val {100 * rounds[-1]['val_acc']:.2f} %, test {100 * rounds[-1]['test_acc']:.2f} %"
        if chunks == 0:
            say(f"round {r}: {100 * density(masks):.2f} % of weights, pruned and not trained (its mask is the "
                f"ticket, retrained below): {accuracy} as pruned")
        else:
            say(f"round {r}: {100 * density(masks):.2f} % of weights, {accuracy}, {st.steps:,} steps on "
                f"{len(subset):,} samples" + (f" ({chunks} {'chunks' if run.adaptive else 'budgets'})" if chunks > 1 else ""))
        if cfg.select.reprobe != "none" and cfg.select.subset == "prac" and not last:
            probed = run.probed(r)
            x, y = (t["x_train"], t["y_train"]) if len(probed) == run.n else (t["x_train"][probed], t["y_train"][probed])
            flipped = probed[prune_flips(model, masks, x, p.round_rate, p.out_rate, p.scope, y=y,
                                         learned_mse=run.setup.learned_mse, conv_rate=p.conv_rate)]
            subset = run.refreshed(subset, flipped)
            rounds[-1]["forwards"] += 2 * len(probed)  # the probe predicts its samples twice
        state.update(done=r, masks=masks, subset=subset, model=state_of(model), search_done=last,
                     search_seconds=state["search_seconds"] + time.perf_counter() - t0)
        run.checkpoint()
        if last:
            break
    state["search_done"] = True
    if distributed.is_main():
        save_tensors(run.rdir / HISTORY, history)


def save_ticket(run: Run, r: int) -> None:
    """The chosen ticket (round ``r``'s mask + the rewind weights) and its retrained weights."""
    state = run.state
    save_tensors(run.rdir / TICKET, {**{f"mask.{k}": m for k, m in round_masks(state["history"], r).items()},
                                     **{f"rewind.{k}": v for k, v in state["rewind"].items()}})
    save_tensors(run.rdir / TRAINED, state["retrained"][str(r)]["weights"])
