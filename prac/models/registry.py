"""The model registry (a plain dict from name to constructor) and ``build_model``.

A constructor takes ``(input_shape, num_classes, cfg)``: the shape of one sample (``(D,)``
for flat features, ``(C, H, W)`` for images), the number of classes and the
``ModelConfig``; it returns an initialised ``nn.Module`` mapping a batch to logits.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from prac.config.schema import ModelConfig
from prac.errors import PracError
from prac.models import conv, mlp, resnet, vgg

MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet_300_100": mlp.lenet_300_100,
    "mlp": mlp.mlp,
    "conv2": conv.conv2,
    "conv4": conv.conv4,
    "conv6": conv.conv6,
    "vgg16": vgg.vgg16,
    "resnet20": resnet.resnet20,
    "resnet56": resnet.resnet56,
    "resnet18": resnet.resnet18,
}


def build_model(cfg: ModelConfig | str, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Build and initialise ``cfg.name`` for samples of ``input_shape`` and ``num_classes`` classes.

    Initialisation draws from torch's global RNG: seed it (``torch.manual_seed``) first for
    reproducible weights. A plain name is accepted in place of a ``ModelConfig``.
    """
    if isinstance(cfg, str):
        cfg = ModelConfig(name=cfg)
    if cfg.name not in MODELS:
        raise PracError(f"unknown model '{cfg.name}'; use one of: {', '.join(MODELS)}")
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d < 1 for d in shape):
        raise PracError(f"input shape {shape} of model {cfg.name} is empty or has a zero size; "
                        "check the dataset (one sample is D features or C×H×W pixels)")
    if int(num_classes) < 1:
        raise PracError(f"model {cfg.name} was asked for {num_classes} classes; the labels must have at least one class")
    try:
        return MODELS[cfg.name](shape, int(num_classes), cfg)
    except (RuntimeError, MemoryError) as e:  # torch's allocator: "can't allocate memory"
        if "alloc" not in str(e).lower() and not isinstance(e, MemoryError):
            raise
        raise PracError(f"model {cfg.name} (model.width={cfg.width}, widths={list(cfg.widths)}) does not fit in "
                        "memory; choose a smaller model.width or model.widths") from None
