"""Subset selection: the PrAC rule, its random control, and the prune-flip probe.

Regression (float targets, see ``prac.engine``): a flip is a sample whose *learned-ness*
changes when the network is pruned, i.e. its squared error (mean over outputs) crosses
the learned threshold in either direction; the class-balanced subsets treat every
regression sample as one class (``prac.task.class_labels``).

Under torchrun the probe's predictions are data-parallel: each rank predicts its strided
share of the rows and every rank gets the whole vector (``prac.distributed``), so every
sample is probed once; the probe's masks are computed on rank 0 and broadcast.
"""

from __future__ import annotations

import torch
from torch import nn

from prac import distributed
from prac.data.dataset import Pixels
from prac.evaluate import forward_batches
from prac.task import class_labels, is_regression, learned_threshold, squared_error
from prac.prune import Masks, apply_masks


def prac_indices(forgetting_events: torch.Tensor, never_learned: torch.Tensor,
                 prune_flipped: torch.Tensor, threshold: int = 0) -> torch.Tensor:
    """Sorted int64 index of the PrAC set: hard-to-memorize (forgotten more than
    ``threshold`` times, or never learned) united with the samples whose prediction the
    pruned network changes."""
    n = forgetting_events.numel()
    if never_learned.numel() != n or prune_flipped.numel() != n:
        raise ValueError("forgetting_events, never_learned and prune_flipped must have the same length")
    hard = (forgetting_events > threshold) | never_learned.bool()
    return torch.nonzero(hard | prune_flipped.bool()).flatten().to(torch.int64).cpu()


def random_indices(num_samples: int, size: int, seed: int) -> torch.Tensor:
    """A uniformly random subset of ``size`` samples, sorted (the PrAC set's control)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(num_samples, generator=g)[:size].sort().values


def hardness(forgetting_events: torch.Tensor, never_learned: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """A per-sample score for ranking within a budget: forgetting events, plus one for a
    pruning flip, plus one for never being learned (float, higher is harder)."""
    return forgetting_events.float() + flipped.float() + never_learned.float()


def budget_subset(members: torch.Tensor, score: torch.Tensor, labels: torch.Tensor, size: int, seed: int,
                  bins: int = 10) -> torch.Tensor:
    """A class-balanced subset of ``size`` samples built around the PrAC members.

    When the members are more than ``size``: each class gets an equal share (a class with
    fewer members gives its spare share to the others), and within a class the share is
    drawn across ``bins`` strata of ``score`` evenly (coverage-centric selection, Zheng et
    al. 2023: at small budgets covering the score range beats hardest-first and random).
    When they are fewer: all of them, topped up class by class with uniformly random
    non-members, so a round's steps see ``size`` distinct samples (one pass of its budget)
    instead of cycling over a handful. Sorted int64 indices; deterministic given ``seed``.
    Regression targets count as one class."""
    labels = class_labels(labels).cpu()
    n = len(labels)
    size = min(size, n)
    g = torch.Generator().manual_seed(seed)
    members = members.to(torch.long)
    if len(members) >= size:
        return _balanced(members, labels, size, g, lambda pool, k: _stratified(pool, score[pool], k, bins, g))
    is_member = torch.zeros(n, dtype=torch.bool)
    is_member[members] = True
    rest = torch.nonzero(~is_member).flatten()
    fill = _balanced(rest, labels, size - len(members), g, lambda pool, k: pool[torch.randperm(len(pool), generator=g)[:k]],
                     already=torch.bincount(labels[members], minlength=int(labels.max()) + 1))
    return torch.cat([members, fill]).sort().values


def _balanced(pool: torch.Tensor, labels: torch.Tensor, size: int, g: torch.Generator, draw, already=None):
    """``size`` samples of ``pool``, as equal per class as the pool allows (counting
    ``already`` chosen samples per class), each class's share picked by ``draw(pool_c, k)``."""
    classes = int(labels.max()) + 1
    have = torch.zeros(classes, dtype=torch.long) if already is None else already.clone()
    by_class = [pool[labels[pool] == c] for c in range(classes)]
    take = torch.zeros(classes, dtype=torch.long)
    left = size
    while left > 0:  # water-filling: raise the emptiest classes first, within what each pool holds
        open_ = [c for c in range(classes) if take[c] < len(by_class[c])]
        if not open_:
            break
        level = min(int(have[c] + take[c]) for c in open_)
        for c in open_:
            if left and have[c] + take[c] == level:
                take[c] += 1
                left -= 1
    picked = [draw(by_class[c], int(take[c])) for c in range(classes) if take[c] > 0]
    return torch.cat(picked).sort().values if picked else torch.zeros(0, dtype=torch.long)


