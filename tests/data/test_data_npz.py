import numpy as np
import pytest
import torch
from datafiles import denormalise

from prac.config.schema import DatasetConfig
from prac.data import load_dataset
from prac.errors import PracError


def _save(path, **arrays):
    np.savez(path, **arrays)
    return DatasetConfig(kind="npz", path=str(path), val_size=0.2)


def _labels(n, k=4):
    return np.arange(n) % k


def test_grey_images_nhw(tmp_path):
    rng = np.random.default_rng(0)
    x_test = rng.integers(0, 256, (10, 6, 5), dtype=np.uint8)
    cfg = _save(tmp_path / "d.npz", x_train=rng.integers(0, 256, (40, 6, 5), dtype=np.uint8), y_train=_labels(40),
                x_test=x_test, y_test=_labels(10))
    ds = load_dataset(cfg)
    assert ds.input_shape == (1, 6, 5) and ds.num_classes == 4 and ds.kind == "npz"
    assert (ds.train_size, len(ds.y_val)) == (32, 8)
    assert torch.allclose(denormalise(ds, ds.x_test)[:, 0], torch.from_numpy(x_test).float(), atol=1e-3)


def test_channels_last_images(tmp_path):
    rng = np.random.default_rng(1)
    x_train = rng.normal(size=(40, 4, 4, 3)).astype(np.float32)
    x_train[..., 2] += 10  # channel 2 has its own mean: per-channel normalisation must remove it
    x_test = rng.normal(size=(8, 4, 4, 3)).astype(np.float32)
    ds = load_dataset(_save(tmp_path / "d.npz", x_train=x_train, y_train=_labels(40), x_test=x_test,
                            y_test=_labels(8)))
    assert ds.input_shape == (3, 4, 4)
    assert torch.allclose(ds.x_train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(ds.x_train.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)
    want = torch.from_numpy(x_test).permute(0, 3, 1, 2)
    assert torch.allclose(denormalise(ds, ds.x_test), want, atol=1e-4)


def test_flat_features_standardised_per_feature(tmp_path):
    rng = np.random.default_rng(2)
    x_train = rng.normal(size=(50, 3)) * [1, 100, 0] + [0, 5, 7]  # third feature constant
    ds = load_dataset(_save(tmp_path / "d.npz", x_train=x_train, y_train=_labels(50, 3),
                            x_test=x_train[:5], y_test=_labels(5, 3)))
    assert ds.input_shape == (3,) and ds.num_classes == 3
    assert torch.allclose(ds.x_train.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(ds.x_train.std(0, unbiased=False), torch.tensor([1.0, 1.0, 0.0]), atol=1e-4)
    assert not torch.isnan(ds.x_test).any()


def test_test_labels_must_be_classes_of_the_training_data(tmp_path):
    x = np.zeros((20, 2))
    # test labels 5-7 against training labels 0-2: a model would be scored on classes it never saw
    cfg = _save(tmp_path / "d.npz", x_train=x, y_train=_labels(20, 3), x_test=x[:6], y_test=_labels(6, 3) + 5)
    with pytest.raises(PracError, match=r"y_test has labels 5, 6, 7 that y_train never has \(y_train: 0, 1, 2\)"):
        load_dataset(cfg)


def test_labels_must_be_consecutive_class_indices(tmp_path):
    x = np.zeros((30, 2))
    y = _labels(30, 3) * 1000   # 0, 1000, 2000: 2001 outputs, 1998 of them never used
    cfg = _save(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:6], y_test=y[:6])
    with pytest.raises(PracError, match=r"labels must be consecutive class indices 0..K-1, but y_train has 3 distinct "
                                        r"labels from 0 to 2000; .*np.unique\(y, return_inverse=True\)"):
        load_dataset(cfg)


def test_validation_labels_must_be_in_the_training_split(tmp_path):
    # class 3 has one sample: the split holds it out in validation, where nothing trained on it
    y = np.array([0, 1, 2] * 10 + [3])
    x = np.arange(len(y), dtype=np.float32)[:, None]
    cfg = _save(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:3], y_test=y[:3])
    for seed in range(20):   # a seed whose split puts the single sample of class 3 in validation
        try:
            load_dataset(DatasetConfig(kind="npz", path=cfg.path, val_size=0.5, split_seed=seed))
        except PracError as e:
            assert "class 3 of the validation split has no sample in the training split" in str(e)
            assert "give every class at least two samples" in str(e)
            break
    else:
        pytest.fail("no split put class 3 in validation")


