"""The planted bench's data-free control masks: a global random mask of a density, drawn from
a generator seeded by the case's names (the planted mask's shuffled twin is
``prac.prune.shuffled_masks``)."""

from __future__ import annotations

import hashlib

import torch

from prac.prune import Masks


def case_generator(*parts) -> torch.Generator:
    seed = int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "little")
    return torch.Generator().manual_seed(seed)


def random_mask(planted: Masks, density: float, gen: torch.Generator) -> Masks:
    """A global random mask: exactly round(density × all weights) of them, uniformly."""
    sizes = [m.numel() for m in planted.values()]
    flat = torch.zeros(sum(sizes), dtype=torch.bool)
    flat[torch.randperm(len(flat), generator=gen)[:max(1, round(density * len(flat)))]] = True
    return {n: part.view_as(m) for (n, m), part in zip(planted.items(), flat.split(sizes))}
