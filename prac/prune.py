"""Masks and magnitude pruning, kept outside the module (OpenLTH style).

A mask set is a plain ``dict[str, bool tensor]`` from a prunable weight's name to its
mask. Weights keep their ordinary names, so rewinding is "load the rewind weights,
multiply by the mask". Masks are enforced by hand (``torch.nn.utils.prune`` renames
weights and lets momentum move pruned values): weights are multiplied by the mask after
init, after rewinding and after every optimizer step (see the engine for why gradients
are left unmasked with the element-wise optimizers SGD and Adam).
"""

from __future__ import annotations

import torch
from torch import nn

from prac.models import output_name, prunable

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


def criterion_scores(w: torch.Tensor, w0: torch.Tensor, criterion: str) -> torch.Tensor:
    """Per-weight pruning scores (higher is kept) of the weights ``w`` against the rewind
    weights ``w0``, for the criteria that look at both (``magnitude_masks``)."""
    if criterion == "midpoint":
        return (w + w0).abs() / 2
    if criterion == "increase":
        return w.abs() - w0.abs()
    kept = w.abs() if criterion == "same_sign" else w.abs() * w0.abs()  # same_sign, product
    # a weight that crossed zero: into (-1, 0), below every same-sign one, ordered by magnitude
    return torch.where(torch.sign(w) == torch.sign(w0), kept, w.abs() / (1 + w.abs()) - 1)


@torch.no_grad()
def magnitude_masks(model: nn.Module, masks: Masks | None, rate: float, out_rate: float,
                    scope: str = "layerwise", conv_rate: float | None = None,
                    criterion: str = "magnitude", init: dict[str, torch.Tensor] | None = None) -> Masks:
    """Prune ``rate`` of the remaining weights with the smallest score (the output layer at
    ``out_rate``; convolution kernels at ``conv_rate`` if given, as the LTH paper prunes
    Conv-2/4/6), per layer or globally across the hidden layers.

    ``criterion`` (``prac.config.schema.CRITERIA``) scores a weight by its magnitude, or, given the weights
    ``init`` the ticket will be rewound to, by magnitude among the weights whose sign still
    matches ``init``'s (``same_sign``: a weight that crossed zero ranks below every one that
    did not), by its growth ``|w| - |w_init|`` (``increase``), or for the ablations by
    ``|w + w_init| / 2`` (``midpoint``) or ``|w| |w_init|`` among same-sign weights
    (``product``); Zhou et al. 2019 (``criterion_scores``)."""
    params = prunable(model)
    masks = masks or full_masks(model)
    out_key = output_name(model)

    def scores(name):  # pruned weights never come back: they score below everything
        w = params[name].detach().float()
        s = w.abs() if criterion == "magnitude" else criterion_scores(w, init[name].to(w.device).float(), criterion)
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


@torch.no_grad()
def pull_back(model: nn.Module, rewind: dict[str, torch.Tensor], fraction: float) -> None:
    """Move every float tensor of ``model`` (weights, biases, BatchNorm statistics) ``fraction``
    of the way back to its rewind value (``prune.partial_rewind``). Pruned weights come back
    nonzero here; training re-applies the masks before its first step."""
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            v.lerp_(rewind[k], fraction)


def hamming(a: Masks, b: Masks) -> float:
    """Fraction of mask entries that differ (Early-Bird's mask distance)."""
    diff = sum(int((a[n] != b[n]).sum()) for n in a)
    return diff / sum(m.numel() for m in a.values())


def round_masks(history: dict[str, torch.Tensor], r: int) -> Masks:
    """Round ``r``'s masks out of a search's mask history (``round<r>.<name>`` keys)."""
    prefix = f"round{r}."
    return {k[len(prefix):]: m for k, m in history.items() if k.startswith(prefix)}
