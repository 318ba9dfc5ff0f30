"""From raw arrays to a ``Dataset``: validation, the validation split, train_limit,
imbalance and label noise (``prac.data.transforms``), normalisation.

Every loader returns a ``Raw`` (numpy arrays in N×C×H×W or N×D layout with integer labels,
or, from the Python API's arrays, float regression targets N or N×k); everything they have
in common happens here once, so the loaders stay short and all kinds obey the same rules.
Regression targets are kept as float32 N×k (k = 1 for a 1-D array) and are not
standardised (MSE figures stay in the data's own units); the number of outputs k takes the
place of the number of classes, and the validation split is drawn unstratified.
Inputs: floats and uint8 pixels are standardised (float32); other integer dtypes (token ids
for an ``nn.Embedding``) stay int64 as given, unstandardised; ``Raw.standardise`` False
(the API's ``preprocess="none"``) passes every input as given (float32, or int64).
Class labels are checked against each other: consecutive class indices 0..K-1, and every
validation and test label a class of the final training split.
Normalisation runs in numpy (single-threaded, fixed summation order), so the same config
gives bit-identical tensors and therefore the same fingerprint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from prac.config.schema import DatasetConfig
from prac.data import transforms
from prac.data.dataset import Dataset, fingerprint
from prac.errors import PracError


@dataclass
class Raw:
    x_train: np.ndarray  # N×C×H×W or N×D, any numeric dtype
    y_train: np.ndarray  # integer labels, or float regression targets (validated here)
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # how error messages name the data, e.g. "npz file f.npz"
    num_classes: int | None = None  # None: max label + 1 over train and test
    kind: str | None = None  # Dataset.kind when it is not cfg.kind (Hugging Face names)
    regression: bool = False  # y are float regression targets (N or N×k), not class labels
    standardise: bool = True  # False: inputs as given (float32 or int64), no standardisation


def as_labels(y: np.ndarray, source: str, name: str) -> np.ndarray:
    """Check that ``y`` holds whole numbers >= 0 and return it as 1-D int64."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise PracError(f"{source}: {name} must be a 1-D array of labels (found shape {y.shape}); store one integer per sample")
    if y.dtype.kind == "f":  # whole-valued floats are accepted, anything else is not a class index
        bad = y[~np.isfinite(y) | (y != np.round(y))]
        if bad.size:
            raise PracError(f"{source}: labels must be integers >= 0 (found {bad[0]} in {name}); store class indices "
                            "(float regression targets go to prac.build_prac / find_ticket as arrays)")
    elif y.dtype.kind not in "biu":
        raise PracError(f"{source}: labels must be integers >= 0 ({name} has dtype {y.dtype}); store class indices")
    if y.size and y.min() < 0:
        raise PracError(f"{source}: labels must be integers >= 0 (found {y.min()} in {name}); store class indices")
    return y.astype(np.int64)


def as_targets(y: np.ndarray, source: str, name: str) -> np.ndarray:
    """Check that ``y`` holds finite regression targets, N or N×k, and return them as
    float32 N×k (a 1-D array becomes N×1: one output)."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise PracError(f"{source}: {name} has dtype {y.dtype}; regression targets must be numbers (float)")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] == 0:
        raise PracError(f"{source}: {name} has shape {y.shape}; give regression targets as N or N×k (k outputs)")
    if not np.isfinite(y).all():
        raise PracError(f"{source}: {name} contains NaN or infinite targets; clean the data first")
    return np.ascontiguousarray(y, dtype=np.float32)


def split_indices(y: np.ndarray, n_out: int, seed: int, stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held-out) index arrays, stratified by label when every class allows it
    (never with ``stratify=False``: regression targets have no classes).

    Both come back in a seeded shuffled order, so "the first N training samples" is a random
    subset rather than whatever order the file happened to be sorted in.
    """
    idx = np.arange(len(y))
    if not stratify:
        keep, out = train_test_split(idx, test_size=n_out, random_state=seed)
        return np.asarray(keep), np.asarray(out)
    try:
        keep, out = train_test_split(idx, test_size=n_out, random_state=seed, stratify=y)
    except ValueError:  # a class with one sample, or fewer held-out samples than classes
        keep, out = train_test_split(idx, test_size=n_out, random_state=seed)
    return np.asarray(keep), np.asarray(out)


