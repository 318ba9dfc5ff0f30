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

from prac.select.rules import budget_subset, hardness, random_indices


def hard_to_memorize(stats: dict, threshold: int) -> torch.Tensor:
    """The samples forgotten more than ``threshold`` times or never learned (sorted index)."""
    return torch.nonzero((stats["forgetting_events"] > threshold) | stats["never_learned"]).flatten()


Pick = Callable[[dict, torch.Tensor, "int | None", int, int], torch.Tensor]


@dataclass(frozen=True)
class Selector:
    name: str
    pick: Pick      # (stats, labels, size or None, seed, threshold) -> sorted int64 index into the split
    probes: bool    # the search's flip probe refreshes it every round


def _prac(stats: dict, labels: torch.Tensor, size: int | None, seed: int, threshold: int) -> torch.Tensor:
    """The PrAC set itself, or a class-balanced budget of ``size`` built around it."""
    if size is None:
        return stats["index"]
    score = hardness(stats["forgetting_events"], stats["never_learned"], stats["prune_flipped"])
    return budget_subset(stats["index"], score, labels, size, seed)


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
    Selector("prac", _prac, True), Selector("random", _random, False), Selector("full", _full, False),
    Selector("forgetting", _forgetting, False), Selector("ccs", _ccs, False))}


def selector(name: str) -> Selector:
    return SELECTORS[name]  # select.method is checked against the registry's names when the config is read


def refresh(pool: torch.Tensor, flipped: torch.Tensor, stats: dict, threshold: int, labels: torch.Tensor,
            size: int | None, seed: int, union: bool) -> torch.Tensor:
    """The next round's pool after the search's flip probe: the current ticket's flips added
    to the pool (``union``, cumulative, as the paper's code) or to the hard-to-memorize
    samples (the latest flips only); with a ``size``, brought back to the budget around them."""
    hard = hard_to_memorize(stats, threshold)
    merged = torch.unique(torch.cat([pool if union else hard, flipped]))
    if size is None:
        return merged
    now = torch.zeros(len(labels), dtype=torch.bool)
    now[flipped] = True
    score = hardness(stats["forgetting_events"], stats["never_learned"], now)
    return budget_subset(merged, score, labels, size, seed)