def _stratified(pool: torch.Tensor, score: torch.Tensor, k: int, bins: int, g: torch.Generator) -> torch.Tensor:
    """``k`` of ``pool`` spread over ``bins`` equal-width strata of ``score``: each stratum
    gets an equal share of what is left (a small stratum gives its spare to the others),
    drawn uniformly inside it."""
    if k >= len(pool):
        return pool
    lo, hi = float(score.min()), float(score.max())
    stratum = ((score - lo) / max(hi - lo, 1e-12) * bins).long().clamp(max=bins - 1)
    groups = [pool[stratum == b] for b in range(bins) if (stratum == b).any()]
    groups.sort(key=len)
    picked, left = [], k
    for i, grp in enumerate(groups):
        share = min(len(grp), left // (len(groups) - i))
        picked.append(grp[torch.randperm(len(grp), generator=g)[:share]])
        left -= share
    return torch.cat(picked)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor | Pixels, batch_size: int = 1024,
            precision: str = "auto", logits: bool = False) -> torch.Tensor:
    """Predicted class of every row of ``x`` (float tensor or ``Pixels``; eval mode), or with
    ``logits`` its float32 logits, on the CPU. Under torchrun each rank predicts its strided
    share and every rank returns all rows. ``precision`` as ``train.precision`` (auto: bf16
    autocast on CUDA)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows, x = len(x), distributed.shard(x)
    parts = [o.float() if logits else o.argmax(1) for o in forward_batches(model, x, batch_size, precision)]
    out = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long, device=device)
    model.train(was_training)
    return distributed.gather_strided(out, rows).cpu()


@torch.no_grad()
def prune_flips(model: nn.Module, masks: Masks | None, x: torch.Tensor | Pixels, rate: float, out_rate: float,
                scope: str = "layerwise", reference: torch.Tensor | None = None, y: torch.Tensor | None = None,
                learned_mse: float | None = None, conv_rate: float | None = None) -> torch.Tensor:
    """Hooker et al.'s pruning-identified exemplars: prune ``model`` one more round by
    magnitude (no retraining) and mark every sample whose prediction changes.

    Class labels (or no ``y``): a flip is a change of the predicted class. Regression
    targets ``y`` (float): a flip is a change of learned-ness, the sample's squared error
    crossing the threshold (``learned_mse``, default ``prac.task.default_learned_mse(y)``).
    ``reference``: the unpruned network's predictions if already known, as classes or as
    raw outputs (float, e.g. the dense logits). The model's weights are restored before
    returning. The probe prunes by magnitude whatever ``prune.criterion`` the search uses:
    the PrAC set is defined by magnitude pruning's flips, as in the paper."""
    regression = y is not None and is_regression(y)
    if regression:
        y = y.cpu()
        threshold = learned_threshold(y, learned_mse)
        out = reference if reference is not None and reference.is_floating_point() else predict(model, x, logits=True)
        before = squared_error(out, y) < threshold
    elif reference is None:
        before = predict(model, x)
    else:
        before = reference.argmax(1) if reference.is_floating_point() else reference
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    apply_masks(model, distributed.masks_on_main(model, masks, rate, out_rate, scope, conv_rate))
    after = predict(model, x, logits=regression)
    model.load_state_dict(saved)
    if regression:
        after = squared_error(after, y) < threshold
    return before.cpu() != after
