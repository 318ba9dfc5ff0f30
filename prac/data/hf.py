"""Hugging Face datasets: a folder written by ``save_to_disk``, or a hub dataset by name.

Used by ``hf`` (``dataset.path``: a save_to_disk folder, or a hub name like ``owner/name``
when no such path exists), ``tiny_imagenet`` (hub default zh-plus/tiny-imagenet, splits
train/valid) and by cifar10, cifar100, mnist and fashion_mnist when ``dataset.path`` is a
saved folder or their files are not on disk (no ``dataset.path`` and no default folder):
they then load their ``HUB_DEFAULTS`` copy. Hub downloads go to the datasets library's own
cache (``HF_DATASETS_CACHE``). Remote code is never run: ``load_from_disk`` reads Arrow
files only, and hub loading asks for ``trust_remote_code=False`` where the installed
``datasets`` still knows that switch (newer versions dropped dataset scripts altogether).
Images are decoded once into one uint8 array; nothing stays lazy.
"""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path

import numpy as np

from prac.config.schema import DatasetConfig
from prac.data.prepare import Raw, split_indices
from prac.errors import PracError

# the hub copy each named kind loads when its files are not on disk
HUB_DEFAULTS = {"tiny_imagenet": "zh-plus/tiny-imagenet", "cifar10": "uoft-cs/cifar10",
                "cifar100": "uoft-cs/cifar100", "mnist": "ylecun/mnist",
                "fashion_mnist": "zalando-datasets/fashion_mnist"}
# class counts of the named kinds, for copies whose label column is a plain integer
KNOWN_CLASSES = {"cifar10": 10, "cifar100": 100, "mnist": 10, "fashion_mnist": 10, "tiny_imagenet": 200}
IMAGE_COLUMNS = ("image", "img", "pixel_values")
LABEL_COLUMNS = ("label", "labels", "fine_label")
TEST_SPLITS = ("test", "valid", "validation")  # tiny-imagenet's labelled held-out split is 'valid'
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
_BATCH = 1024
# a Hugging Face hub id: "name" or "owner/name" (letters, digits, '-', '_', '.')
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?")


def is_saved_dir(path: str | Path | None) -> bool:
    """Whether ``path`` is a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``."""
    if path is None:
        return False
    p = Path(path)
    return p.is_dir() and ((p / "dataset_dict.json").is_file() or (p / "state.json").is_file())


def hub_name(cfg: DatasetConfig) -> str | None:
    """The hub dataset ``cfg`` names, or None: a ``dataset.path`` that does not exist and
    looks like ``owner/name`` or ``name``, or with no ``dataset.path`` the kind's hub default
    (none for ``hf``). (The registry sends cifar10 & co. here only without a path that
    does not exist: there such a path is more likely a typo than a hub name.)"""
    p = cfg.path
    if p is None:
        return HUB_DEFAULTS.get(cfg.kind)
    return p if _HUB_ID.fullmatch(p) and ".." not in p and not Path(p).exists() else None


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


def _open(cfg: DatasetConfig):
    import datasets  # imported here: it is slow to import and only these kinds need it

    if is_saved_dir(cfg.path):
        try:
            return datasets.load_from_disk(cfg.path), f"saved dataset {cfg.path}"
        except Exception as e:  # damaged Arrow files raise assorted types
            raise PracError(f"saved dataset {cfg.path} cannot be read ({_one_line(e)}); save it again") from None
    name = hub_name(cfg)
    if name is None:
        if cfg.path is not None and not Path(cfg.path).exists():
            raise PracError(f"dataset.path {cfg.path} does not exist; set it to a folder written by save_to_disk "
                            "or to a Hugging Face dataset name (owner/name)")
        where = f"dataset.path {cfg.path} is not a folder written by save_to_disk, so " if cfg.path else ""
        raise PracError(f"{where}dataset.kind={cfg.kind} needs a source; set dataset.path to a Hugging Face dataset "
                        "name (owner/name) or to a folder written by save_to_disk")
    kwargs = {}
    if "trust_remote_code" in inspect.signature(datasets.load_dataset).parameters:
        kwargs["trust_remote_code"] = False
    try:
        return datasets.load_dataset(name, **kwargs), f"Hugging Face dataset {name}"
    except Exception as e:  # offline, unknown name, script-based dataset, ...
        local = " or set dataset.path to its files on disk," if cfg.kind != "hf" and cfg.path is None else ""
        raise PracError(f"Hugging Face dataset '{name}' cannot be loaded ({_one_line(e)}); check the name and the "
                        f"network,{local} or save it with save_to_disk elsewhere and set dataset.path to that "
                        "folder") from None


