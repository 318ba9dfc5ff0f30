"""How a found mask sits against the planted one (``prac bench planted``): edge precision
and recall beside a random mask's chance levels, planted units recovered, per-layer
densities, and whether any input still reaches an output (layer collapse)."""

from __future__ import annotations

import torch

from prac.errors import PracError
from prac.prune import Masks


def _layers(masks: Masks, planted: Masks) -> list[str]:
    if list(masks) != list(planted) or any(masks[n].shape != planted[n].shape for n in masks):
        raise PracError("the mask and the planted mask name different weights; compare masks of the same host")
    return list(planted)


def chance_levels(masks: Masks, planted: Masks) -> dict:
    """Expected edge precision and recall of a random mask with ``masks``' per-layer
    densities d_l: recall Σ P_l d_l / Σ P_l, precision Σ P_l d_l / Σ kept_l (= the planted
    share P_l / n_l of each layer, weighted by the mask's kept weights)."""
    names = _layers(masks, planted)
    hits = sum(int(planted[n].sum()) * float(masks[n].double().mean()) for n in names)
    p_total = sum(int(planted[n].sum()) for n in names)
    kept = sum(int(masks[n].sum()) for n in names)
    return {"chance_recall": hits / p_total, "chance_precision": hits / kept if kept else 0.0}


def reachability(masks: list[torch.Tensor]) -> dict:
    """Paths through a chain of (out × in) masks, input to output (an MLP's layers in order):
    whether any input reaches any output (``collapsed`` if none does), the share of
    outputs reached, and the share of kept weights that lie on some input-output path."""
    fwd = [torch.ones(masks[0].shape[1], dtype=torch.bool)]
    for m in masks:
        fwd.append((m.double() @ fwd[-1].double()) > 0)
    bwd = [torch.ones(masks[-1].shape[0], dtype=torch.bool)]
    for m in reversed(masks):
        bwd.insert(0, (m.double().T @ bwd[0].double()) > 0)
    kept = sum(int(m.sum()) for m in masks)
    useful = sum(int((m & bwd[i + 1][:, None] & fwd[i][None, :]).sum()) for i, m in enumerate(masks))
    return {"collapsed": not bool(fwd[-1].any()), "outputs_reached": float(fwd[-1].double().mean()),
            "effective_share": useful / kept if kept else 0.0}


def structure(masks: Masks, planted: Masks) -> dict:
    """``masks`` against the planted mask: edge precision and recall (with the chance
    levels of a random mask of the same per-layer densities), planted units recovered (a
    unit that carries a target unit counts when all its planted incoming edges are kept),
    per-layer densities and their L1 distance to the planted ones, and reachability."""
    names = _layers(masks, planted)
    masks = {n: masks[n].bool().cpu() for n in names}
    planted = {n: planted[n].bool().cpu() for n in names}
    hit = sum(int((masks[n] & planted[n]).sum()) for n in names)
    kept = sum(int(masks[n].sum()) for n in names)
    p_total = sum(int(planted[n].sum()) for n in names)
    units = [(planted[n].any(1), (masks[n] | ~planted[n]).all(1)) for n in names]
    n_units = sum(int(u.sum()) for u, _ in units)
    layer = {n: float(masks[n].double().mean()) for n in names}
    planted_layer = {n: float(planted[n].double().mean()) for n in names}
    return {"density": kept / sum(m.numel() for m in masks.values()), "kept": kept,
            "edge_precision": hit / kept if kept else 0.0, "edge_recall": hit / p_total,
            **chance_levels(masks, planted),
            "unit_recall": sum(int((u & ok).sum()) for u, ok in units) / n_units,
            "layer_densities": layer, "planted_layer_densities": planted_layer,
            "layer_density_l1": sum(abs(layer[n] - planted_layer[n]) for n in names),
            **reachability([masks[n] for n in names])}
