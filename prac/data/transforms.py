"""Seeded transforms of a split's labels, for studying selection under harder data:
``imbalance`` (a long-tailed training split) and ``label_noise`` (symmetric label flips).

Both run in ``prepare.finish`` after the validation split and train_limit, so every
dataset kind gets them, and both change the final tensors, hence the data fingerprint.
Their draws use their own streams seeded by ``dataset.split_seed``: the same config gives
the same samples kept and the same labels flipped.
"""

from __future__ import annotations

import numpy as np

_IMBALANCE_STREAM, _NOISE_STREAM = 1, 2


def imbalance(train_idx: np.ndarray, y: np.ndarray, num_classes: int, ratio: float, seed: int) -> np.ndarray:
    """The positions of ``train_idx`` (indices into ``y``) a long-tailed split keeps: class c
    keeps round(n_c * ratio^(-c/(K-1))) of its n_c samples, at least one, drawn at random;
    the kept ones stay in ``train_idx``'s order. ``ratio`` 1 keeps everything."""
    if ratio == 1 or num_classes < 2:
        return train_idx
    rng = np.random.default_rng([seed, _IMBALANCE_STREAM])
    labels = y[train_idx]
    keep = np.zeros(len(train_idx), dtype=bool)
    for c in range(num_classes):
        where = np.flatnonzero(labels == c)
        if where.size == 0:
            continue
        n = max(1, int(round(where.size * ratio ** (-c / (num_classes - 1)))))
        keep[rng.choice(where, size=n, replace=False)] = True
    return train_idx[keep]


def flip_labels(y: np.ndarray, fraction: float, classes: np.ndarray, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """(labels, flipped): round(fraction * N) of ``y``'s labels, drawn at random, moved to
    another of ``classes`` (uniformly among the other ones); a bool mask of those flipped."""
    y = y.copy()
    flipped = np.zeros(len(y), dtype=bool)
    m = int(round(fraction * len(y)))
    if m == 0 or len(classes) < 2:
        return y, flipped
    at = rng.choice(len(y), size=m, replace=False)
    pos = np.searchsorted(classes, y[at])  # every label is one of ``classes``
    shift = rng.integers(1, len(classes), size=m)  # 1..P-1: never the label itself
    y[at] = classes[(pos + shift) % len(classes)]
    flipped[at] = True
    return y, flipped


def label_noise(y_train: np.ndarray, y_val: np.ndarray, fraction: float, seed: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y_train, y_val, flipped_train): ``fraction`` of the training and of the validation
    labels flipped to another class of the training split; the test split stays clean."""
    rng = np.random.default_rng([seed, _NOISE_STREAM])
    classes = np.unique(y_train)
    y_train, noisy = flip_labels(y_train, fraction, classes, rng)
    y_val, _ = flip_labels(y_val, fraction, classes, rng)
    return y_train, y_val, noisy
