"""Subset selection: the PrAC rule, its random control, and the prune-flip probe.

Under torchrun the probe's predictions are data-parallel: each rank predicts its strided
share of the rows and every rank gets the whole vector (``prac.distributed``), so every
sample is probed once; the probe's masks are computed on rank 0 and broadcast.
"""

from __future__ import annotations

import torch
from torch import nn

from prac import distributed
from prac.data.dataset import Pixels
from prac.engine import forward_batches
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


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor | Pixels, batch_size: int = 1024,
            precision: str = "auto") -> torch.Tensor:
    """Predicted class of every row of ``x`` (float tensor or ``Pixels``; eval mode), on the
    CPU. Under torchrun each rank predicts its strided share and every rank returns all rows.
    ``precision`` as ``train.precision`` (auto: bf16 autocast on CUDA)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows, x = len(x), distributed.shard(x)
    out = torch.cat([o.argmax(1) for o in forward_batches(model, x, batch_size, precision)]
                    + [torch.zeros(0, dtype=torch.long, device=device)])
    model.train(was_training)
    return distributed.gather_strided(out, rows).cpu()


@torch.no_grad()
def prune_flips(model: nn.Module, masks: Masks | None, x: torch.Tensor | Pixels, rate: float, out_rate: float,
                scope: str = "layerwise", reference: torch.Tensor | None = None) -> torch.Tensor:
    """Hooker et al.'s pruning-identified exemplars: prune ``model`` one more round by
    magnitude (no retraining) and mark every sample whose predicted class changes.

    The model's weights are restored before returning."""
    before = predict(model, x) if reference is None else reference
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    apply_masks(model, distributed.masks_on_main(model, masks, rate, out_rate, scope))
    after = predict(model, x)
    model.load_state_dict(saved)
    return before != after
