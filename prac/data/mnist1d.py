"""MNIST-1D: a procedural, noisy 1-D digits task, generated in memory (no file, no download).

After Greydanus, "Scaling down deep learning" (2020), github.com/greydanus/mnist1d: ten
hand-drawn templates of length 12, one per digit shape. Each sample is its class template,
padded with 36..60 zeros and stretched back to 72 points (a random dilation), scaled by
1 ± 0.2, rolled by 0..47 points, its padding filled with smoothed noise (Gaussian, σ 0.25,
smoothed with a Gaussian kernel of width 2), iid noise (σ 0.02) added everywhere, sheared
by a random linear ramp (rise up to ± 0.375 end to end) and linearly resampled to 40 points.

The data are fixed: generated with numpy's PCG64 from SEED = 42 (the original's seed), so
every user and every run gets the same 4,000 train and 1,000 test samples (the original's
sizes, here stratified: 400 and 100 of each class); ``dataset.split_seed`` moves only the
validation split, ``dataset.path`` is unused. The distribution is the original's, the
numbers are not (different generator and draw order); measured here: logistic regression
35 %, nearest class mean 30 % (the original reports logistic regression ~32 %, MLP ~68 %,
CNN ~94 %), so a small MLP meets many forgetting events.
"""

from __future__ import annotations

import numpy as np

from prac.config.schema import DatasetConfig
from prac.data.prepare import Raw, split_indices

SEED = 42
NUM_TRAIN, NUM_TEST = 4000, 1000
LENGTH = 40  # points per sample (the feature count)
TEMPLATE_LEN = 12
PADDING = (36, 60)  # zeros appended before dilation, inclusive range
SCALE = 0.4  # amplitude factor 1 + SCALE * U(-0.5, 0.5)
MAX_SHIFT = 48  # roll by 0 .. MAX_SHIFT - 1 points
CORR_NOISE, CORR_SIGMA = 0.25, 2.0  # smoothed noise in the padding: std before smoothing, kernel width
IID_NOISE = 0.02
SHEAR = 0.75  # ramp of slope SHEAR * U(-0.5, 0.5) across the signal

# one row per digit 0..9, hand-drawn by Greydanus (the original's values)
_DRAWN = np.array([
    [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
    [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
    [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
    [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
    [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
    [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
    [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
    [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
])


def templates() -> np.ndarray:
    """10×12 templates: standardised per row, shifted to start at 0, scaled by 1/6."""
    x = _DRAWN - _DRAWN.mean(1, keepdims=True)
    x /= x.std(1, keepdims=True)
    return (x - x[:, :1]) / 6.0


def _resample(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Linear interpolation of each row of ``x`` at fractional positions ``pos`` (rows or one row)."""
    lo = np.clip(np.floor(pos).astype(np.int64), 0, x.shape[1] - 2)
    frac = pos - lo
    pos_shape = np.broadcast_shapes(pos.shape, (x.shape[0], 1))
    lo, frac = np.broadcast_to(lo, pos_shape), np.broadcast_to(frac, pos_shape)
    rows = np.arange(x.shape[0])[:, None]
    return (1 - frac) * x[rows, lo] + frac * x[rows, lo + 1]


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along rows, mirrored edges (scipy.ndimage's 'reflect', truncate 4)."""
    r = int(4 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    padded = np.pad(x, ((0, 0), (r, r)), mode="symmetric")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * r + 1, axis=1) @ (k / k.sum())


def generate(num_samples: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """``num_samples`` signals (float32, N×LENGTH, standardised over the whole set) and labels.

    Classes are balanced (num_samples // 10 each, the remainder to the first classes) and
    the order is shuffled. Everything is vectorised over samples.
    """
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(num_samples) % 10)
    n, width = num_samples, TEMPLATE_LEN + PADDING[1]  # 72 points before the final resampling
    pad = rng.integers(PADDING[0], PADDING[1] + 1, size=n)
    scale = 1 + SCALE * (rng.random(n) - 0.5)
    shift = rng.integers(0, MAX_SHIFT, size=n)
    corr = _smooth(CORR_NOISE * rng.standard_normal((n, width)), CORR_SIGMA)
    iid = IID_NOISE * rng.standard_normal((n, width))
    shear = SHEAR * (rng.random(n) - 0.5)

    # pad with zeros, then stretch the padded signal (12 + pad points) onto `width` points
    padded = np.zeros((n, width))
    padded[:, :TEMPLATE_LEN] = templates()[y]
    src = np.arange(width) * ((TEMPLATE_LEN - 1 + pad) / (width - 1))[:, None]
    x = _resample(padded, src) * scale[:, None]
    support = src < TEMPLATE_LEN  # the template and its ramp down to the padding
    # roll right by `shift`: output point j takes input point j - shift
    back = (np.arange(width) - shift[:, None]) % width
    rows = np.arange(n)[:, None]
    x, support = x[rows, back], support[rows, back]
    x = np.where(support, x, corr) + iid
    x -= shear[:, None] * np.linspace(-0.5, 0.5, width)
    x = _resample(x, np.linspace(0, width - 1, LENGTH))
    x = (x - x.mean()) / x.std()
    return x.astype(np.float32), y.astype(np.int64)


def load(cfg: DatasetConfig) -> Raw:
    x, y = generate(NUM_TRAIN + NUM_TEST)
    train, test = split_indices(y, NUM_TEST, SEED)  # stratified: 400 / 100 of every class
    return Raw(x[train], y[train], x[test], y[test], source=f"generated MNIST-1D (seed {SEED})", num_classes=10)
