"""A ticket search in progress: what every stage of it reads (its setup, policy, step plan,
set, folder and state) and the few things they all do (checkpoint, continue a killed
training, draw a validation curve)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from prac.search.policies import Policy, policy
from prac.search.state import Inflight, SearchState
from prac.select import cache
from prac.select.selectors import Selector, selector
from prac.setup import Setup
from prac.train.curve import Curve, cost as curve_cost
from prac.train.loop import steps_for

CHECKPOINT = "checkpoint.safetensors"  # the newest state of an unfinished run


@dataclass(frozen=True)
class Plan:
    """A search's step arithmetic, fixed by its config, its policy and the split's size."""
    n: int                   # training samples
    batch: int
    full_round: int          # steps of one full-data round: train.epochs over the split
    round_steps: int | None  # a round's step budget (None: epochs scaled by the set, the paper's rule)
    size: int | None         # the samples one pass of a budget visits: the subset's size (None: the whole set)
    epochs: float            # train.epochs

    @classmethod
    def of(cls, setup: Setup, pol: Policy) -> "Plan":
        cfg, n = setup.cfg, setup.data.train_size
        b = cfg.train.batch_size
        full = steps_for(cfg.train.epochs, n, b)
        steps = max(1, round(cfg.prune.search_budget * full)) if pol.budget else None
        return cls(n, b, full, steps, None if steps is None else steps * b, cfg.train.epochs)

    def epochs_over(self, pool: int, initial: int) -> float:
        """Epochs over a pool of ``pool`` samples that spend one round: a budget's steps, or
        ``train.epochs x |S0| / N`` epochs over the initial subset's |S0| samples (dynamic
        iterations). A reprobed pool changes which samples a round trains on, not how many
        steps it takes, so the PrAC search and its random control spend the same steps."""
        if self.round_steps is not None:
            return self.round_steps / math.ceil(pool / self.batch)
        steps = steps_for(self.epochs * initial / self.n, initial, self.batch)
        return steps / math.ceil(pool / self.batch)


class Run:
    def __init__(self, setup: Setup, entry: cache.Entry, stats: dict, rdir: Path, progress=None):
        self.setup, self.cfg, self.entry, self.stats, self.rdir, self.progress = (
            setup, setup.cfg, entry, stats, rdir, progress)
        self.policy: Policy = policy(self.cfg.prune.search)
        self.selector: Selector = selector("full" if self.policy.full_data else self.cfg.select.method)
        self.plan = Plan.of(setup, self.policy)
        self.ckpt = rdir / CHECKPOINT
        self.state = SearchState.load(self.ckpt) or SearchState()
        self.start = time.perf_counter()
        self.t = setup.tensors()
        self.initial = self.selector.pick(stats, setup.data.y_train, self.plan.size, self.cfg.seed,
                                          entry.meta["threshold"])

    @property
    def probes(self) -> bool:
        """Whether the flip probe refreshes the subset every round (the PrAC set only)."""
        return self.policy.reprobe != "none" and self.selector.probes

    def checkpoint(self, inflight: Inflight | None = None) -> None:
        self.state.save(self.ckpt, self.elapsed(), inflight)

    def take_resume(self, stage: str, r: int | None = None) -> Inflight | None:
        """The interrupted training to continue, once, if it is this one: ``stage`` "round"
        (a search round) or "retrain" (of round ``r``); None otherwise."""
        inflight = self.state.inflight
        if inflight is None:
            return None
        where = "retrain" if inflight.retraining is not None else "round"
        if where != stage or (stage == "retrain" and inflight.retraining != r):
            return None
        return self.state.take_inflight()

    def curve(self, total_steps: int, checks_only: bool = False) -> Curve:
        """The validation curve of a training of ``total_steps``; with ``checks_only`` a point
        only where the caller records one (a fine-tuning round's budget checks) and at the end,
        and no test pass: that round's network is no ticket (its ticket is retrained and tested)."""
        tc = self.cfg.train
        return Curve(self.t, total_steps, 0 if checks_only else tc.eval_every, tc.eval_test and not checks_only,
                     tc.precision, self.setup.learned_mse, final_test=not checks_only)

    def curve_cost(self, total_steps: int) -> int:
        """Samples the curve of a training of ``total_steps`` predicts (``prac.train.curve.cost``)."""
        tc = self.cfg.train
        return curve_cost(total_steps, tc.eval_every, len(self.t["y_val"]), len(self.t["y_test"]), tc.eval_test)

    def elapsed(self) -> float:
        return self.state.elapsed + time.perf_counter() - self.start

    def seed(self, r: int) -> int:
        """The data-order seed of round ``r``."""
        return round_seed(self.cfg.seed, r)


def round_seed(seed: int, r: int) -> int:
    """The data-order seed of search round ``r`` of a run seeded ``seed``."""
    return seed * 1009 + r


def reach_lr(pol: Policy, lr: float, optimizer: str, round_steps: int | None, init: dict, trained: dict,
             masks: dict) -> float:
    """The fine-tuning rounds' peak lr (the policy's ``reach``). Adam moves a weight about its
    lr per step, so a B-step budget reaches lr x B, too little where the dense run barely moved
    its weights (Conv-2's Adam 2e-4): the lr rises until a budget reaches ``reach`` x the mean
    distance round 0 moved a prunable weight, never below ``lr``."""
    if pol.reach is None or pol.rewinds or round_steps is None or optimizer != "adam":
        return lr
    moved = torch.cat([(trained[n].cpu().float() - init[n].cpu().float()).abs().flatten() for n in masks])
    return max(lr, pol.reach * moved.mean().item() / round_steps)
