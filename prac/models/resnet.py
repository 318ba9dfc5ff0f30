"""Residual networks with BasicBlocks: CIFAR ResNet-20/56 (He et al.) and ResNet-18 for small images.

Both are a 3×3 stem (stride 1, batch norm, ReLU; no max-pool), stages of BasicBlocks whose
first block may halve the resolution, a global average pool and one Linear. A block whose
shape changes takes a 1×1 convolution + batch norm shortcut (OpenLTH's ``cifar_resnet``).
Convolutions have no bias (batch norm follows each one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from prac.models.base import check_width, image_shape, init_weights, scaled


class BasicBlock(nn.Module):
    def __init__(self, f_in: int, f_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(f_in, f_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(f_out)
        self.conv2 = nn.Conv2d(f_out, f_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(f_out)
        if stride != 1 or f_in != f_out:
            self.shortcut = nn.Sequential(nn.Conv2d(f_in, f_out, 1, stride=stride, bias=False), nn.BatchNorm2d(f_out))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """``stages``: (width, blocks) per stage; every stage after the first starts with stride 2."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, stem: int, stages):
        super().__init__()
        c = input_shape[0]
        self.conv = nn.Conv2d(c, stem, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(stem)
        blocks, f_in = [], stem
        for i, (width, n) in enumerate(stages):
            for j in range(n):
                blocks.append(BasicBlock(f_in, width, 2 if i > 0 and j == 0 else 1))
                f_in = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(f_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _cifar(name: str, n: int, input_shape, num_classes, cfg) -> ResNet:
    shape, k = image_shape(name, input_shape), check_width(cfg)
    return init_weights(ResNet(shape, num_classes, scaled(16, k), [(scaled(w, k), n) for w in (16, 32, 64)]))


def resnet20(input_shape, num_classes, cfg) -> ResNet:
    return _cifar("resnet20", 3, input_shape, num_classes, cfg)


def resnet56(input_shape, num_classes, cfg) -> ResNet:
    return _cifar("resnet56", 9, input_shape, num_classes, cfg)


def resnet18(input_shape, num_classes, cfg) -> ResNet:
    shape, k = image_shape("resnet18", input_shape), check_width(cfg)
    return init_weights(ResNet(shape, num_classes, scaled(64, k), [(scaled(w, k), 2) for w in (64, 128, 256, 512)]))
