"""One search round's training: the pruned network trains on the subset one step budget at a
time, up to ``1 + policy.extend`` budgets, while its validation accuracy stays more than
``prune.tolerance`` below the previous round's (and, with ``policy.plateau``, while the last
budget still raised it). A round without a budget (a rewinding search) trains its scaled
epochs once.
"""

from __future__ import annotations

import dataclasses

import torch

from prac.config.schema import TrainConfig
from prac.prune import Masks, apply_masks
from prac.search.run import Run
from prac.search.state import Inflight
from prac.train.loop import TrainStats, steps_for, train


def round_train(run: Run, masks: Masks) -> TrainConfig:
    """How a round trains: a rewound round as the dense run does; a fine-tuning one at the
    policy's lr (``finetune_lr``) and weight decay, whose pull lets the weights the pruned
    network stops using fade before the next prune."""
    tc, pol = run.cfg.train, run.policy
    if pol.rewinds:
        return tc
    return dataclasses.replace(tc, lr=run.state.finetune_lr or tc.lr,
                               weight_decay=tc.weight_decay if pol.weight_decay is None else pol.weight_decay)


@torch.no_grad()
def evaluate_pruned(run: Run, model, masks: Masks):
    """A round that trains nothing (the last of a fine-tuning search, ``Policy.trains_last``, or
    a one-shot round, ``prac.search.loop.one_shot``): the pruned network is evaluated once, for
    the round's record. The same (figures, budgets, evaluation) as ``train_round``."""
    apply_masks(model, masks)
    curve = run.curve(1, checks_only=True)
    return TrainStats(), 0, {**curve.finish(model, 0), "evaluated": curve.evaluated()}


def train_round(run: Run, model, masks: Masks, subset: torch.Tensor, r: int, previous_val: float):
    """Train round ``r``'s pruned network on ``subset``, budget by budget (see the module).
    One validation curve spans the budgets (the checks are its points). Returns the summed
    figures, the budgets trained and the round's evaluation (``prac.train.curve.Curve.finish``,
    with ``evaluated``: the samples it predicted)."""
    cfg, pol = run.cfg, run.policy
    resume = run.take_resume("round")
    chunk, so_far, before = (0, None, None) if resume is None else (resume.chunk, resume.chunk_stats, resume.chunk_val)
    total = None if so_far is None else TrainStats(**so_far)
    epochs = run.plan.epochs_over(len(subset), len(run.initial))
    most = 1 + (pol.extend if run.plan.round_steps is not None else 0)
    # A rewound round trains a ticket from its rewind weights (full-data IMP's rounds are the LTH
    # curves), so it keeps the curve's points and is tested. A fine-tuning round's network is no
    # ticket (its ticket is retrained, with its own curve): it is validated at its checks only.
    curve = run.curve(steps_for(epochs, len(subset), cfg.train.batch_size), checks_only=not pol.rewinds)
    while True:
        curve.offset = 0 if total is None else total.steps
        here = Inflight({}, round_masks=masks, chunk=chunk, chunk_stats=None if total is None else dataclasses.asdict(total),
                        chunk_val=before)
        st = train(model, run.t["x_train"], run.t["y_train"], subset, round_train(run, masks), epochs=epochs,
                   seed=run.seed(r) + 100_003 * chunk, masks=masks, listeners=[curve], progress=run.progress,
                   label=f"round {r}/{cfg.prune.n_rounds}",
                   checkpoint=lambda s: run.checkpoint(dataclasses.replace(here, train=s)),
                   resume=None if resume is None else resume.train, learned_mse=run.setup.learned_mse)
        resume = None
        if total is None:
            total = st
        else:
            total += st
        chunk += 1
        if chunk >= most:
            break
        curve.record(total.steps, model)
        now = curve.points[-1]["val_acc"]
        if now >= previous_val - cfg.prune.tolerance / 100:
            break
        if pol.plateau and before is not None and now <= before:  # the last budget bought nothing
            break
        before = now
    return total, chunk, {**curve.finish(model, st.steps), "evaluated": curve.evaluated()}
