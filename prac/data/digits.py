"""scikit-learn's bundled digits (1797 8×8 grey images, 10 classes): the offline default.

The data has no official test split, so 20 % is held out here, stratified, with the FIXED
seed 0: the test split must stay the same when ``dataset.split_seed`` moves the validation
split, or test accuracies of different split seeds would not be comparable.
"""

from __future__ import annotations

import math

import numpy as np

from prac.config.schema import DatasetConfig
from prac.data.prepare import Raw, split_indices

TEST_FRACTION = 0.2
TEST_SEED = 0


def load(cfg: DatasetConfig) -> Raw:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    bunch = load_digits()
    x = bunch.images.astype(np.float32)[:, None]  # N×1×8×8, pixel values 0..16
    y = bunch.target.astype(np.int64)
    keep, test = split_indices(y, math.ceil(TEST_FRACTION * len(y)), TEST_SEED)
    return Raw(x[keep], y[keep], x[test], y[test], source="scikit-learn digits", num_classes=10)
