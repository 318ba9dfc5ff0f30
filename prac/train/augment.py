"""Training-time data augmentation of image batches held on the device (airbench's habit:
no DataLoader, no per-sample Python): the random crop and flip of the CIFAR recipes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from prac.train import distributed
from prac.train.fastpath import to_device


def augment(x: torch.Tensor, gen: torch.Generator, total: int | None = None) -> torch.Tensor:
    """Random crop with 4-pixel zero padding and horizontal flip, batched on the device.

    Random numbers come from a CPU generator of their own (separate from data order), so
    a run is reproducible whatever the device. Under data parallelism ``x`` is this rank's
    strided share of a global batch of ``total`` rows: the whole batch's random numbers are
    drawn and the share's kept, so each sample is augmented as in one process."""
    n, c, h, w = x.shape
    dev = x.device
    total, part = n if total is None else total, slice(distributed.rank(), None, distributed.world_size())
    flip = to_device((torch.rand(total, generator=gen) < 0.5)[part], dev)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (4, 4, 4, 4))
    dy, dx = to_device(torch.randint(0, 9, (2, total), generator=gen)[:, part], dev)
    rows = dy[:, None] + torch.arange(h, device=dev)            # n×h
    cols = dx[:, None] + torch.arange(w, device=dev)            # n×w
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, padded.shape[3]))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))
