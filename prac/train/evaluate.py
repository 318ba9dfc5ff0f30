"""Evaluation passes: a model's outputs batch by batch on the fast path, its accuracy (the
fraction of samples right, or learned for regression targets) and its mean squared error.
Under torchrun each rank takes a strided share of the rows and the counts are summed."""

from __future__ import annotations

import torch
from torch import nn

from prac.train import distributed
from prac.data.dataset import Pixels, batch
from prac.errors import PracError
from prac.train.fastpath import amp_dtype, autocast, eval_layout
from prac.train.task import correctness, is_regression, learned_threshold, mse_loss


def forward_batches(model: nn.Module, x: torch.Tensor | Pixels, batch_size: int, precision: str = "auto"):
    """``model``'s outputs on consecutive row batches of ``x`` (float tensor or ``Pixels``),
    on the model's device, with the fast path of ``precision`` and the layout of
    ``prac.train.fastpath.eval_layout``. The caller sets eval mode and no_grad."""
    device = next(model.parameters()).device
    amp, (model, channels_last) = amp_dtype(precision, device), eval_layout(model, x, device)
    for i in range(0, len(x), batch_size):
        xb = batch(x, slice(i, i + batch_size), device)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            out = model(xb)
        yield out  # outside the autocast block: the caller's code must not run under it


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor | Pixels, y: torch.Tensor, batch_size: int = 1024,
             precision: str = "auto", learned_mse: float | None = None) -> float:
    """The fraction of samples right, with ``model`` in eval mode: top-1 accuracy for class
    labels; for float regression targets the fraction learned (``correctness``: squared error
    below ``learned_mse``, default ``prac.train.task.default_learned_mse(y)``), so every val_acc/test_acc
    keeps its meaning. Under torchrun each rank counts its strided share of the rows and the
    counts are summed: the same figure on every rank. ``precision`` as ``train.precision``
    (auto: bf16 autocast on CUDA)."""
    threshold = learned_threshold(y, learned_mse)  # once, on the whole split (before sharding)
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    right = torch.zeros((), dtype=torch.long, device=device)
    rows, x, y = len(x), distributed.shard(x), distributed.shard(y)
    for i, out in zip(range(0, len(x), batch_size), forward_batches(model, x, batch_size, precision)):
        right += correctness(out, y[i:i + batch_size].to(device), threshold).sum()
    model.train(was)
    return int(distributed.all_reduce_sum(right)) / max(1, rows)


@torch.no_grad()
def evaluate_mse(model: nn.Module, x: torch.Tensor | Pixels, y: torch.Tensor, batch_size: int = 1024,
                 precision: str = "auto") -> float:
    """Mean squared error of ``model`` (eval mode) on float targets ``y``, averaged over every
    entry (samples and outputs): on the scale of the targets' noise variance. The same
    figure on every rank under torchrun."""
    if not is_regression(y):
        raise PracError("evaluate_mse needs float regression targets; for class labels use evaluate (accuracy)")
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    total = torch.zeros((), dtype=torch.float64, device=device)
    entries = y.numel()
    x, y = distributed.shard(x), distributed.shard(y)
    for i, out in zip(range(0, len(x), batch_size), forward_batches(model, x, batch_size, precision)):
        total += mse_loss(out, y[i:i + batch_size].to(device), "sum").double()
    model.train(was)
    return float(distributed.all_reduce_sum(total)) / max(1, entries)
