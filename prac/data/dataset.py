"""The in-memory dataset every other module trains on, and its content fingerprint.

A ``Dataset`` is plain CPU tensors (already split and normalised), so the training engine
can index a subset of the training split without a DataLoader. The fingerprint names the
data by content *and* by how it was split, so a cached PrAC set (an index into the training
split) is only reused for exactly the same training split.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch

from prac.config.schema import DatasetConfig
from prac.train.task import class_counts


@dataclass
class Dataset:
    kind: str  # cfg.kind, or for Hugging Face data the dataset name
    x_train: torch.Tensor  # float32, N×C×H×W images or N×D features, normalised with train stats; int64 ids as given
    y_train: torch.Tensor  # int64 in [0, num_classes), or float32 N×k regression targets
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    fingerprint: str  # sha256 hex, see ``fingerprint`` below
    mean: torch.Tensor | None = None  # the normalisation that was applied (per channel / per feature)
    std: torch.Tensor | None = None
    pixels: bool = False  # images whose source was uint8: every x is exactly (pixel - mean) / std in float32
    noisy: torch.Tensor | None = None  # dataset.label_noise: bool, length train_size, True where y_train was flipped

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def train_size(self) -> int:
        return int(self.x_train.shape[0])

    def class_counts(self) -> list[int]:
        """Histogram of the training labels (length ``num_classes``; regression: one class)."""
        return class_counts(self.y_train, self.num_classes)

    def as_pixels(self, name: str, device: torch.device | str, chunk: int = 8192) -> "Pixels | None":
        """Split ``name`` (e.g. ``"x_train"``) as uint8 pixels on ``device``, normalised per
        batch there (4× less device memory than float32: CIFAR-10's train split 138 MB, not
        553 MB), or None when the data are not such pixels.

        The pixels are recovered from the float tensor (``round(x * std + mean)``, exact: the
        error is ~1e-5 of a grey level), chunk by chunk on ``device``, and checked: every
        chunk must normalise back to the float tensor to within float rounding, else None."""
        if not self.pixels or self.mean is None:
            return None
        x = getattr(self, name)
        mean = self.mean.to(device).view(1, -1, 1, 1)
        std = self.std.to(device).view(1, -1, 1, 1)
        u8 = torch.empty(x.shape, dtype=torch.uint8, device=device)
        bad = torch.zeros((), dtype=torch.bool, device=device)
        for i in range(0, len(x), chunk):
            xf = x[i:i + chunk].to(device)
            p = torch.round(xf * std + mean)
            # one grey level off would be 1/std >= 1/128 away; float rounding is ~1e-7 relative
            err = ((p - mean) / std - xf).abs() > 1e-5 * xf.abs().clamp(min=1)
            bad |= err.any() | (p < 0).any() | (p > 255).any()
            u8[i:i + chunk] = p.clamp_(0, 255).to(torch.uint8)
        return None if bool(bad) else Pixels(u8, mean, std)  # one host synchronisation, at setup

    def __repr__(self) -> str:  # the default repr would print every tensor
        return (f"Dataset(kind={self.kind!r}, input_shape={self.input_shape}, num_classes={self.num_classes}, "
                f"train={self.train_size}, val={len(self.y_val)}, test={len(self.y_test)}, "
                f"fingerprint={self.fingerprint[:12]}…)")


class Pixels:
    """Image rows held as uint8 pixels with the normalisation that turns them into model
    inputs. Indexing gives a ``Pixels`` of the chosen rows (``x[idx]``, ``x[a:b]``,
    ``x[r::w]`` all keep the uint8 form); ``batch`` turns one into the float32 input
    ``(u8.float() - mean) / std``, the same two float32 operations ``prepare.finish``
    applied in numpy (mean and std in pixel units, so no /255), hence the same values."""

    def __init__(self, u8: torch.Tensor, mean: torch.Tensor, std: torch.Tensor):
        self.u8, self.mean, self.std = u8, mean, std

    def __len__(self) -> int:
        return len(self.u8)

    def __getitem__(self, key) -> "Pixels":
        return Pixels(self.u8[key], self.mean, self.std)

    @property
    def shape(self) -> torch.Size:
        return self.u8.shape

    @property
    def device(self) -> torch.device:
        return self.u8.device

    def dim(self) -> int:
        return self.u8.dim()

    def to(self, device) -> "Pixels":
        return Pixels(self.u8.to(device), self.mean.to(device), self.std.to(device))

    def normalise(self) -> torch.Tensor:
        return (self.u8.float() - self.mean) / self.std


def batch(x: "torch.Tensor | Pixels", idx, device: torch.device | None = None) -> torch.Tensor:
    """The float32 model input of rows ``idx`` (index tensor or slice) of ``x``, a float
    tensor or ``Pixels``, moved to ``device`` if given: the one way the engine, evaluation and
    prediction read data."""
    xb = x[idx]
    if device is not None:
        xb = xb.to(device)
    return xb.normalise() if isinstance(xb, Pixels) else xb


def fingerprint(kind: str, cfg: DatasetConfig, num_classes: int, splits: dict[str, torch.Tensor]) -> str:
    """sha256 over how the data was split (header) and every split's dtype, shape and bytes.

    ``cfg.path`` is deliberately left out: the same data copied elsewhere keeps its name.
    """
    h = hashlib.sha256()
    header = {"kind": kind, "cfg_kind": cfg.kind, "val_size": cfg.val_size, "split_seed": cfg.split_seed,
              "train_limit": cfg.train_limit, "num_classes": num_classes}
    h.update(json.dumps(header, sort_keys=True).encode())
    for name in sorted(splits):
        arr = np.ascontiguousarray(splits[name].numpy())
        h.update(f"|{name}:{arr.dtype.str}:{arr.shape}|".encode())
        h.update(arr.reshape(-1).view(np.uint8))
    return h.hexdigest()
