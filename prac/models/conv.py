"""Frankle & Carbin's Conv-2/4/6: scaled-down VGG for CIFAR, no batch norm.

Blocks of two 3×3 convolutions (padding 1, ReLU) each followed by a 2×2 max-pool, then a
256-256 fully connected head. The flatten size is computed from the input shape, so any
image size works as long as every pool still has at least 2×2 pixels to reduce.
"""

from __future__ import annotations

import torch
from torch import nn

from prac.errors import PracError
from prac.models.base import check_width, conv_stack, image_shape, init_weights
from prac.models.mlp import MLP

PLANS = {
    "conv2": (64, 64, "M"),
    "conv4": (64, 64, "M", 128, 128, "M"),
    "conv6": (64, 64, "M", 128, 128, "M", 256, 256, "M"),
}
FC_WIDTHS = (256, 256)


class ConvNet(nn.Module):
    def __init__(self, plan, input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0):
        super().__init__()
        self.features, (c, h, w) = conv_stack(plan, input_shape, batchnorm=False, width=width)
        self.classifier = MLP(c * h * w, FC_WIDTHS, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _build(name: str, input_shape, num_classes, cfg) -> ConvNet:
    c, h, w = image_shape(name, input_shape)
    side = 2 ** PLANS[name].count("M")
    if h < side or w < side:
        smaller = [n for n, p in PLANS.items() if 2 ** p.count("M") <= min(h, w)]
        fix = f"use model {' or '.join(smaller)}, vgg16 or a resnet" if smaller else "use vgg16 or a resnet"
        raise PracError(f"model {name} needs images of at least {side}×{side} pixels but the data are {h}×{w}; {fix}")
    return init_weights(ConvNet(PLANS[name], (c, h, w), num_classes, check_width(cfg)))


def conv2(input_shape, num_classes, cfg) -> ConvNet:
    return _build("conv2", input_shape, num_classes, cfg)


def conv4(input_shape, num_classes, cfg) -> ConvNet:
    return _build("conv4", input_shape, num_classes, cfg)


def conv6(input_shape, num_classes, cfg) -> ConvNet:
    return _build("conv6", input_shape, num_classes, cfg)
