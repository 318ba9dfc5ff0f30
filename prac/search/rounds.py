"""One search round's training: the pruned network trains on the subset in budgets (or, at
the adaptive pace, quarter budgets) until its validation accuracy recovers, and every
budget beyond the round's own is paid from the bank that ``prune.search_cap`` fills
(no cap, the default: no bank, and a round takes up to ``1 + search_extend`` budgets).

    fixed pace      budget, check, budget, check ... at most 1 + prune.search_extend budgets
    adaptive pace   quarter, check, quarter, check ... the same cap, in quarters
    the bank        (search_cap - 1) x rounds x budget to start; a round adds what it left
                    of its own budget and takes what it spent beyond it

With a cap the search never spends more than ``search_cap x rounds x budget`` steps,
whatever the data: a fixed share of full-data IMP's.
"""

from __future__ import annotations

import dataclasses
import typing

import torch

from prac.train import distributed
from prac.config.schema import Config
from prac.train.loop import TrainStats, steps_for, train
from prac.prune import Masks, apply_masks, hamming
from prac.search.validate import round_seed

if typing.TYPE_CHECKING:
    from prac.search.loop import Run

CHUNKS = 4  # prune.search_pace=adaptive trains a round in quarter budgets, checking validation after each


class EarlyBird:
    """Stop a round once the mask that pruning would give now differs from the previous
    epoch's by less than ``eps`` (normalised Hamming distance) for ``patience`` epochs."""

    def __init__(self, cfg: Config, masks: Masks):
        self.cfg, self.masks, self.prev, self.calm = cfg, masks, None, 0

    def on_epoch_end(self, epoch: int, model) -> bool:
        p = self.cfg.prune
        # computed on rank 0 and broadcast: the same stop on every rank
        now = distributed.masks_on_main(model, self.masks, p.round_rate, p.out_rate, p.scope, p.conv_rate)
        self.calm = self.calm + 1 if self.prev is not None and hamming(now, self.prev) < p.eb_eps else 0
        self.prev = now
        return self.calm >= p.eb_patience

    def state_dict(self) -> dict:
        return {"prev": self.prev, "calm": self.calm}

    def load_state_dict(self, saved: dict) -> None:
        self.prev, self.calm = saved["prev"], saved["calm"]


@torch.no_grad()
def evaluate_pruned(run: Run, model, masks: Masks):
    """The last round of a fine-tuning search, untrained: its ticket is its mask (fixed by the
    round before) on the rewind weights, retrained on the full data, so the search's weights
    after it serve nothing. The pruned network is evaluated once, for the round's record;
    the same (figures, chunks, evaluation) as ``train_round``."""
    apply_masks(model, masks)
    curve = run.curve(1)
    return TrainStats(), 0, {**curve.finish(model, 0), "evaluated": curve.evaluated()}


def train_round(run: Run, model, masks: Masks, subset: torch.Tensor, r: int, previous_val: float):
    """Train round ``r``'s pruned network on ``subset``, in chunks, until its validation
    accuracy is within ``prune.tolerance`` of the previous round's (``previous_val``).

    ``fixed`` pace: chunks of one budget, at most ``1 + prune.search_extend``; with
    ``prune.search_plateau`` the round also stops when a chunk left validation no higher
    than the chunk before it. ``adaptive``:
    chunks of a quarter budget, so an easy round stops after a quarter and leaves the rest
    to the rounds that prune into the network's bone. Either way a chunk beyond the round's
    own budget is paid from the bank (``run.bank()``): what ``prune.search_cap`` allows
    beyond every round's budget, plus what earlier rounds left unspent. So the search never
    spends more than ``search_cap x rounds x budget`` steps, whatever the data, and a round
    only takes what the cap leaves to it (no cap: ``search_cap=null``, or no budget). One
    validation curve spans the chunks (the checks are its points). Returns the summed
    figures, the chunks trained and the round's evaluation (``prac.train.curve.Curve.finish``,
    with ``evaluated``: the samples it predicted)."""
    cfg, p, t = run.cfg, run.cfg.prune, run.t
    per_budget = CHUNKS if run.adaptive else 1
    total, (chunk, so_far, before) = None, run.take_chunk()
    if chunk:  # killed after a chunk: the figures of the chunks before it were checkpointed
        total = TrainStats(**so_far)
    own = run.own_steps(masks)
    budget = run.scaled_epochs(len(subset), steps=own)
    budget_steps = steps_for(budget, len(subset), cfg.train.batch_size)
    bank = run.bank()
    allowed = None if bank is None else own + bank  # this round's budget and what the bank holds
    # a late-rewind round trains its one (larger) budget from the rewind weights: no extra budgets
    most = per_budget if run.late(masks) else (1 + p.search_extend) * per_budget
    # A rewound round trains a ticket from its rewind weights (full-data IMP's rounds are the
    # LTH curves), so it keeps the curve's points. A fine-tuning round's network is no ticket
    # (its ticket is retrained, with its own curve): it is evaluated at its checks only; the
    # curve's 20 validation passes cost a round of a few dozen steps several times its training.
    curve = run.curve(budget_steps, checks_only=not run.rewinds(masks))
    while True:
        curve.offset = 0 if total is None else total.steps
        listeners = [curve] + ([EarlyBird(cfg, masks)] if p.early_bird else [])
        so_far = None if total is None else dataclasses.asdict(total)
        st = train(model, t["x_train"], t["y_train"], subset, run.round_train(masks), epochs=budget / per_budget,
                   seed=round_seed(cfg.seed, r) + 100_003 * chunk, masks=masks, listeners=listeners,
                   progress=run.progress, label=f"round {r}/{p.n_rounds}",
                   checkpoint=lambda s: run.checkpoint(train=s, round_masks=masks, chunk=chunk, chunk_stats=so_far,
                                                       chunk_val=before),
                   resume=run.take_resume(), teacher=run.teacher, learned_mse=run.setup.learned_mse)
        if total is None:
            total = st
        else:
            total += st
        chunk += 1
        if chunk >= most:
            break
        if allowed is not None and total.steps + st.steps > allowed:  # the bank cannot pay for another chunk
            break
        curve.record(total.steps, model)
        now = curve.points[-1]["val_acc"]
        if now >= previous_val - p.tolerance / 100:
            break
        if p.search_plateau and before is not None and now <= before:  # the last budget bought nothing
            break
        before = now
    return total, chunk, {**curve.finish(model, st.steps), "evaluated": curve.evaluated()}
