"""EL2N scores (Paul et al., NeurIPS 2021): the L2 norm of a sample's error vector,
softmax(logits) − one-hot(label), early in training; large for samples the network finds
hard, and for mislabelled ones.

Gathered during the PrAC set's dense build from the training forward pass itself (no
extra pass), averaged over the presentations of the first ``EARLY`` of the epochs, and
cached with the set's statistics as ``el2n`` (``select.method=el2n`` reads it). For float
regression targets the error vector is the output minus the target.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from prac.train import distributed
from prac.train.task import is_regression

EARLY = 0.2  # the share of the dense run's epochs EL2N averages over (Paul et al.: epoch 20 of 200, 10 %)


def early_epochs(epochs: float) -> int:
    """How many of the dense run's first epochs the scores average over (at least one)."""
    return max(1, math.ceil(EARLY * epochs))


class ErrorNorms:
    """Engine listener: the mean error-vector norm of every training sample over its
    presentations in the first ``epochs`` epochs (``on_logits``, fed by the loop with each
    batch's training logits while ``wants_logits`` says so)."""

    def __init__(self, num_samples: int, epochs: int, device: torch.device | str = "cpu"):
        self.epochs = epochs
        self.total = torch.zeros(num_samples, dtype=torch.float32, device=device)
        self.count = torch.zeros(num_samples, dtype=torch.int32, device=device)

    @property
    def scores(self) -> torch.Tensor:
        """Mean error norm per sample (0 for a sample never presented early)."""
        return self.total / self.count.clamp(min=1)

    def wants_logits(self, epoch: int) -> bool:
        return epoch < self.epochs

    @torch.no_grad()
    def on_logits(self, indices: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """One batch: ``indices`` its global samples, ``logits`` and ``y`` this rank's share
        of them (under torchrun a strided share, gathered here)."""
        out = logits.float()
        if is_regression(y):
            err = out - y.reshape(out.shape).float()
        else:
            err = torch.softmax(out, 1) - F.one_hot(y, out.shape[1]).float()
        norms = distributed.gather_strided(err.reshape(len(err), -1).norm(dim=1), len(indices))
        indices = indices.to(self.total.device)
        self.total.index_add_(0, indices, norms.to(self.total.device))
        self.count.index_add_(0, indices, torch.ones_like(indices, dtype=torch.int32))

    def state_dict(self) -> dict:
        return {"total": self.total.clone(), "count": self.count.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.total.copy_(state["total"].to(self.total.device))
        self.count.copy_(state["count"].to(self.count.device))
