from pathlib import Path

import numpy as np
import pytest
import torch

from prac.config.schema import DatasetConfig
from prac.config.load import load_config
from prac.data import load_dataset, mnist1d

CONFIG = Path(__file__).parent.parent.parent / "configs" / "mnist1d_mlp.yaml"


@pytest.fixture(scope="module")
def raw():
    return mnist1d.load(DatasetConfig(kind="mnist1d"))


def test_same_seed_same_arrays_other_seed_other_arrays():
    x1, y1 = mnist1d.generate(300, seed=7)
    x2, y2 = mnist1d.generate(300, seed=7)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    x3, _ = mnist1d.generate(300, seed=8)
    assert not np.allclose(x1, x3)


def test_shapes_dtypes_and_fixed_split(raw):
    assert raw.x_train.shape == (4000, 40) and raw.x_test.shape == (1000, 40)
    assert raw.x_train.dtype == np.float32 and raw.y_train.dtype == np.int64 and raw.num_classes == 10
    assert np.isfinite(raw.x_train).all() and np.isfinite(raw.x_test).all()
    again = mnist1d.load(DatasetConfig(kind="mnist1d", split_seed=5))  # split_seed does not move the data
    assert np.array_equal(raw.x_train, again.x_train) and np.array_equal(raw.y_test, again.y_test)


def test_every_class_present_and_balanced(raw):
    _, y = mnist1d.generate(5000)
    assert np.bincount(y).tolist() == [500] * 10  # balanced overall, in shuffled order
    assert not np.array_equal(y[:10], np.arange(10)) and len(set(y[:50].tolist())) > 5
    for labels, n in ((raw.y_train, 4000), (raw.y_test, 1000)):
        counts = np.bincount(labels, minlength=10)
        assert counts.tolist() == [n // 10] * 10  # stratified split of the generated set


def test_classes_separable_but_far_from_easy(raw):
    # nearest class mean: clearly above chance (10 %), far below 100 % (noise, shift, dilation)
    means = np.stack([raw.x_train[raw.y_train == c].mean(0) for c in range(10)])
    pred = ((raw.x_test[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    acc = float((pred == raw.y_test).mean())
    assert 0.2 < acc < 0.5, acc
    # the same classifier on shuffled training labels is at chance: the signal is in the labels
    y_perm = np.random.default_rng(0).permutation(raw.y_train)
    means = np.stack([raw.x_train[y_perm == c].mean(0) for c in range(10)])
    pred = ((raw.x_test[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    assert float((pred == raw.y_test).mean()) < 0.16


def test_templates_and_smoothing():
    t = mnist1d.templates()
    assert t.shape == (10, 12) and np.allclose(t[:, 0], 0)
    assert len({tuple(np.round(r, 6)) for r in t}) == 10  # ten distinct shapes
    from scipy.ndimage import gaussian_filter1d  # scipy comes with scikit-learn

    z = np.random.default_rng(0).standard_normal((4, 72))
    assert np.allclose(mnist1d._smooth(z, 2.0), gaussian_filter1d(z, 2.0, axis=1))


def test_standardised_and_noisy_within_class():
    x, y = mnist1d.generate(1000)
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1) < 1e-4
    # two samples of one class are never the same signal
    a = x[y == 3]
    assert np.abs(a[1:] - a[:-1]).max(1).min() > 0.1


def test_load_dataset_with_validation_split():
    ds = load_dataset(DatasetConfig(kind="mnist1d", val_size=0.1))
    assert ds.kind == "mnist1d" and ds.num_classes == 10 and ds.input_shape == (40,)
    assert (ds.train_size, len(ds.y_val), len(ds.y_test)) == (3600, 400, 1000)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert min(ds.class_counts()) >= 300
    other = load_dataset(DatasetConfig(kind="mnist1d", val_size=0.1, split_seed=1))
    assert torch.equal(ds.y_test, other.y_test) and not torch.equal(ds.y_val, other.y_val)
    small = load_dataset(DatasetConfig(kind="mnist1d", train_limit=500))
    assert small.train_size == 500 and small.fingerprint != ds.fingerprint


def test_shipped_config_parses():
    cfg = load_config(CONFIG)
    assert cfg.dataset.kind == "mnist1d" and cfg.model.name == "mlp" and cfg.model.widths == (100, 100)