def val_count(val_size: float, n: int) -> int:
    """Number of validation samples for a fraction (<1) or a count; leaves >= 1 for training."""
    n_val = int(val_size) if val_size >= 1 else max(1, math.ceil(val_size * n))
    if n_val >= n:
        raise PracError(f"dataset.val_size={val_size} leaves no training data ({n} samples in the train split); "
                        "use a smaller fraction or count")
    return n_val


def _check_x(x: np.ndarray, source: str, name: str) -> None:
    if x.dtype.kind not in "biuf":
        raise PracError(f"{source}: {name} has dtype {x.dtype}; store numbers (floats, uint8 pixels or integer ids)")
    if x.ndim not in (2, 4):
        raise PracError(f"{source}: {name} has shape {x.shape}; use images N×H×W, N×H×W×C or flat features N×D")
    if x.shape[0] == 0:
        raise PracError(f"{source}: {name} is empty; it needs at least one sample")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise PracError(f"{source}: {name} contains NaN or infinite values; clean the data first")


def _normalise(xs: list[np.ndarray]):
    """Standardise with the statistics of ``xs[0]`` (the train split), in place on float32 copies.

    Images: per channel. Flat features: per feature, because tabular columns come in
    unrelated units; a feature constant on the train split gets std 1 (it becomes 0, not NaN).
    The caller passes arrays it owns (fancy-indexed copies) or asks for a copy: see ``finish``.
    """
    xs = [x.astype(np.float32, copy=False) for x in xs]
    x_tr = xs[0]
    if x_tr.ndim == 4:
        mean = np.array([x_tr[:, c].mean(dtype=np.float64) for c in range(x_tr.shape[1])])
        var = np.array([np.square(x_tr[:, c] - np.float32(m)).mean(dtype=np.float64) for c, m in enumerate(mean)])
        shape = (1, -1, 1, 1)
    else:
        mean = x_tr.mean(axis=0, dtype=np.float64)
        var = np.square(x_tr - mean.astype(np.float32)).mean(axis=0, dtype=np.float64)
        shape = (1, -1)
    std = np.sqrt(var)
    std[std < 1e-8] = 1.0
    m32, s32 = mean.astype(np.float32).reshape(shape), std.astype(np.float32).reshape(shape)
    for x in xs:
        x -= m32
        x /= s32
    tensors = [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]
    return tensors, torch.from_numpy(mean.astype(np.float32)), torch.from_numpy(std.astype(np.float32))


def _few(labels: np.ndarray) -> str:
    shown = ", ".join(str(int(v)) for v in labels[:5])
    return shown + (f", ... ({len(labels)} in all)" if len(labels) > 5 else "")


def _class_labels(raw: Raw) -> tuple[np.ndarray, np.ndarray, int]:
    """Both splits' labels, checked, and the number of classes K: labels are class indices
    0..K-1 (K declared by the loader, or max label + 1 with every index in use), and every
    test label is a class of y_train."""
    src = raw.source
    y_train, y_test = as_labels(raw.y_train, src, "y_train"), as_labels(raw.y_test, src, "y_test")
    top = int(max(y_train.max(), y_test.max()))
    num_classes = raw.num_classes or top + 1
    if top >= num_classes:
        raise PracError(f"{src}: label {top} is out of range for {num_classes} classes; "
                        f"labels must be integers in [0, {num_classes})")
    present = np.unique(y_train)
    unseen = np.setdiff1d(np.unique(y_test), present)
    if unseen.size:
        raise PracError(f"{src}: y_test has label{'s' * (unseen.size > 1)} {_few(unseen)} that y_train never has "
                        f"(y_train: {_few(present)}); labels must mean the same classes in both splits: give "
                        "training samples of every test class, or map both splits with the same class indices")
    if raw.num_classes is None and len(present) < num_classes:
        raise PracError(f"{src}: labels must be consecutive class indices 0..K-1, but y_train has {len(present)} "
                        f"distinct labels from {present[0]} to {present[-1]}; map them to 0..{len(present) - 1} with "
                        "np.unique(y, return_inverse=True) (same mapping for y_test)")
    return y_train, y_test, num_classes


