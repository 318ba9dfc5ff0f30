"""Selection rules over per-sample statistics: the PrAC rule, its random control, and the
class-balanced budget built around a set (coverage-centric within a class)."""

from __future__ import annotations

import torch

from prac.train.task import class_labels


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


CONFIDENT = 0.9  # the dense network gives another class this probability: the sample "looks mislabelled"


def looks_mislabelled(stats: dict) -> torch.Tensor:
    """The samples the trained dense network confidently assigns to another class than their
    label (an estimate of the mislabelled: Paul et al. 2021, the hardest tail is partly so)."""
    return stats["other_prob"] >= CONFIDENT


def never_learned(stats: dict) -> torch.Tensor:
    """The samples the dense run never classified right (under label noise, mostly mislabelled)."""
    return stats["never_learned"].bool()


def random_indices(num_samples: int, size: int, seed: int) -> torch.Tensor:
    """A uniformly random subset of ``size`` samples, sorted (the PrAC set's control)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(num_samples, generator=g)[:size].sort().values


def hardness(forgetting_events: torch.Tensor, never_learned: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """A per-sample score for ranking within a budget: forgetting events, plus one for a
    pruning flip, plus one for never being learned (float, higher is harder)."""
    return forgetting_events.float() + flipped.float() + never_learned.float()


def budget_subset(members: torch.Tensor, score: torch.Tensor, labels: torch.Tensor, size: int, seed: int,
                  bins: int = 10, barred: torch.Tensor | None = None) -> torch.Tensor:
    """A class-balanced subset of ``size`` samples built around the PrAC members.

    When the members are more than ``size``: each class gets an equal share (a class with
    fewer members gives its spare share to the others), and within a class the share is
    drawn across ``bins`` strata of ``score`` evenly (coverage-centric selection, Zheng et
    al. 2023: at small budgets covering the score range beats hardest-first and random).
    When they are fewer: all of them, topped up class by class with uniformly random
    non-members, so a round's steps see ``size`` distinct samples (one pass of its budget)
    instead of cycling over a handful; never with a ``barred`` sample (a bool mask over the
    split). Sorted int64 indices; deterministic given ``seed``. Regression targets count as
    one class."""
    labels = class_labels(labels).cpu()
    n = len(labels)
    size = min(size, n)
    g = torch.Generator().manual_seed(seed)
    members = members.to(torch.long)
    if len(members) >= size:
        return _balanced(members, labels, size, g, lambda pool, k: _stratified(pool, score[pool], k, bins, g))
    is_member = torch.zeros(n, dtype=torch.bool) if barred is None else barred.cpu().clone()
    is_member[members] = True
    rest = torch.nonzero(~is_member).flatten()
    fill = _balanced(rest, labels, size - len(members), g, lambda pool, k: pool[torch.randperm(len(pool), generator=g)[:k]],
                     already=torch.bincount(labels[members], minlength=int(labels.max()) + 1))
    return torch.cat([members, fill]).sort().values


def _balanced(pool: torch.Tensor, labels: torch.Tensor, size: int, g: torch.Generator, draw, already=None):
    """``size`` samples of ``pool``, as equal per class as the pool allows (counting
    ``already`` chosen samples per class), each class's share picked by ``draw(pool_c, k)``."""
    classes = int(labels.max()) + 1
    have = [0] * classes if already is None else already.tolist()
    order = torch.argsort(labels[pool], stable=True)  # one sort, not a mask per class
    counts = torch.bincount(labels[pool], minlength=classes).tolist()
    by_class = list(torch.split(pool[order], counts))
    take = water_fill(have, counts, size)
    picked = [draw(by_class[c], take[c]) for c in range(classes) if take[c] > 0]
    return torch.cat(picked).sort().values if picked else torch.zeros(0, dtype=torch.long)


def water_fill(have: list[int], room: list[int], size: int) -> list[int]:
    """How many of ``size`` places each class gets when the emptiest classes (``have``
    already) are raised first, one place at a time in class order, each by at most ``room``:
    the level ``L`` every class is filled to (``min(room, max(0, L - have))``), found by
    bisection, and the places left below the next level given in class order. Closed form
    of the one-by-one sweep (a Python step per place: a second a round on Fashion-MNIST)."""
    def filled(level: int) -> int:
        return sum(min(r, max(0, level - h)) for h, r in zip(have, room))

    lo, hi = 0, max((h + r for h, r in zip(have, room)), default=0)  # filled(lo) <= size, lo maximal
    if filled(hi) <= size:
        lo = hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if filled(mid) <= size else (lo, mid)
    take = [min(r, max(0, lo - h)) for h, r in zip(have, room)]
    left = size - sum(take)
    for c, (h, r) in enumerate(zip(have, room)):  # the classes at the level with room left, in class order
        if left and h + take[c] == lo and take[c] < r:
            take[c] += 1
            left -= 1
    return take


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
