"""The prune-flip probe (Hooker et al.'s pruning-identified exemplars) and batched prediction.

Regression (float targets, see ``prac.train.loop``): a flip is a sample whose *learned-ness*
changes when the network is pruned, i.e. its squared error (mean over outputs) crosses
the learned threshold in either direction; the class-balanced subsets treat every
regression sample as one class (``prac.train.task.class_labels``).

Under torchrun the probe's predictions are data-parallel: each rank predicts its strided
share of the rows and every rank gets the whole vector (``prac.train.distributed``), so every
sample is probed once; the probe's masks are computed on rank 0 and broadcast.
"""

from __future__ import annotations

import torch
from torch import nn

from prac.train import distributed
from prac.data.dataset import Pixels
from prac.train.evaluate import forward_batches
from prac.train.fastpath import probe_dtype
from prac.train.task import is_regression, learned_threshold, squared_error
from prac.prune import Masks, apply_masks


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor | Pixels, batch_size: int = 1024,
            precision: str = "auto", logits: bool = False) -> torch.Tensor:
    """Predicted class of every row of ``x`` (float tensor or ``Pixels``; eval mode), or with
    ``logits`` its float32 logits, on the CPU. Under torchrun each rank predicts its strided
    share and every rank returns all rows. ``precision`` is ``train.precision``, in the probe's
    dtype (``prac.train.fastpath.probe_dtype``: under auto, bf16 where the device computes it
    natively)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows, x = len(x), distributed.shard(x)
    precision = "fp32" if probe_dtype(precision, device) is None else "bf16"
    parts = [o.float() if logits else o.argmax(1) for o in forward_batches(model, x, batch_size, precision)]
    out = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long, device=device)
    model.train(was_training)
    return distributed.gather_strided(out, rows).cpu()


@torch.no_grad()
def prune_flips(model: nn.Module, masks: Masks | None, x: torch.Tensor | Pixels, rate: float, out_rate: float,
                scope: str = "layerwise", reference: torch.Tensor | None = None, y: torch.Tensor | None = None,
                learned_mse: float | None = None, conv_rate: float | None = None,
                precision: str = "auto") -> torch.Tensor:
    """Hooker et al.'s pruning-identified exemplars: prune ``model`` one more round by
    magnitude (no retraining) and mark every sample whose prediction changes.

    Class labels (or no ``y``): a flip is a change of the predicted class. Regression
    targets ``y`` (float): a flip is a change of learned-ness, the sample's squared error
    crossing the threshold (``learned_mse``, default ``prac.train.task.default_learned_mse(y)``).
    ``reference``: the unpruned network's predictions if already known, as classes or as
    raw outputs (float, e.g. the dense logits), predicted in the same ``precision`` (both of
    the probe's passes must be: ``predict``). The model's weights are restored before
    returning. The probe prunes by magnitude whatever criterion the search policy uses:
    the PrAC set is defined by magnitude pruning's flips, as in the paper."""
    regression = y is not None and is_regression(y)
    if regression:
        y = y.cpu()
        threshold = learned_threshold(y, learned_mse)
        out = reference if reference is not None and reference.is_floating_point() else \
            predict(model, x, logits=True, precision=precision)
        before = squared_error(out, y) < threshold
    elif reference is None:
        before = predict(model, x, precision=precision)
    else:
        before = reference.argmax(1) if reference.is_floating_point() else reference
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    apply_masks(model, distributed.masks_on_main(model, masks, rate, out_rate, scope, conv_rate))
    after = predict(model, x, logits=regression, precision=precision)
    model.load_state_dict(saved)
    if regression:
        after = squared_error(after, y) < threshold
    return before.cpu() != after
