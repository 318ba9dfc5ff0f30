"""Model registry: LeNet-300-100, MLP, Conv-2/4/6, VGG-16, ResNet-20/56/18.

``build_model(cfg, input_shape, num_classes)`` builds one; ``prunable(model)`` lists the
weights pruning acts on (conv and linear weights, by name) and ``output_name(model)`` the
output layer's weight, which IMP prunes at half the rate.
"""

from prac.models.base import output_name, prunable
from prac.models.registry import MODELS, build_model

__all__ = ["MODELS", "build_model", "output_name", "prunable"]