def _check_present(raw: Raw, cfg: DatasetConfig, y_train: np.ndarray, y_val: np.ndarray, y_test: np.ndarray) -> None:
    """Refuse validation or test labels of a class that the final training split lacks (a class
    with one sample that went to validation, or one that train_limit left out)."""
    present = np.unique(y_train)
    for name, y in (("validation", y_val), ("test", y_test)):
        unseen = np.setdiff1d(np.unique(y), present)
        if unseen.size:
            limit = f" after dataset.train_limit={cfg.train_limit}" if cfg.train_limit is not None else ""
            raise PracError(f"{raw.source}: class{'es' * (unseen.size > 1)} {_few(unseen)} of the {name} split "
                            f"{'have' if unseen.size > 1 else 'has'} no sample in the training split{limit}; "
                            "use a larger dataset.train_limit (or none), a smaller dataset.val_size, or give every "
                            "class at least two samples")


def _check_classes(raw: Raw, cfg: DatasetConfig, y_train: np.ndarray) -> int:
    """Refuse labels a classifier cannot learn from, or a split that starves a class; the
    number of validation samples."""
    src = raw.source
    present, counts = np.unique(y_train, return_counts=True)
    if len(present) < 2:  # nothing to classify: every sample is learned at once, the PrAC set would be empty
        raise PracError(f"{src}: y_train holds a single class (label {present[0]}), and a classifier needs at least "
                        "two; give training samples of two or more classes")
    n_val = val_count(cfg.val_size, len(y_train))
    n_train = len(y_train) - n_val
    # one training sample per class at least (so >= 2), or a class has nothing to be learned from;
    # a class with a single sample may go to validation alone (a stratified split needs two)
    need = max(2, int((counts >= 2).sum()))
    if n_train < need:
        raise PracError(f"dataset.val_size={cfg.val_size:g} leaves {n_train} training sample{'s' * (n_train > 1)} "
                        f"of {len(y_train)}, and the training split needs at least {need} (one per class); "
                        + (f"use a smaller dataset.val_size, e.g. {len(y_train) - need} (a count)" if len(y_train) > need
                           else "give more training samples"))
    return n_val


def _regression_targets(raw: Raw) -> tuple[np.ndarray, np.ndarray, int]:
    """Both splits' targets as float32 N×k, checked, and k (the network's outputs)."""
    src = raw.source
    y_train, y_test = as_targets(raw.y_train, src, "y_train"), as_targets(raw.y_test, src, "y_test")
    if y_train.shape[1] != y_test.shape[1]:
        raise PracError(f"{src}: y_train has {y_train.shape[1]} outputs per sample but y_test {y_test.shape[1]}; "
                        "give both splits the same number of targets")
    return y_train, y_test, y_train.shape[1]


def _ids(raw: Raw) -> bool:
    """Whether the inputs stay integers (int64, unstandardised): any integer dtype but uint8
    pixels, or any integer dtype when standardisation is off."""
    kinds = {"f" if x.dtype.kind in "fb" else "u8" if x.dtype == np.uint8 else "i" for x in (raw.x_train, raw.x_test)}
    if len(kinds) > 1:
        raise PracError(f"{raw.source}: x_train has dtype {raw.x_train.dtype} but x_test {raw.x_test.dtype}; give both "
                        "splits the same kind of input (floats, uint8 pixels, or integer ids)")
    kind = kinds.pop()
    if kind != "f" and (kind == "i" or not raw.standardise):
        for name, x in (("x_train", raw.x_train), ("x_test", raw.x_test)):
            if x.dtype == np.uint64 and x.size and x.max() > np.iinfo(np.int64).max:
                raise PracError(f"{raw.source}: {name} holds integers beyond int64; store ids that fit int64")
        return True
    return False


