"""The task a network is trained for: class labels or regression targets, read off ``y``.

Decided once per ``prac.train.loop.train`` / ``evaluate.evaluate`` call: integer ``y`` are class labels (cross-entropy; "correct" = predicted class equals
the label); a float ``y`` (N or N×k) holds regression targets:

- loss (``mse_loss``): the squared error summed over the k outputs, averaged over the
  batch (``reduction="sum"`` is that mean × N, as the DDP path needs);
- "correct" = *learned*: the sample's squared error averaged over its outputs
  (``squared_error``) is below a threshold, ``select.learned_mse`` or by default
  ``LEARNED_SHARE`` = 1 % of the targets' variance (``default_learned_mse``); a network
  that fits the signal exactly has a per-sample error of about the noise variance σ², so a
  threshold of a few σ² (the planted-ticket bench uses 9σ²) makes "learned" mean "fitted
  to within the noise". The forgetting tracker counts learned -> not learned as a
  forgetting event, exactly as for classes;
- ``evaluate.evaluate`` returns the fraction of samples learned (so every val/test "accuracy" is
  still the fraction of samples right); ``evaluate_mse`` the mean squared error per entry;
The classification path computes what it did before (bit-identical weights); per step it
pays one test of a local bool.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LEARNED_SHARE = 0.01  # select.learned_mse unset: learned = squared error below 1 % of the targets' variance


def is_regression(y: torch.Tensor) -> bool:
    """Whether ``y`` holds regression targets (a float tensor, N or N×k) rather than class
    labels (integers). Callers decide it once per training or evaluation, never per step."""
    return y.is_floating_point()


def default_learned_mse(y: torch.Tensor) -> float:
    """The "learned" threshold when ``select.learned_mse`` is unset: ``LEARNED_SHARE`` of the
    variance of the targets ``y`` (per output, averaged over outputs). Scale-free: a sample
    is learned when the network explains it to within 1 % of the targets' spread (on the
    planted tasks about 10× the noise variance)."""
    var = y.detach().reshape(len(y), -1).double().var(0, unbiased=False).mean()
    return max(LEARNED_SHARE * float(var), 1e-12)  # constant targets: still a threshold a perfect fit meets


def learned_threshold(y: torch.Tensor, learned_mse: float | None = None) -> float | None:
    """The squared error below which a sample of ``y`` counts as learned: ``learned_mse``
    (``select.learned_mse``) or ``default_learned_mse(y)``; None for class labels."""
    if not is_regression(y):
        return None
    return default_learned_mse(y) if learned_mse is None else float(learned_mse)


def squared_error(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each sample's squared error, averaged over its outputs (float32, length N): the figure
    the learned rule compares with its threshold, on the noise variance's scale."""
    return (out.float() - y.reshape(out.shape)).square().reshape(len(out), -1).mean(1)


def correctness(out: torch.Tensor, y: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
    """Per-sample correctness (bool, length N): the predicted class is the label, or, for
    regression targets, the sample is learned (``squared_error < threshold``, the value of
    ``learned_threshold`` for the whole split)."""
    if not is_regression(y):
        return out.argmax(1) == y
    if threshold is None:
        raise ValueError("correctness() of regression targets needs the split's threshold: pass "
                         "learned_threshold(y_split, learned_mse), not a per-batch default")
    return squared_error(out, y) < threshold


def mse_loss(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The regression loss: squared error summed over the outputs, then the mean (or sum, or
    with "none" each sample's) over the samples, so "sum" = "mean" × N as for cross-entropy."""
    out, y = out.float(), y.reshape(out.shape).float()  # bf16 outputs under autocast: the loss in fp32
    if reduction == "none":
        return F.mse_loss(out, y, reduction="none").reshape(len(out), -1).sum(1)
    total = F.mse_loss(out, y, reduction="sum")
    return total / max(1, len(out)) if reduction == "mean" else total


def task_loss(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The training loss of a batch, as the loop and the validation curves (``prac.train.curve``)
    compute it: cross-entropy to class labels, ``mse_loss`` to float regression targets."""
    return (mse_loss if is_regression(y) else F.cross_entropy)(out, y, reduction=reduction)



def class_labels(y: torch.Tensor) -> torch.Tensor:
    """The class of each sample for class balancing (int64): the labels themselves, or for
    regression targets (float) a single class 0 for every sample."""
    return torch.zeros(len(y), dtype=torch.long) if is_regression(y) else y.to(torch.long)


def class_counts(y: torch.Tensor, num_classes: int) -> list[int]:
    """Samples per class (``num_classes`` entries), or ``[len(y)]`` for regression targets."""
    return torch.bincount(class_labels(y).cpu(), minlength=1 if is_regression(y) else num_classes).tolist()
