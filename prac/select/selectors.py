"""Selectors (``select.method``): which training samples a ticket search trains on, chosen
from a PrAC set's per-sample statistics. A registry, as OpenLTH keeps its strategies:
adding a selector is one function and one name, and the search never asks which it got.

A selector picks ``size`` samples (a search round's budget, ``prac.search.plan``) or, with
``size=None``, its natural set. Only the PrAC selector is refined by the search's flip
probe every round (``refresh``): the probe defines the PrAC set, not the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from prac.select.rules import budget_subset, hardness, never_learned, random_indices


def hard_to_memorize(stats: dict, threshold: int) -> torch.Tensor:
    """The samples forgotten more than ``threshold`` times or never learned (sorted index)."""
    return torch.nonzero((stats["forgetting_events"] > threshold) | stats["never_learned"]).flatten()


Pick = Callable[[dict, torch.Tensor, "int | None", int, int], torch.Tensor]
Doubt = Callable[[dict], torch.Tensor]


@dataclass(frozen=True)
class Selector:
    name: str
    pick: Pick      # (stats, labels, size or None, seed, threshold) -> sorted int64 index into the split
    probes: bool    # the search's flip probe refreshes it every round
    doubt: Doubt | None = None  # stats -> bool mask of samples it never trains on (labels it doubts)

    def barred(self, stats: dict) -> torch.Tensor | None:
        return None if self.doubt is None else self.doubt(stats)


def prac_pick(doubt: Doubt | None = None) -> Pick:
    """The PrAC set itself, or a class-balanced budget of ``size`` built around it; without
    the samples ``doubt`` bars, in the set and in the budget's random fill alike."""
    def pick(stats: dict, labels: torch.Tensor, size: int | None, seed: int, threshold: int) -> torch.Tensor:
        barred = None if doubt is None else doubt(stats)
        members = stats["index"] if barred is None else stats["index"][~barred[stats["index"]]]
        if size is None:
            return members
        score = hardness(stats["forgetting_events"], stats["never_learned"], stats["prune_flipped"])
        return budget_subset(members, score, labels, size, seed, barred=barred)
    return pick


def _random(stats: dict, labels: torch.Tensor, size: int | None, seed: int, threshold: int) -> torch.Tensor:
    """A uniformly random subset of the PrAC set's size (or ``size``): the set's control."""
    return random_indices(len(labels), len(stats["index"]) if size is None else size, seed)


def _full(stats: dict, labels: torch.Tensor, size: int | None, seed: int, threshold: int) -> torch.Tensor:
    """Every training sample (full-data IMP, and the compute-matched control)."""
    return torch.arange(len(labels))


def _forgetting(stats: dict, labels: torch.Tensor, size: int | None, seed: int, threshold: int) -> torch.Tensor:
    """The PrAC rule without the flip probe: the hard-to-memorize samples (forgotten or never
    learned, Toneva et al. 2019), or a class-balanced budget around them."""
    none = torch.zeros_like(stats["prune_flipped"])
    hard = hard_to_memorize(stats, threshold)
    if size is None:
        return hard
    return budget_subset(hard, hardness(stats["forgetting_events"], stats["never_learned"], none), labels, size, seed)


def _el2n(stats: dict, labels: torch.Tensor, size: int | None, seed: int, threshold: int) -> torch.Tensor:
    """EL2N (Paul et al., NeurIPS 2021): the samples with the largest error-vector norm early in
    the dense run (``prac.select.el2n``), as many as the PrAC set holds (or ``size``)."""
    want = min(len(labels), len(stats["index"]) if size is None else size)
    # stable: among equal scores the lower index first, so the pick is deterministic
    return torch.argsort(-stats["el2n"].float(), stable=True)[:want].sort().values


CCS_CUT = 0.1    # coverage-centric selection drops the hardest 10 % first (Zheng et al. 2023: mislabelled-prone)
CCS_BINS = 50    # ... and covers the rest of the difficulty range in this many strata


def _ccs(stats: dict, labels: torch.Tensor, size: int | None, seed: int, threshold: int) -> torch.Tensor:
    """Coverage-centric selection (Zheng et al., ICLR 2023) over the PrAC difficulty score
    (forgetting events, + 1 if flipped, + 1 if never learned): cut the hardest ``CCS_CUT`` of
    the split, then draw the budget (the PrAC set's size without one) class-balanced and
    evenly across ``CCS_BINS`` strata of the score."""
    score = hardness(stats["forgetting_events"], stats["never_learned"], stats["prune_flipped"])
    n = len(score)
    # stable: ties keep their order, so the cut is deterministic
    keep = torch.sort(torch.argsort(score, stable=True)[:n - int(CCS_CUT * n)]).values
    want = len(stats["index"]) if size is None else size
    return budget_subset(keep, score, labels, min(want, len(keep)), seed, bins=CCS_BINS)


SELECTORS: dict[str, Selector] = {s.name: s for s in (
    # The shipped rule (SEARCH_VERSION 15): the PrAC set without the samples the dense run never
    # learned, kept out of the set, the budget's fill and the probe's refresh alike. Under label
    # noise those are mostly mislabelled (87 % at 20 % noise on Fashion-MNIST), and training on
    # them cost the sparsest tickets 1-2 pp on noisy digits; on clean data there are few or none
    # (docs/selection.md measures both).
    Selector("prac", prac_pick(never_learned), True, never_learned),
    Selector("prac_paper", prac_pick(), True),  # the paper's rule: every hard-to-memorize or flipped sample
    Selector("random", _random, False), Selector("full", _full, False),
    Selector("forgetting", _forgetting, False), Selector("el2n", _el2n, False), Selector("ccs", _ccs, False))}


def selector(name: str) -> Selector:
    return SELECTORS[name]  # select.method is checked against the registry's names when the config is read


def refresh(pool: torch.Tensor, flipped: torch.Tensor, stats: dict, threshold: int, labels: torch.Tensor,
            size: int | None, seed: int, union: bool, barred: torch.Tensor | None = None) -> torch.Tensor:
    """The next round's pool after the search's flip probe: the current ticket's flips added
    to the pool (``union``, cumulative, as the paper's code) or to the hard-to-memorize
    samples (the latest flips only), less the ``barred`` samples; with a ``size``, brought
    back to the budget around them."""
    merged = torch.unique(torch.cat([_base(pool, stats, threshold, union), flipped]))
    if barred is not None:
        merged = merged[~barred[merged]]
    if size is None:
        return merged
    now = torch.zeros(len(labels), dtype=torch.bool)
    now[flipped] = True
    score = hardness(stats["forgetting_events"], stats["never_learned"], now)
    return budget_subset(merged, score, labels, size, seed, barred=barred)


def settled(pool: torch.Tensor, stats: dict, threshold: int, union: bool,
            barred: torch.Tensor | None = None) -> torch.Tensor:
    """Bool over the split: the samples whose flip cannot change which samples ``refresh``
    merges, being in its base already (the pool when ``union``, else the hard-to-memorize
    samples) or barred. Their flips only rank the merged samples, which matters when those
    outnumber the budget (``budget_subset``); otherwise the probe need not predict them."""
    out = torch.zeros(len(stats["forgetting_events"]), dtype=torch.bool)
    out[_base(pool, stats, threshold, union)] = True
    return out if barred is None else out | barred.cpu()


def _base(pool: torch.Tensor, stats: dict, threshold: int, union: bool) -> torch.Tensor:
    """What ``refresh`` adds the flips to: the pool itself (union) or the hard-to-memorize samples."""
    return pool if union else hard_to_memorize(stats, threshold)
