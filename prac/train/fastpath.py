"""The fast path's switches, resolved for a device: bf16 autocast (``train.precision``),
channels-last layout and host-to-device copies that do not block.
On CPU with the defaults training runs as on any device without them (``prac.train.loop``'s
docstring); two things differ there: the flip probe's predictions run in bf16 on a CPU that
computes it natively (``probe_dtype``), and a convolutional network is evaluated through a
channels-last copy (``eval_layout``)."""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn


def amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``train.precision`` on ``device`` (None: plain fp32)."""
    return torch.bfloat16 if precision == "bf16" or (precision == "auto" and device.type == "cuda") else None


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 matrix products natively: CUDA, or a CPU with AVX512-BF16
    or AMX, where oneDNN runs them 2-4x faster than fp32 (LeNet-300-100: 3.6x; Conv-2: 2.3x).
    Elsewhere (AVX2) bf16 is emulated, with nothing to gain, and the probe stays fp32."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and (_cpu_has("_is_avx512_bf16_supported") or _cpu_has("_is_amx_tile_supported"))


def _cpu_has(probe: str) -> bool:
    """One of ``torch.cpu``'s private feature probes; False where a torch release the package
    allows lacks it."""
    return bool(getattr(torch.cpu, probe, lambda: False)())


def probe_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the flip probe's predictions (``prac.select.probe``). Under
    ``auto``, bf16 wherever the device computes it natively, on a CPU too: the probe only asks
    which samples one more prune flips, both of its passes run in the same precision, and it is
    a fifth to a quarter of a search's wall in fp32 (docs/profile.md). Training and the
    accuracies the search decides on stay in ``amp_dtype``'s precision."""
    if precision == "auto" and native_bf16(device):
        return torch.bfloat16
    return amp_dtype(precision, device)


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Autocast to ``dtype`` on ``device``'s kind, or nothing at all for fp32."""
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def wants_channels_last(device: torch.device, x) -> bool:
    """Channels-last layout: for 4-D (image) inputs on CUDA, where convolutions run faster in it."""
    return x.dim() == 4 and device.type == "cuda"


def eval_layout(model: nn.Module, x, device: torch.device) -> tuple[nn.Module, bool]:
    """The module an evaluation pass over ``x`` on ``device`` (the model's) runs, and whether
    its inputs go channels-last. A model that training left channels-last (CUDA) is evaluated
    as it is. On the CPU a convolutional network is evaluated through a channels-last copy:
    oneDNN's forward convolutions run 1.6-2.2x faster there than in the default layout
    (Conv-2, VGG-16; ResNet-20 about even: docs/profile.md), and the copy costs one pass
    over the weights. Training on the CPU keeps the default layout: oneDNN's channels-last
    backward of a strided 1x1 convolution with fewer input channels than its vector block
    writes past its workspace (uxlfoundation/oneDNN#6035; a heap corruption here on
    ResNet-20 at width 1/4), and evaluation runs no backward."""
    if x.dim() != 4:
        return model, False
    if is_channels_last(model):
        return model, True
    if device.type == "cpu" and any(p.dim() == 4 for p in model.parameters()):
        return copy.deepcopy(model).to(memory_format=torch.channels_last), True
    return model, False


def is_channels_last(model: nn.Module) -> bool:
    """Whether ``train`` left ``model`` in channels-last layout (evaluation then follows)."""
    return any(p.dim() == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
               for p in model.parameters())


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` (on the CPU) on ``device``. To CUDA through pinned memory without blocking: a
    plain ``.to`` of pageable memory waits for the GPU's stream to drain (a host sync)."""
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
