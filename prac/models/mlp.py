"""Fully connected networks on flattened input: LeNet-300-100 and an MLP of any widths."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from prac.errors import PracError
from prac.models.base import init_weights


class MLP(nn.Module):
    """flatten -> [Linear -> ReLU] per hidden width -> Linear to the classes."""

    def __init__(self, in_features: int, widths: tuple[int, ...], num_classes: int):
        super().__init__()
        sizes = [in_features, *widths]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.out = nn.Linear(sizes[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # works on any layout, channels-last included
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.out(x)


def _features(input_shape: tuple[int, ...]) -> int:
    return math.prod(input_shape)


def lenet_300_100(input_shape, num_classes, cfg) -> MLP:
    """Frankle & Carbin's LeNet-300-100: flatten -> 300 -> 100 -> classes (266,610 weights on MNIST)."""
    return init_weights(MLP(_features(input_shape), (300, 100), num_classes))


def mlp(input_shape, num_classes, cfg) -> MLP:
    """An MLP with hidden widths ``cfg.widths`` (empty: a linear classifier)."""
    widths = tuple(cfg.widths)
    if any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in widths):
        raise PracError(f"model.widths={list(widths)} must be positive whole numbers, e.g. [300, 100]")
    return init_weights(MLP(_features(input_shape), widths, num_classes))
