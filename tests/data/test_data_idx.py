from pathlib import Path

import numpy as np
import pytest
import torch
from datafiles import denormalise, idx_bytes, write_idx, write_mnist_dir

from prac.config.schema import DatasetConfig
from prac.data import load_dataset
from prac.data.idx import read_idx
from prac.errors import PracError

FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, gz):
    arrays = {"u8": np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
              "i32": np.array([-5, 0, 70000], dtype=np.int32),
              "f64": np.linspace(-1, 1, 6).reshape(3, 2)}
    for name, arr in arrays.items():
        path = write_idx(tmp_path / name, arr, gz=gz)
        back = read_idx(path)
        assert back.dtype == arr.dtype.newbyteorder("=") and back.shape == arr.shape
        np.testing.assert_array_equal(back, arr)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_directory_round_trip(tmp_path, gz):
    raw = write_mnist_dir(tmp_path, gz=gz)
    ds = load_dataset(DatasetConfig(kind="mnist", path=str(tmp_path), val_size=0.25))
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10
    assert (ds.train_size, len(ds.y_val), len(ds.y_test)) == (30, 10, 20)
    # the test split keeps its file order; pixels survive normalisation
    assert torch.equal(ds.y_test, torch.from_numpy(raw["t10k-labels-idx1-ubyte"].astype(np.int64)))
    back = denormalise(ds, ds.x_test)[:, 0]
    assert torch.allclose(back, torch.from_numpy(raw["t10k-images-idx3-ubyte"]).float(), atol=1e-3)
    # train + val are exactly the training file, split without overlap
    got = torch.cat([denormalise(ds, ds.x_train), denormalise(ds, ds.x_val)])[:, 0].round().to(torch.uint8)
    want = torch.from_numpy(raw["train-images-idx3-ubyte"])
    assert sorted(map(bytes, got.numpy())) == sorted(map(bytes, want.numpy()))


def test_truncated_file_names_the_file(tmp_path):
    write_mnist_dir(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(PracError, match=r"train-images-idx3-ubyte is truncated \(expected 31376 bytes, found 1000\)"):
        load_dataset(DatasetConfig(kind="mnist", path=str(tmp_path)))


def test_truncated_gzip_is_a_prac_error(tmp_path):
    write_mnist_dir(tmp_path, gz=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(PracError, match="t10k-images-idx3-ubyte.gz"):
        load_dataset(DatasetConfig(kind="mnist", path=str(tmp_path)))


def test_wrong_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x1f\x8b" + idx_bytes(np.zeros(4, np.uint8))[2:])
    with pytest.raises(PracError, match="bad magic number"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x42\x01" + b"\x00" * 8)
    with pytest.raises(PracError, match="unknown data-type code 0x42"):
        read_idx(path)


def test_trailing_bytes(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8)) + b"xx")
    with pytest.raises(PracError, match="has trailing bytes"):
        read_idx(path)


def test_count_mismatch(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(39, np.uint8))
    with pytest.raises(PracError, match="40 images but 39 labels"):
        load_dataset(DatasetConfig(kind="mnist", path=str(tmp_path)))


def test_swapped_files(tmp_path):
    write_mnist_dir(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros(20, np.uint8)))
    with pytest.raises(PracError, match="not N×H×W uint8 images"):
        load_dataset(DatasetConfig(kind="mnist", path=str(tmp_path)))


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(PracError, match=r"dataset directory .*nowhere does not exist; .*dataset.path"):
        load_dataset(DatasetConfig(kind="fashion_mnist", path=str(tmp_path / "nowhere")))
    with pytest.raises(PracError, match="has no train-images-idx3-ubyte"):
        load_dataset(DatasetConfig(kind="fashion_mnist", path=str(tmp_path)))
    # mnist with no dataset.path goes to its hub copy: tests/data/test_data_hf.py (no network)


@pytest.mark.skipif(not FMNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_installed_fashion_mnist():
    ds = load_dataset(DatasetConfig(kind="fashion_mnist"))
    assert (ds.train_size, len(ds.y_val), len(ds.y_test)) == (54000, 6000, 10000)
    assert ds.input_shape == (1, 28, 28) and ds.class_counts() == [5400] * 10  # stratified val split
    assert torch.bincount(ds.y_test).tolist() == [1000] * 10
    assert abs(float(ds.x_train.mean())) < 1e-4 and abs(float(ds.x_train.std()) - 1) < 1e-3
