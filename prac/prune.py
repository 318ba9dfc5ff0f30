"""Masks and magnitude pruning, kept outside the module (OpenLTH style).

A mask set is a plain ``dict[str, bool tensor]`` from a prunable weight's name to its
mask. Weights keep their ordinary names, so rewinding is "load the rewind weights,
multiply by the mask". Masks are enforced by hand (``torch.nn.utils.prune`` renames
weights and lets momentum move pruned values): weights are multiplied by the mask after
init, after rewinding and after every optimizer step (see the engine for why gradients
are left unmasked with the element-wise optimizers SGD and Adam).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from prac.models import output_name, prunable
from prac.store import unpack

Masks = dict[str, torch.Tensor]


def full_masks(model: nn.Module) -> Masks:
    return {name: torch.ones_like(p, dtype=torch.bool) for name, p in prunable(model).items()}


def density(masks: Masks) -> float:
    """Fraction of prunable weights that remain."""
    kept = sum(int(m.sum()) for m in masks.values())
    return kept / sum(m.numel() for m in masks.values())


def _keep_top(scores: torch.Tensor, keep: int) -> torch.Tensor:
    flat = torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device)
    flat[torch.topk(scores.flatten(), keep, sorted=False).indices] = True
    return flat.view_as(scores)


def _same_sign(w: torch.Tensor, w0: torch.Tensor) -> torch.Tensor:
    """Magnitude among the weights whose sign still matches the rewind weights'; a weight that
    crossed zero lands in (-1, 0), below every same-sign one, ordered by magnitude (Zhou et
    al. 2019: a ticket keeps its rewind signs, so a crossed weight starts on the wrong side)."""
    return torch.where(torch.sign(w) == torch.sign(w0), w.abs(), w.abs() / (1 + w.abs()) - 1)


# Pruning criteria (a registry, as OpenLTH keeps them): a weight's score from its trained value
# ``w`` and its rewind value ``w0``; the lowest scores are pruned. Every policy prunes by magnitude;
# same_sign stays for a policy to name, as the finetune search did until SEARCH_VERSION 14 (the
# comparison: docs/recipe.md). The ablations measured and not adopted (increase, midpoint,
# product) are in docs/trust.md with the commit that measured them.
CRITERIA: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "magnitude": lambda w, w0: w.abs(),
    "same_sign": _same_sign,
}


@torch.no_grad()
def magnitude_masks(model: nn.Module, masks: Masks | None, rate: float, out_rate: float,
                    scope: str = "layerwise", conv_rate: float | None = None,
                    criterion: str = "magnitude", init: dict[str, torch.Tensor] | None = None) -> Masks:
    """Prune ``rate`` of the remaining weights with the smallest score (the output layer at
    ``out_rate``; convolution kernels at ``conv_rate`` if given, as the LTH paper prunes
    Conv-2/4/6), per layer or globally across the hidden layers.

    ``criterion`` names a score in ``CRITERIA``: magnitude, or, given the weights ``init`` the
    ticket will be rewound to, magnitude among the weights whose sign still matches (``same_sign``)."""
    params = prunable(model)
    masks = masks or full_masks(model)
    out_key = output_name(model)

    def scores(name):  # pruned weights never come back: they score below everything
        w = params[name].detach().float()
        s = CRITERIA[criterion](w, None if init is None else init[name].to(w.device).float())
        return torch.where(masks[name], s, torch.tensor(float("-inf"), device=s.device))

    new = {}
    hidden = [n for n in params if n != out_key]
    if scope == "global" and hidden:
        s = torch.cat([scores(n).flatten() for n in hidden])
        remaining = sum(int(masks[n].sum()) for n in hidden)
        kept = _keep_top(s, round(remaining * (1 - rate)))
        offset = 0
        for n in hidden:
            k = masks[n].numel()
            new[n] = kept[offset:offset + k].view_as(masks[n])
            offset += k
    else:
        for n in hidden:
            r = conv_rate if conv_rate is not None and params[n].dim() > 2 else rate
            new[n] = _keep_top(scores(n), round(int(masks[n].sum()) * (1 - r)))
    new[out_key] = _keep_top(scores(out_key), round(int(masks[out_key].sum()) * (1 - out_rate)))
    return {n: new[n] for n in params}


def shuffled_masks(masks: Masks, gen: torch.Generator) -> Masks:
    """``masks`` with each layer's entries randomly permuted: the same per-layer densities,
    random edges (the LTH paper's random-pruning control)."""
    return {n: m.flatten()[torch.randperm(m.numel(), generator=gen, device="cpu").to(m.device)].view_as(m)
            for n, m in masks.items()}


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Masks | None) -> None:
    """Set pruned weights to exactly zero."""
    if not masks:
        return
    for name, p in prunable(model).items():
        p.mul_(masks[name].to(p.device, p.dtype))


def round_masks(history: dict[str, torch.Tensor], r: int) -> Masks:
    """Round ``r``'s masks out of a search's mask history (``round<r>.<name>`` keys)."""
    return unpack(history, f"round{r}")
