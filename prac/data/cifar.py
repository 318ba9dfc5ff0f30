"""CIFAR-10 and CIFAR-100 from the standard download folders.

Accepted (``dataset.path`` may be the folder itself or its parent):
- python version: cifar-10-batches-py (data_batch_1..5, test_batch) and cifar-100-python
  (train, test; labels under 'fine_labels'); pickled dicts, read with ``safe_pickle``;
- binary version: cifar-10-batches-bin (data_batch_1..5.bin, test_batch.bin; records of
  1 label byte + 3072 pixel bytes) and cifar-100-binary (train.bin, test.bin; 2 label bytes,
  coarse then fine); no pickle involved.
Images come out N×3×32×32 uint8 (the files store each image as 1024 R, 1024 G, 1024 B).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prac.config.schema import DatasetConfig
from prac.data import safe_pickle
from prac.data.prepare import Raw
from prac.errors import PracError

PIXELS = 3 * 32 * 32
# kind -> (python folder, binary folder, train files, test file, label key, label bytes, hub name)
LAYOUTS = {
    "cifar10": ("cifar-10-batches-py", "cifar-10-batches-bin",
                [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels", 1, "uoft-cs/cifar10"),
    "cifar100": ("cifar-100-python", "cifar-100-binary", ["train"], "test", "fine_labels", 2, "uoft-cs/cifar100"),
}


def _read_python(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    obj = safe_pickle.load(path)
    if isinstance(obj, dict):
        obj = {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}
    data = obj.get("data") if isinstance(obj, dict) else None
    labels = obj.get(label_key) if isinstance(obj, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        raise PracError(f"{path} is not a CIFAR batch (no uint8 'data' array of N×{PIXELS}); download it again")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        labels = None
    if labels is None or labels.shape != (len(data),):
        raise PracError(f"{path} is not a CIFAR batch (no '{label_key}' list with one label per image); download it again")
    return data.reshape(-1, 3, 32, 32), labels


def _read_binary(path: Path, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    record = label_bytes + PIXELS
    if raw.size == 0 or raw.size % record:
        raise PracError(f"CIFAR binary batch {path} is truncated ({raw.size} bytes is not a whole number of "
                        f"{record}-byte records); download it again")
    raw = raw.reshape(-1, record)
    # the last label byte is the class (CIFAR-100 stores coarse, then fine)
    return raw[:, label_bytes:].reshape(-1, 3, 32, 32), raw[:, label_bytes - 1].astype(np.int64)


def _locate(root: Path, kind: str) -> tuple[Path, bool]:
    """(folder, is_binary) for the first layout found in ``root`` or one of its known subfolders."""
    py_dir, bin_dir, train, _, _, _, _ = LAYOUTS[kind]
    for folder in (root, root / py_dir, root / bin_dir):
        if (folder / train[0]).is_file():
            return folder, False
        if (folder / f"{train[0]}.bin").is_file():
            return folder, True
    raise PracError(f"{root} holds no {kind} batches; set dataset.path to the folder {py_dir} or {bin_dir} "
                    "(from https://www.cs.toronto.edu/~kriz/cifar.html), extracted")


def load(cfg: DatasetConfig) -> Raw:
    py_dir, bin_dir, train, test, label_key, label_bytes, hub = LAYOUTS[cfg.kind]
    if cfg.path is None:
        raise PracError(f"dataset.kind={cfg.kind} has no default folder; set dataset.path to the extracted {py_dir} "
                        f"or {bin_dir} folder (with no dataset.path prac loads {hub} from the Hugging Face hub)")
    root = Path(cfg.path)
    if not root.is_dir():
        raise PracError(f"dataset directory {root} does not exist; set dataset.path to the extracted {py_dir} "
                        f"or {bin_dir} folder")
    folder, binary = _locate(root, cfg.kind)
    parts = []
    for name in train + [test]:
        path = folder / (f"{name}.bin" if binary else name)
        if not path.is_file():
            raise PracError(f"{folder} has no {path.name}; the download is incomplete, extract the archive again")
        parts.append(_read_binary(path, label_bytes) if binary else _read_python(path, label_key))
    x_train = np.concatenate([p[0] for p in parts[:-1]])
    y_train = np.concatenate([p[1] for p in parts[:-1]])
    classes = 10 if cfg.kind == "cifar10" else 100
    return Raw(x_train, y_train, *parts[-1], source=f"{cfg.kind} batches in {folder}", num_classes=classes)