def test_mismatched_lengths(tmp_path):
    cfg = _save(tmp_path / "f.npz", x_train=np.zeros((100, 4)), y_train=_labels(99), x_test=np.zeros((5, 4)),
                y_test=_labels(5))
    with pytest.raises(PracError, match="x_train has 100 samples but y_train has 99; make them the same length"):
        load_dataset(cfg)


@pytest.mark.parametrize("bad, shown", [(-1, "-1"), (1.5, "1.5")])
def test_labels_out_of_range(tmp_path, bad, shown):
    y = _labels(20).astype(type(bad))
    y[3] = bad
    cfg = _save(tmp_path / "f.npz", x_train=np.zeros((20, 4)), y_train=y, x_test=np.zeros((5, 4)), y_test=_labels(5))
    with pytest.raises(PracError, match=rf"labels must be integers >= 0 \(found {shown} in y_train\)"):
        load_dataset(cfg)


def test_string_labels(tmp_path):
    cfg = _save(tmp_path / "f.npz", x_train=np.zeros((20, 4)), y_train=np.array(["a"] * 20), x_test=np.zeros((5, 4)),
                y_test=_labels(5))
    with pytest.raises(PracError, match="labels must be integers"):
        load_dataset(cfg)


def test_missing_key(tmp_path):
    cfg = _save(tmp_path / "f.npz", x_train=np.zeros((20, 4)), y_train=_labels(20), x_test=np.zeros((5, 4)))
    with pytest.raises(PracError, match="missing y_test"):
        load_dataset(cfg)


def test_pickled_object_array_is_refused(tmp_path):
    obj = np.empty(20, dtype=object)
    cfg = _save(tmp_path / "f.npz", x_train=np.zeros((20, 4)), y_train=obj, x_test=np.zeros((5, 4)), y_test=_labels(5))
    with pytest.raises(PracError, match="cannot be read"):
        load_dataset(cfg)


def test_bad_shapes_and_files(tmp_path):
    cfg = _save(tmp_path / "a.npz", x_train=np.zeros((20, 4)), y_train=_labels(20), x_test=np.zeros((5, 3)),
                y_test=_labels(5))
    with pytest.raises(PracError, match="same sample shape"):
        load_dataset(cfg)
    cfg = _save(tmp_path / "b.npz", x_train=np.full((20, 4), np.nan), y_train=_labels(20), x_test=np.zeros((5, 4)),
                y_test=_labels(5))
    with pytest.raises(PracError, match="NaN"):
        load_dataset(cfg)
    (tmp_path / "c.npz").write_bytes(b"not a zip")
    with pytest.raises(PracError, match="cannot be read"):
        load_dataset(DatasetConfig(kind="npz", path=str(tmp_path / "c.npz")))
    with pytest.raises(PracError, match="does not exist"):
        load_dataset(DatasetConfig(kind="npz", path=str(tmp_path / "none.npz")))
    with pytest.raises(PracError, match="set dataset.path"):
        load_dataset(DatasetConfig(kind="npz"))


def test_single_class_is_named_as_such(tmp_path):
    """One class is not 'an empty PrAC set' after a whole dense run: the data are refused first."""
    rng = np.random.default_rng(0)
    cfg = _save(tmp_path / "d.npz", x_train=rng.random((50, 6)), y_train=np.zeros(50, int),
                x_test=rng.random((20, 6)), y_test=np.zeros(20, int))
    with pytest.raises(PracError, match=r"y_train holds a single class \(label 0\), and a classifier needs at least two; "
                                        "give training samples of two or more classes"):
        load_dataset(cfg)
    # two classes in the training split are enough, whatever the test split holds
    cfg = _save(tmp_path / "d.npz", x_train=rng.random((50, 6)), y_train=np.arange(50) % 2,
                x_test=rng.random((20, 6)), y_test=np.zeros(20, int))
    assert load_dataset(cfg).train_size == 40


@pytest.mark.parametrize("val_size,left", [(47, 3), (49, 1), (0.95, 2)])
def test_training_split_needs_a_sample_per_class(tmp_path, val_size, left):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.random((50, 6)), y_train=_labels(50), x_test=rng.random((20, 6)), y_test=_labels(20))
    np.savez(tmp_path / "d.npz", **arrays)
    cfg = DatasetConfig(kind="npz", path=str(tmp_path / "d.npz"), val_size=val_size)
    with pytest.raises(PracError, match=f"leaves {left} training samples? of 50, and the training split needs at "
                                        r"least 4 \(one per class\); use a smaller dataset.val_size"):
        load_dataset(cfg)
    ok = DatasetConfig(kind="npz", path=str(tmp_path / "d.npz"), val_size=46)  # 4 left: one per class
    assert load_dataset(ok).train_size == 4
