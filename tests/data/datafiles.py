"""Helpers that write small files in the real on-disk formats (no downloads in tests).

A plain module (not conftest.py) with a name unique across tests/, so `from datafiles import`
works in pytest's default import mode next to other test folders."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from prac.data import Dataset

_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B,
          np.dtype("i4"): 0x0C, np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    """The IDX encoding of ``arr``: magic (0, 0, type code, ndim), big-endian dims, big-endian data."""
    head = bytes([0, 0, _CODES[arr.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = False) -> Path:
    data = idx_bytes(arr)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def write_mnist_dir(folder: Path, n_train: int = 40, n_test: int = 20, gz: bool = False, seed: int = 0):
    """Four IDX files like MNIST's; returns the raw arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8)}
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        write_idx(folder / name, arr, gz=gz)
    return arrays


def denormalise(ds: Dataset, x: torch.Tensor) -> torch.Tensor:
    """Undo the per-channel normalisation (images) to compare with the raw pixels."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return x * ds.std.reshape(shape) + ds.mean.reshape(shape)


