"""dataset.label_noise and dataset.imbalance: seeded, in the data's identity, test split clean."""

import numpy as np
import pytest
import torch

from prac.config.load import load_config
from prac.config.schema import DatasetConfig
from prac.data import load_dataset
from prac.data.transforms import flip_labels
from prac.errors import PracError
from prac.setup import arrays_dataset


@pytest.fixture(scope="module")
def clean():
    return load_dataset(DatasetConfig())


def test_label_noise_flips_that_fraction_of_train_and_validation_labels_only(clean):
    cfg = DatasetConfig(label_noise=0.2)
    noisy = load_dataset(cfg)
    assert clean.noisy is None
    assert torch.equal(noisy.x_train, clean.x_train) and torch.equal(noisy.x_val, clean.x_val)  # same split
    flipped = noisy.y_train != clean.y_train
    assert noisy.noisy.dtype == torch.bool and torch.equal(noisy.noisy, flipped)  # recorded, and only those
    assert int(flipped.sum()) == round(0.2 * clean.train_size)
    assert int((noisy.y_val != clean.y_val).sum()) == round(0.2 * len(clean.y_val))
    assert torch.equal(noisy.y_test, clean.y_test)  # the test split stays clean
    assert noisy.fingerprint != clean.fingerprint
    again = load_dataset(cfg)  # seeded by split_seed: the same flips
    assert torch.equal(again.y_train, noisy.y_train) and again.fingerprint == noisy.fingerprint
    other = load_dataset(DatasetConfig(label_noise=0.2, split_seed=1))
    assert other.fingerprint != noisy.fingerprint


def test_a_flipped_label_moves_uniformly_to_one_of_the_other_classes():
    y = np.repeat(np.arange(4), 3000)
    out, flipped = flip_labels(y, 0.5, np.arange(4), np.random.default_rng(0))
    assert flipped.sum() == 6000 and (out[flipped] != y[flipped]).all() and (out[~flipped] == y[~flipped]).all()
    pairs = np.zeros((4, 4))
    np.add.at(pairs, (y[flipped], out[flipped]), 1)
    rates = pairs / pairs.sum(1, keepdims=True)
    off = rates[~np.eye(4, dtype=bool)]
    assert np.allclose(off, 1 / 3, atol=0.05)  # each of the K-1 other classes a third of the time


def test_imbalance_makes_a_long_tailed_training_split(clean):
    cfg = DatasetConfig(imbalance=10)
    tail = load_dataset(cfg)
    before, after = clean.class_counts(), tail.class_counts()
    want = [max(1, round(n * 10 ** (-c / 9))) for c, n in enumerate(before)]
    assert after == want and after[0] == before[0] and after[9] == round(before[9] / 10)
    assert torch.equal(tail.y_val, clean.y_val) and torch.equal(tail.y_test, clean.y_test)
    # the kept samples are samples of the clean training split, with their own labels
    def pixels(ds):
        shape = (1, -1, 1, 1)
        return torch.round(ds.x_train * ds.std.view(shape) + ds.mean.view(shape)).flatten(1)

    rows = {tuple(r.tolist()): int(y) for r, y in zip(pixels(clean), clean.y_train)}
    assert all(rows[tuple(r.tolist())] == int(y) for r, y in zip(pixels(tail), tail.y_train))
    assert tail.fingerprint != clean.fingerprint and load_dataset(cfg).fingerprint == tail.fingerprint


def test_imbalance_and_label_noise_together_mark_the_final_training_split():
    ds = load_dataset(DatasetConfig(imbalance=5, label_noise=0.1, train_limit=500))
    assert ds.noisy.shape == (ds.train_size,) and int(ds.noisy.sum()) == round(0.1 * ds.train_size)


@pytest.mark.parametrize("key, value, message", [
    ("label_noise", 1.0, r"dataset.label_noise=1.0 is out of range; use a fraction in \[0, 1\)"),
    ("label_noise", -0.1, r"dataset.label_noise=-0.1 is out of range"),
    ("imbalance", 0.5, r"dataset.imbalance=0.5 is out of range; use a ratio >= 1"),
])
def test_out_of_range_values_are_refused_in_one_line(key, value, message):
    with pytest.raises(PracError, match=message):
        load_config(None, [f"dataset.{key}={value}"])


@pytest.mark.parametrize("key, value", [("label_noise", 0.1), ("imbalance", 4.0)])
def test_regression_targets_refuse_label_transforms(key, value):
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 3)), rng.random(40)
    with pytest.raises(PracError, match=f"dataset.{key}={value:g} needs class labels, and the arrays given to prac "
                                        "holds float regression targets"):
        arrays_dataset(DatasetConfig(**{key: value}), x, y, x[:5], y[:5])
