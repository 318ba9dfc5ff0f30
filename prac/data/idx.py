"""MNIST and Fashion-MNIST from their original IDX files (plain or gzipped).

The IDX format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a data-type code, the
number of dimensions, one big-endian uint32 per dimension, then the values big-endian. The
reader checks every part of that header against the file, because a half-downloaded file
otherwise turns into silently wrong data.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from prac.config.schema import DatasetConfig
from prac.data.prepare import Raw
from prac.errors import PracError

# data-type code -> numpy dtype (big-endian where it matters)
_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
           0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
DEFAULT_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist", "mnist": None}


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:  # gzip raises all three for damaged archives
        raise PracError(f"IDX file {path} cannot be read ({type(e).__name__}: {e}); download it again") from None


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` is decompressed) into a native-endian numpy array."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise PracError(f"IDX file {path} has a bad magic number ({raw[:4].hex() or 'empty file'}); "
                        "it is not an IDX file, download it again")
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES:
        raise PracError(f"IDX file {path} has an unknown data-type code 0x{code:02x}; download it again")
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise PracError(f"IDX file {path} has a broken header ({ndim} dimensions, {len(raw)} bytes); download it again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _DTYPES[code]
    count = math.prod(dims)
    expected = header + count * dtype.itemsize
    if len(raw) != expected:
        what = "is truncated" if len(raw) < expected else "has trailing bytes"
        gz = " after decompression" if path.suffix == ".gz" else ""
        raise PracError(f"IDX file {path} {what} (expected {expected} bytes, found {len(raw)}{gz}); download it again")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise PracError(f"{folder} has no {name} (nor {name}.gz); set dataset.path to the folder with the four IDX files")


def read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images N×1×28×28 and labels of the 'train' or 't10k' IDX pair in ``folder``."""
    img_path, lbl_path = (_find(folder, n) for n in FILES[split])
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise PracError(f"IDX file {img_path} holds {images.dtype} with shape {images.shape}, not N×H×W uint8 images; "
                        "check that the image and label files are not swapped")
    if labels.ndim != 1:
        raise PracError(f"IDX file {lbl_path} holds shape {labels.shape}, not one label per image; "
                        "check that the image and label files are not swapped")
    if len(images) != len(labels):
        raise PracError(f"IDX files {img_path.name} and {lbl_path.name} disagree: {len(images)} images but "
                        f"{len(labels)} labels; download both again")
    return images[:, None], labels


def load(cfg: DatasetConfig) -> Raw:
    """``fashion_mnist`` (default folder from Debian's dataset-fashion-mnist) or ``mnist``."""
    folder = cfg.path or DEFAULT_DIRS[cfg.kind]
    if folder is None:
        raise PracError(f"dataset.kind={cfg.kind} has no default folder; set dataset.path to the folder with "
                        "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte")
    folder = Path(folder)
    if not folder.is_dir():
        hint = "install Debian's dataset-fashion-mnist or " if cfg.kind == "fashion_mnist" and cfg.path is None else ""
        raise PracError(f"dataset directory {folder} does not exist; {hint}set dataset.path to the folder with the IDX files")
    x_train, y_train = read_split(folder, "train")
    x_test, y_test = read_split(folder, "test")
    return Raw(x_train, y_train, x_test, y_test, source=f"IDX files in {folder}", num_classes=10)
