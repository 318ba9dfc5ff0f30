"""Inputs as given (issue 30): integer ids stay integers; ``preprocess=`` of the Python API."""

import numpy as np
import pytest
import torch
from torch import nn

import prac
from prac.config.schema import DatasetConfig
from prac.data import load_dataset
from prac.errors import PracError
from prac.setup import arrays_dataset

VOCAB, LENGTH = 40, 6


def _tokens(n: int, seed: int = 0):
    """Sequences of token ids; the class is whether token 1 occurs (an Embedding's task)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(2, VOCAB, (n, LENGTH))
    y = rng.integers(0, 2, n)
    x[y == 1, rng.integers(0, LENGTH, int(y.sum()))] = 1
    return x, y


class Bag(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16)
        self.hidden = nn.Linear(16, 16)
        self.out = nn.Linear(16, 2)

    def forward(self, x):
        assert not x.is_floating_point(), "token ids reached the model as floats"
        return self.out(torch.relu(self.hidden(self.emb(x).mean(1))))


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64])
def test_integer_arrays_stay_integer_ids(dtype):
    x, y = _tokens(100)
    x = x.astype(dtype)
    ds = arrays_dataset(DatasetConfig(val_size=10), x, y, x[:20], y[:20])
    assert ds.x_train.dtype == torch.int64 and ds.mean is None and ds.std is None and not ds.pixels
    assert torch.equal(ds.x_test, torch.from_numpy(x[:20].astype(np.int64)))   # the ids as given
    rows = {tuple(r) for r in x.tolist()}
    assert all(tuple(r) in rows for r in ds.x_train.tolist())


def test_an_npz_of_integer_ids_loads_as_ids_and_uint8_images_as_standardised_floats(tmp_path):
    x, y = _tokens(60)
    np.savez(tmp_path / "ids.npz", x_train=x.astype(np.int32), y_train=y, x_test=x[:10].astype(np.int32),
             y_test=y[:10])
    ds = load_dataset(DatasetConfig(kind="npz", path=str(tmp_path / "ids.npz"), val_size=6))
    assert ds.x_train.dtype == torch.int64 and ds.mean is None
    assert torch.equal(ds.x_test, torch.from_numpy(x[:10]))
    img = np.random.default_rng(0).integers(0, 256, (60, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "img.npz", x_train=img, y_train=y, x_test=img[:10], y_test=y[:10])
    ds = load_dataset(DatasetConfig(kind="npz", path=str(tmp_path / "img.npz"), val_size=6))
    assert ds.x_train.dtype == torch.float32 and ds.pixels and abs(float(ds.x_train.mean())) < 1e-5


def test_preprocess_none_passes_inputs_as_given_and_changes_the_fingerprint():
    rng = np.random.default_rng(1)
    x, y = (rng.random((50, 3)) * 100).astype(np.float64), np.arange(50) % 2
    cfg = DatasetConfig(val_size=10)
    std = arrays_dataset(cfg, x, y, x[:8], y[:8])
    raw = arrays_dataset(cfg, x, y, x[:8], y[:8], preprocess="none")
    assert raw.x_test.dtype == torch.float32 and torch.equal(raw.x_test, torch.from_numpy(x[:8].astype(np.float32)))
    assert raw.mean is None and std.mean is not None and torch.equal(raw.y_train, std.y_train)
    assert raw.fingerprint != std.fingerprint
    img = rng.integers(0, 256, (50, 4, 4), dtype=np.uint8)
    as_given = arrays_dataset(cfg, img, y, img[:8], y[:8], preprocess="none")
    assert as_given.x_test.dtype == torch.int64 and not as_given.pixels
    assert torch.equal(as_given.x_test[:, 0], torch.from_numpy(img[:8].astype(np.int64)))


def test_a_preprocess_function_runs_first_on_each_x_array():
    rng = np.random.default_rng(2)
    x, y = rng.random((50, 4)), np.arange(50) % 2
    seen = []

    def square(a):
        seen.append(a.shape)
        return a ** 2

    cfg = DatasetConfig(val_size=10)
    plain = arrays_dataset(cfg, x, y, x[:8], y[:8])
    done = arrays_dataset(cfg, x, y, x[:8], y[:8], preprocess=square)
    assert seen == [(50, 4), (8, 4)]
    want = arrays_dataset(cfg, x ** 2, y, x[:8] ** 2, y[:8])   # as if the arrays had been squared
    assert torch.equal(done.x_test, want.x_test) and done.fingerprint == want.fingerprint
    assert done.fingerprint != plain.fingerprint
    # a function that turns floats into ids: its ids stay ids
    ids = arrays_dataset(cfg, x, y, x[:8], y[:8], preprocess=lambda a: (a * 10).astype(np.int64))
    assert ids.x_train.dtype == torch.int64 and ids.mean is None


@pytest.mark.parametrize("preprocess, message", [
    ("normalise", "preprocess='normalise' is unknown; use 'standardise', 'none' or a function"),
    (lambda a: "x", "preprocess\\(x_train\\) is a str; pass a torch tensor or a numpy array"),
    (lambda a: a.nope, "preprocess failed on x_train of shape \\(20, 3\\) \\(AttributeError"),
])
def test_a_bad_preprocess_is_one_line(preprocess, message):
    x, y = np.zeros((20, 3)), np.arange(20) % 2
    with pytest.raises(PracError, match=message):
        arrays_dataset(DatasetConfig(val_size=4), x, y, x[:4], y[:4], preprocess=preprocess)


def test_x_splits_of_different_kinds_are_refused():
    x, y = np.zeros((20, 3), dtype=np.int64), np.arange(20) % 2
    with pytest.raises(PracError, match="x_train has dtype int64 but x_test float64; give both splits the same kind"):
        arrays_dataset(DatasetConfig(val_size=4), x, y, x[:4].astype(float), y[:4])


def test_an_embedding_model_trains_on_token_ids_through_the_api(tmp_path):
    x, y = _tokens(240)
    x_test, y_test = _tokens(60, seed=1)
    pset = prac.build_prac(Bag, x, y, x_test, y_test, out=tmp_path, train__epochs=2, prune__rounds=1)
    assert pset.meta["train_size"] == 216
    again = prac.build_prac(Bag, x, y, x_test, y_test, out=tmp_path, train__epochs=2, prune__rounds=1,
                            preprocess=lambda a: a)    # the same ids: the same data, a cache hit
    assert again.key == pset.key
    with pytest.raises(PracError, match="preprocess= applies to arrays given to prac"):
        prac.build_prac(Bag, out=tmp_path, preprocess="none")


def test_integer_ids_for_a_registry_model_are_one_line(tmp_path):
    from prac.config.load import load_config
    from prac.setup import from_config

    x, y = _tokens(60)
    np.savez(tmp_path / "ids.npz", x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
    cfg = load_config(None, ["dataset.kind=npz", f"dataset.path={tmp_path / 'ids.npz'}"])
    with pytest.raises(PracError, match="inputs are integers .* the registry model lenet_300_100 takes floats; store"):
        from_config(cfg)
    with pytest.raises(PracError, match="registry model lenet_300_100 takes floats"):
        prac.build_prac(None, x, y, x[:10], y[:10], out=tmp_path)
