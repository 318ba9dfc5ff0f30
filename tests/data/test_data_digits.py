import pytest
import torch

from prac.config.schema import DatasetConfig
from prac.data import Dataset, load_dataset
from prac.errors import PracError


def test_shapes_and_split_sizes():
    ds = load_dataset(DatasetConfig(kind="digits"))
    assert isinstance(ds, Dataset) and ds.kind == "digits"
    # 1797 samples: 360 fixed test (ceil of 20 %), 144 val (ceil of 10 % of 1437), 1293 train
    assert ds.x_train.shape == (1293, 1, 8, 8) and ds.input_shape == (1, 8, 8)
    assert (len(ds.y_val), len(ds.y_test), ds.train_size) == (144, 360, 1293)
    assert ds.num_classes == 10
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val), (ds.x_test, ds.y_test)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.is_contiguous() and y.is_contiguous() and x.device.type == "cpu"
        assert int(y.min()) >= 0 and int(y.max()) < 10
    counts = ds.class_counts()
    assert sum(counts) == 1293 and min(counts) >= 120  # stratified: every class well represented


def test_normalised_with_train_statistics():
    ds = load_dataset(DatasetConfig(kind="digits"))
    assert abs(float(ds.x_train.mean())) < 1e-5
    assert abs(float(ds.x_train.std(unbiased=False)) - 1) < 1e-4
    # val/test use the train statistics: raw pixels 0..16 come back exactly
    raw_test = ds.x_test * ds.std + ds.mean
    assert torch.allclose(raw_test, raw_test.round(), atol=1e-4)
    assert float(raw_test.min()) > -1e-4 and float(raw_test.max()) < 16 + 1e-4


def test_deterministic_and_fingerprint():
    a, b = load_dataset(DatasetConfig()), load_dataset(DatasetConfig())
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    int(a.fingerprint, 16)


def test_split_seed_moves_val_but_not_test():
    a = load_dataset(DatasetConfig(split_seed=0))
    b = load_dataset(DatasetConfig(split_seed=1))
    assert a.fingerprint != b.fingerprint
    assert torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_val, b.y_val)
    # test pixels identical up to the (train-dependent) normalisation
    assert torch.allclose(a.x_test * a.std + a.mean, b.x_test * b.std + b.mean, atol=1e-4)


def test_train_limit_takes_first_samples_and_changes_fingerprint():
    full = load_dataset(DatasetConfig())
    small = load_dataset(DatasetConfig(train_limit=100))
    assert small.train_size == 100 and torch.equal(small.y_train, full.y_train[:100])
    assert torch.equal(small.y_val, full.y_val) and small.fingerprint != full.fingerprint
    raw_full, raw_small = full.x_train[:100] * full.std + full.mean, small.x_train * small.std + small.mean
    assert torch.allclose(raw_full, raw_small, atol=1e-4)
    assert abs(float(small.x_train.mean())) < 1e-5  # statistics of the limited split


def test_val_size_as_count():
    ds = load_dataset(DatasetConfig(val_size=300))
    assert len(ds.y_val) == 300 and ds.train_size == 1437 - 300


def test_val_size_leaving_no_training_data():
    with pytest.raises(PracError, match="leaves no training data"):
        load_dataset(DatasetConfig(val_size=1437))


def test_unknown_kind():
    with pytest.raises(PracError, match="unknown"):
        load_dataset(DatasetConfig(kind="imagenet"))
