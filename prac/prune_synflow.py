"""SynFlow (Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020, arXiv 2006.05467): data-free,
iterative pruning at initialisation.

Each round scores every remaining weight by its synaptic flow ``|θ ⊙ ∂R/∂θ|``, where
``R = 1ᵀ(∏ₗ|Wₗ|)1`` is the output sum of the network with every weight replaced by its
absolute value and every bias zeroed, fed one all-ones input (no data, no labels); the
lowest scores across all prunable weights (global, no per-layer quota) are pruned. The
kept fraction follows the paper's exponential schedule ``density^(k/rounds)`` over
``rounds`` (100) rounds, and masks only shrink: a pruned weight scores below every kept one.

Computed in float64 on a copy of the model (the original is not touched): the product of
a hundred-wide layer's absolute weights grows by ~10 per layer, which float32 would
overflow in deep networks. Batch-norm layers, if any, are in eval mode with their affine
parameters made positive, as in the paper's code.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from prac.errors import PracError
from prac.models import prunable
from prac.prune import Masks, _keep_top, full_masks

ROUNDS = 100  # the paper's schedule


def synflow_scores(net: nn.Module, weights: dict[str, torch.Tensor], masks: Masks,
                   input_shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """``|θ ⊙ ∂R/∂θ|`` of every prunable weight of ``net`` (already linearised: |weights|,
    zero biases, float64) with ``weights`` × ``masks`` loaded."""
    params = prunable(net)
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(weights[name] * masks[name])
    net.zero_grad(set_to_none=True)
    ones = torch.ones((1, *input_shape), dtype=torch.float64, device=next(net.parameters()).device)
    net(ones).sum().backward()
    return {name: (p.grad * p).detach().abs() for name, p in params.items()}


def synflow_masks(model: nn.Module, density: float, input_shape: tuple[int, ...], rounds: int = ROUNDS) -> Masks:
    """SynFlow's masks of ``model``'s prunable weights at ``density`` (a fraction of all of
    them, exactly ``round(density × total)`` kept) after ``rounds`` rounds. ``input_shape``:
    one sample's shape, e.g. ``(2,)`` or ``(1, 28, 28)``."""
    if not 0 < density <= 1:
        raise PracError(f"synflow density={density} must be a fraction in (0, 1]; use e.g. 0.1")
    if rounds < 1:
        raise PracError(f"synflow rounds={rounds} must be at least 1; use e.g. 100")
    net = copy.deepcopy(model).double().eval()
    params = prunable(net)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name not in params and name.rsplit(".", 1)[-1] == "bias":
                p.zero_()  # biases zeroed: R then depends on the weights' paths alone
            else:
                p.abs_()
        for m in net.modules():  # batch norm: eval mode on positive statistics (the paper's code)
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
    scored = {id(p) for p in params.values()}
    for p in net.parameters():
        p.requires_grad_(id(p) in scored)
    weights = {name: p.detach().clone() for name, p in params.items()}
    masks = full_masks(net)
    total = sum(m.numel() for m in masks.values())
    names = list(masks)
    for k in range(1, rounds + 1):
        scores = synflow_scores(net, weights, masks, input_shape)
        # pruned weights never come back: they score below every remaining one (scores are >= 0)
        flat = torch.cat([torch.where(masks[n], scores[n], torch.tensor(-1.0, dtype=scores[n].dtype)).flatten()
                          for n in names])
        keep = max(1, round(total * density ** (k / rounds)))
        kept = _keep_top(flat, keep)
        offset = 0
        for n in names:
            size = masks[n].numel()
            masks[n] = kept[offset:offset + size].view_as(masks[n])
            offset += size
    return {n: m.cpu() for n, m in masks.items()}
