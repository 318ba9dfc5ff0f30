import os
import pickle

import numpy as np
import pytest
import torch
from datafiles import denormalise

from prac.config.schema import DatasetConfig
from prac.data import load_dataset, safe_pickle
from prac.errors import PracError

PER_BATCH = 20


def _images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def _write_py(path, data, labels, key=b"labels", protocol=2):
    with open(path, "wb") as f:  # bytes keys, as the Python 2 originals have
        pickle.dump({b"batch_label": b"tiny", b"data": data, key: list(map(int, labels))}, f, protocol=protocol)


def _cifar10_py(folder):
    folder.mkdir()
    for i in range(1, 6):
        _write_py(folder / f"data_batch_{i}", _images(PER_BATCH, i), np.arange(PER_BATCH) % 10, protocol=2 + i % 4)
    test = _images(PER_BATCH, 0)
    _write_py(folder / "test_batch", test, np.arange(PER_BATCH) % 10)
    return test


def test_cifar10_python_batches(tmp_path):
    test = _cifar10_py(tmp_path / "cifar-10-batches-py")
    ds = load_dataset(DatasetConfig(kind="cifar10", path=str(tmp_path), val_size=20))  # parent folder works
    assert ds.input_shape == (3, 32, 32) and ds.num_classes == 10
    assert (ds.train_size, len(ds.y_val), len(ds.y_test)) == (80, 20, 20)
    want = torch.from_numpy(test).reshape(-1, 3, 32, 32).float()  # R plane, G plane, B plane
    assert torch.allclose(denormalise(ds, ds.x_test), want, atol=1e-3)
    assert ds.class_counts() == [8] * 10


def test_cifar100_python_batches(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    _write_py(folder / "train", _images(200, 1), np.arange(200) % 100, key=b"fine_labels", protocol=4)
    _write_py(folder / "test", _images(30, 2), np.arange(30) * 3, key=b"fine_labels", protocol=5)
    ds = load_dataset(DatasetConfig(kind="cifar100", path=str(folder), val_size=0.5))
    assert ds.num_classes == 100 and ds.train_size == 100 and ds.y_test.tolist() == list(range(0, 90, 3))


def test_cifar_binary_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for name, seed in [(f"data_batch_{i}", i) for i in range(1, 6)] + [("test_batch", 0)]:
        labels = (np.arange(PER_BATCH) % 10).astype(np.uint8)
        records = np.concatenate([labels[:, None], _images(PER_BATCH, seed)], axis=1)
        records.tofile(folder / f"{name}.bin")
    ds = load_dataset(DatasetConfig(kind="cifar10", path=str(tmp_path), val_size=0.2))
    assert ds.train_size == 80 and ds.y_test.tolist() == list(np.arange(PER_BATCH) % 10)
    want = torch.from_numpy(_images(PER_BATCH, 0)).reshape(-1, 3, 32, 32).float()
    assert torch.allclose(denormalise(ds, ds.x_test), want, atol=1e-3)


def test_cifar100_binary_uses_fine_label(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    for name, n in (("train", 100), ("test", 10)):   # 20 fine classes of 5 training samples each
        coarse, fine = np.zeros(n, np.uint8), (np.arange(n) % 20).astype(np.uint8)
        np.concatenate([coarse[:, None], fine[:, None], _images(n, n)], axis=1).tofile(folder / f"{name}.bin")
    ds = load_dataset(DatasetConfig(kind="cifar100", path=str(folder), val_size=10))
    assert ds.y_test.tolist() == list(range(10)) and ds.num_classes == 100


def test_truncated_binary_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        np.zeros(3073 * 2, np.uint8).tofile(folder / f"{name}.bin")
    (folder / "data_batch_3.bin").write_bytes(b"\0" * 5000)
    with pytest.raises(PracError, match="data_batch_3.bin is truncated"):
        load_dataset(DatasetConfig(kind="cifar10", path=str(folder)))


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _cifar10_py(folder)
    marker = tmp_path / "pwned"
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({b"data": _Evil(marker), b"labels": []}, f)
    with pytest.raises(PracError, match=r"data_batch_2 is not a CIFAR batch: it asks to load (posix|os|nt)\.system"):
        load_dataset(DatasetConfig(kind="cifar10", path=str(folder)))
    assert not marker.exists()
    # the payload is real: the file does name os.system (not run here, on purpose)
    assert b"system" in (folder / "data_batch_2").read_bytes()


def test_safe_pickle_refuses_builtins_eval(tmp_path):
    path = tmp_path / "evil"
    path.write_bytes(pickle.dumps({"x": len}))  # a global reference to builtins.len
    with pytest.raises(PracError, match=r"builtins\.len"):
        safe_pickle.load(path)
    path.write_bytes(b"garbage")
    with pytest.raises(PracError, match="not a readable CIFAR batch"):
        safe_pickle.load(path)


def test_wrong_content_and_missing_files(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _cifar10_py(folder)
    _write_py(folder / "test_batch", np.zeros((3, 10), np.uint8), [0, 1, 2])
    with pytest.raises(PracError, match="test_batch is not a CIFAR batch"):
        load_dataset(DatasetConfig(kind="cifar10", path=str(folder)))
    (folder / "data_batch_4").unlink()
    with pytest.raises(PracError, match="has no data_batch_4"):
        load_dataset(DatasetConfig(kind="cifar10", path=str(folder)))
    with pytest.raises(PracError, match="holds no cifar100 batches"):
        load_dataset(DatasetConfig(kind="cifar100", path=str(tmp_path)))
    with pytest.raises(PracError, match="does not exist"):
        load_dataset(DatasetConfig(kind="cifar10", path=str(tmp_path / "nowhere")))