def _to_hwc(item, source: str, channels_first: bool) -> np.ndarray:
    """One image as H×W×C. ``channels_first`` settles C×H×W vs H×W×C when both would fit
    (e.g. 3×4×4): transformers' ``pixel_values`` are channels-first, PIL-style arrays are not."""
    if hasattr(item, "convert") and hasattr(item, "mode"):  # a PIL image
        item = item.convert("L" if item.mode in _GREY_MODES else "RGB") if item.mode not in ("L", "RGB") else item
    a = np.asarray(item)
    if a.ndim == 2:
        return a[:, :, None]
    if a.ndim == 3:
        first, last = a.shape[0] in (1, 3, 4), a.shape[-1] in (1, 3, 4)
        if first and (channels_first or not last):
            return a.transpose(1, 2, 0)
        if last:
            return a
    raise PracError(f"{source}: an image has shape {a.shape}; store H×W, H×W×C or C×H×W images")


def _images(ds, col: str, source: str) -> np.ndarray:
    """Decode an image column into one N×C×H×W array, grey images widened to RGB if mixed."""
    import datasets

    if not isinstance(ds.features[col], datasets.Image):
        ds = ds.with_format("numpy")  # arrays and nested lists come back as numpy
    out = None
    for start in range(0, len(ds), _BATCH):
        for i, item in enumerate(ds[start:start + _BATCH][col], start):
            a = _to_hwc(item, source, col == "pixel_values")
            if out is None:
                out = np.empty((len(ds),) + a.shape, dtype=a.dtype)
            if a.shape[:2] != out.shape[1:3]:
                raise PracError(f"{source}: images have different sizes ({out.shape[1:3]} and {a.shape[:2]}); "
                                "resize them to one size first")
            if a.shape[2] > out.shape[3]:  # first images were grey, this one has colour: widen once
                out = np.repeat(out, a.shape[2], axis=3)
            out[i] = a if a.shape[2] == out.shape[3] else np.repeat(a[:, :, :1], out.shape[3], axis=2)
    if out is None:
        raise PracError(f"{source}: a split has no rows; every split needs at least one sample")
    if out.dtype.kind in "iu" and out.dtype != np.uint8:  # an image column of plain integers holds pixel values,
        small = out.min() >= 0 and out.max() <= 255       # not token ids: standardised like any image
        out = out.astype(np.uint8 if small else np.float32)
    return out.transpose(0, 3, 1, 2)


def _arrays(ds, source: str) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(x, y, num_classes or None) of one split."""
    import datasets

    cols = ds.column_names
    label = next((c for c in LABEL_COLUMNS if c in cols), None)
    if label is None:
        raise PracError(f"{source}: no label column (columns: {', '.join(cols)}); name it one of {', '.join(LABEL_COLUMNS)}")
    image = next((c for c in IMAGE_COLUMNS if c in cols), None)
    if image is not None:
        x = _images(ds, image, source)
    else:  # tabular: every numeric scalar column that is not a label
        # other label-like columns (coarse_label) and row ids would leak or mean nothing: skip them
        numeric = [c for c, f in ds.features.items() if "label" not in c and c not in ("id", "idx", "index")
                   and isinstance(f, datasets.Value) and f.dtype.rstrip("0123456789") in ("int", "uint", "float", "bool")]
        if not numeric:
            raise PracError(f"{source}: no image column ({', '.join(IMAGE_COLUMNS)}) and no numeric feature columns "
                            f"(columns: {', '.join(cols)}); add one")
        table = ds.with_format("numpy")[:]
        x = np.stack([np.asarray(table[c], dtype=np.float32) for c in numeric], axis=1)
    feature = ds.features[label]
    classes = feature.num_classes if isinstance(feature, datasets.ClassLabel) else None
    return x, np.asarray(ds.with_format("numpy")[label]), classes


def load(cfg: DatasetConfig) -> Raw:
    import datasets

    ds, source = _open(cfg)
    if isinstance(ds, datasets.Dataset):  # one split only: hold out a fixed test split, as for digits
        x, y, classes = _arrays(ds, source)
        keep, test = split_indices(y, max(1, math.ceil(0.2 * len(y))), 0)
        parts = (x[keep], y[keep], x[test], y[test])
    elif isinstance(ds, datasets.DatasetDict):
        test_name = next((s for s in TEST_SPLITS if s in ds), None)
        if "train" not in ds or test_name is None:
            raise PracError(f"{source}: needs a 'train' split and one of {', '.join(TEST_SPLITS)} "
                            f"(found {', '.join(ds) or 'none'}); rename its splits")
        x, y, classes = _arrays(ds["train"], f"{source} [train]")
        x_test, y_test, _ = _arrays(ds[test_name], f"{source} [{test_name}]")
        parts = (x, y, x_test, y_test)
    else:
        raise PracError(f"{source} is a streaming dataset; load it without streaming or save it with save_to_disk")
    name = hub_name(cfg) or (Path(cfg.path).name if cfg.kind == "hf" and cfg.path else cfg.kind)
    classes = classes or KNOWN_CLASSES.get(cfg.kind)
    return Raw(*parts, source=source, num_classes=classes, kind=name if cfg.kind == "hf" else cfg.kind)
