"""The GPU fast path's switches, resolved for a device: bf16 autocast (``train.precision``),
channels-last layout (on CUDA) and host-to-device copies that do not block.
On CPU with the defaults every one of them is off (``prac.train.loop``'s docstring)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


def amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``train.precision`` on ``device`` (None: plain fp32)."""
    return torch.bfloat16 if precision == "bf16" or (precision == "auto" and device.type == "cuda") else None


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Autocast to ``dtype`` on ``device``'s kind, or nothing at all for fp32."""
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def wants_channels_last(device: torch.device, x) -> bool:
    """Channels-last layout: for 4-D (image) inputs on CUDA, where convolutions run faster in it."""
    return x.dim() == 4 and device.type == "cuda"


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