def _inputs(raw: Raw, train_idx: np.ndarray, val_idx: np.ndarray):
    """The three splits' inputs as tensors, with the standardisation applied (None: none)."""
    if _ids(raw):
        xs = [raw.x_train[train_idx], raw.x_train[val_idx], raw.x_test]
        return [torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64)) for x in xs], None, None
    # fancy indexing copies train and val; the test array may be the loader's (read-only) buffer
    xs = [raw.x_train[train_idx], raw.x_train[val_idx], np.array(raw.x_test, dtype=np.float32)]
    if raw.standardise:
        return _normalise(xs)
    return [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for x in xs], None, None


def finish(raw: Raw, cfg: DatasetConfig) -> Dataset:
    """Validate ``raw``, hold out validation with ``cfg.split_seed``, apply train_limit, the
    imbalance and the label noise, normalise."""
    src = raw.source
    for name, x, y in (("x_train", raw.x_train, raw.y_train), ("x_test", raw.x_test, raw.y_test)):
        _check_x(x, src, name)
        yname = "y" + name[1:]
        if len(x) != len(y):
            raise PracError(f"{src}: {name} has {len(x)} samples but {yname} has {len(y)}; make them the same length")
    if raw.x_train.shape[1:] != raw.x_test.shape[1:]:
        raise PracError(f"{src}: train samples have shape {raw.x_train.shape[1:]} but test samples "
                        f"{raw.x_test.shape[1:]}; give both splits the same sample shape")
    if raw.regression:
        for key, value, off in (("label_noise", cfg.label_noise, 0.0), ("imbalance", cfg.imbalance, 1.0)):
            if value != off:
                raise PracError(f"dataset.{key}={value:g} needs class labels, and {src} holds float regression "
                                f"targets; leave dataset.{key} at {off:g}, or pass integer class labels")
        y_train, y_test, num_classes = _regression_targets(raw)
        n_val = val_count(cfg.val_size, len(y_train))
        train_idx, val_idx = split_indices(y_train, n_val, cfg.split_seed, stratify=False)
    else:
        y_train, y_test, num_classes = _class_labels(raw)
        n_val = _check_classes(raw, cfg, y_train)
        train_idx, val_idx = split_indices(y_train, n_val, cfg.split_seed)
    if cfg.train_limit is not None:
        train_idx = train_idx[: cfg.train_limit]  # first N of the seeded shuffle: a random subset
    y_tr, y_va, noisy = y_train[train_idx], y_train[val_idx], None
    if not raw.regression:
        train_idx = transforms.imbalance(train_idx, y_train, num_classes, cfg.imbalance, cfg.split_seed)
        y_tr = y_train[train_idx]
        _check_present(raw, cfg, y_tr, y_va, y_test)
        if cfg.label_noise > 0:
            y_tr, y_va, flipped = transforms.label_noise(y_tr, y_va, cfg.label_noise, cfg.split_seed)
            noisy = torch.from_numpy(flipped)
    (x_tr, x_va, x_te), mean, std = _inputs(raw, train_idx, val_idx)
    tensors = {"x_train": x_tr, "y_train": torch.from_numpy(np.ascontiguousarray(y_tr)),
               "x_val": x_va, "y_val": torch.from_numpy(np.ascontiguousarray(y_va)),
               "x_test": x_te, "y_test": torch.from_numpy(np.ascontiguousarray(y_test))}
    kind = raw.kind or cfg.kind
    # uint8 images: the device may hold them as pixels and normalise per batch (Dataset.as_pixels)
    pixels = mean is not None and raw.x_train.ndim == 4 and raw.x_train.dtype == np.uint8 \
        and raw.x_test.dtype == np.uint8
    return Dataset(kind=kind, num_classes=num_classes, fingerprint=fingerprint(kind, cfg, num_classes, tensors),
                   mean=mean, std=std, pixels=bool(pixels), noisy=noisy, **tensors)
