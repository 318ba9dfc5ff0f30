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

from prac.config import DatasetConfig


@dataclass
class Dataset:
    kind: str  # cfg.kind, or for Hugging Face data the dataset name
    x_train: torch.Tensor  # float32, N×C×H×W images or N×D features, normalised with train stats
    y_train: torch.Tensor  # int64 in [0, num_classes)
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    fingerprint: str  # sha256 hex, see ``fingerprint`` below
    mean: torch.Tensor | None = None  # the normalisation that was applied (per channel / per feature)
    std: torch.Tensor | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def train_size(self) -> int:
        return int(self.x_train.shape[0])

    def class_counts(self) -> list[int]:
        """Histogram of the training labels (length ``num_classes``)."""
        return torch.bincount(self.y_train, minlength=self.num_classes).tolist()

    def __repr__(self) -> str:  # the default repr would print every tensor
        return (f"Dataset(kind={self.kind!r}, input_shape={self.input_shape}, num_classes={self.num_classes}, "
                f"train={self.train_size}, val={len(self.y_val)}, test={len(self.y_test)}, "
                f"fingerprint={self.fingerprint[:12]}…)")


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
