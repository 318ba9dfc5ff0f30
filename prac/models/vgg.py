"""VGG-16 with batch norm, CIFAR style (OpenLTH's ``cifar_vgg_16``).

3×3 convolutions (padding 1) -> batch norm -> ReLU, 2×2 max-pools, global average pool,
one Linear to the classes. Convolutions keep their bias as in OpenLTH. On images smaller
than 32×32 the pools that would shrink the feature map below 1×1 are left out.
"""

from __future__ import annotations

import torch
from torch import nn

from prac.models.base import check_width, conv_stack, image_shape, init_weights

PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(nn.Module):
    def __init__(self, plan, input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0):
        super().__init__()
        self.features, (c, _, _) = conv_stack(plan, input_shape, batchnorm=True, width=width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def vgg16(input_shape, num_classes, cfg) -> VGG:
    return init_weights(VGG(PLAN, image_shape("vgg16", input_shape), num_classes, check_width(cfg)))
