"""Hugging Face loading, on tiny datasets saved to disk by the test (no network)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from datafiles import denormalise

datasets = pytest.importorskip("datasets")
Image = pytest.importorskip("PIL.Image")

from prac.config.schema import DatasetConfig  # noqa: E402
from prac.data import load_dataset  # noqa: E402
from prac.errors import PracError  # noqa: E402


def _pil_split(n, seed, grey_at=None):
    rng = np.random.default_rng(seed)
    arrays = rng.integers(0, 256, (n, 6, 5, 3), dtype=np.uint8)
    images = [Image.fromarray(a) for a in arrays]
    if grey_at is not None:  # tiny-imagenet mixes a few grey images among RGB ones
        arrays[grey_at] = arrays[grey_at, :, :, :1]
        images[grey_at] = Image.fromarray(arrays[grey_at, :, :, 0], mode="L")
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=4)})
    ds = datasets.Dataset.from_dict({"image": images, "label": list(np.arange(n) % 3)}, features=features)
    return ds, arrays


def test_saved_dataset_dict_with_pil_images(tmp_path):
    train, _ = _pil_split(30, 0, grey_at=4)
    valid, valid_arrays = _pil_split(6, 1, grey_at=2)
    datasets.DatasetDict({"train": train, "valid": valid}).save_to_disk(str(tmp_path / "tiny"))
    cfg = DatasetConfig(kind="hf", path=str(tmp_path / "tiny"), val_size=6)
    ds = load_dataset(cfg)
    assert ds.kind == "tiny" and ds.input_shape == (3, 6, 5)
    assert ds.num_classes == 4  # from the ClassLabel feature, although label 3 is never used
    assert (ds.train_size, len(ds.y_val), len(ds.y_test)) == (24, 6, 6)
    want = torch.from_numpy(valid_arrays).permute(0, 3, 1, 2).float()
    assert torch.allclose(denormalise(ds, ds.x_test), want, atol=1e-3)  # grey image widened to 3 equal channels
    assert ds.fingerprint == load_dataset(cfg).fingerprint
    # the same folder through a named kind (e.g. tiny_imagenet / cifar10 saved from the hub)
    assert load_dataset(DatasetConfig(kind="tiny_imagenet", path=str(tmp_path / "tiny"), val_size=6)).kind == "tiny_imagenet"


def test_numeric_feature_columns_and_single_split(tmp_path):
    n = 50
    table = {"a": np.arange(n, dtype=np.float32), "b": np.arange(n) % 7, "note": ["x"] * n, "id": np.arange(n),
             "coarse_label": np.arange(n) % 2, "labels": np.arange(n) % 2}
    datasets.Dataset.from_dict(table).save_to_disk(str(tmp_path / "tab"))
    ds = load_dataset(DatasetConfig(kind="hf", path=str(tmp_path / "tab"), val_size=0.1))
    assert ds.input_shape == (2,) and ds.num_classes == 2  # strings, ids and other labels are not features
    assert len(ds.y_test) == 10 and ds.train_size + len(ds.y_val) == 40  # 20 % held out as test


def test_array_images_channels_first(tmp_path):
    arrays = np.random.default_rng(3).random((12, 3, 4, 4)).astype(np.float32)
    split = datasets.Dataset.from_dict({"pixel_values": arrays.tolist(), "label": [0, 1] * 6})
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "arr"))
    ds = load_dataset(DatasetConfig(kind="cifar10", path=str(tmp_path / "arr"), val_size=2))
    assert ds.input_shape == (3, 4, 4) and ds.num_classes == 10 and ds.kind == "cifar10"
    assert torch.allclose(denormalise(ds, ds.x_test), torch.from_numpy(arrays), atol=1e-5)


def test_integer_pixel_values_are_an_image_not_token_ids(tmp_path):
    arrays = np.random.default_rng(4).integers(0, 256, (12, 3, 4, 4))   # int64 lists in the Arrow table
    split = datasets.Dataset.from_dict({"pixel_values": arrays.tolist(), "label": [0, 1] * 6})
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "arr"))
    ds = load_dataset(DatasetConfig(kind="hf", path=str(tmp_path / "arr"), val_size=2))
    assert ds.x_train.dtype == torch.float32 and ds.pixels
    assert torch.allclose(denormalise(ds, ds.x_test), torch.from_numpy(arrays).float(), atol=1e-3)


def test_missing_label_column(tmp_path):
    split, _ = _pil_split(10, 0)
    split = split.rename_column("label", "target")
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "d"))
    with pytest.raises(PracError, match=r"no label column \(columns: image, target\)"):
        load_dataset(DatasetConfig(kind="hf", path=str(tmp_path / "d")))


def test_missing_split(tmp_path):
    split, _ = _pil_split(10, 0)
    datasets.DatasetDict({"train": split, "holdout": split}).save_to_disk(str(tmp_path / "d"))
    with pytest.raises(PracError, match=r"needs a 'train' split and one of test, valid, validation \(found train, holdout\)"):
        load_dataset(DatasetConfig(kind="hf", path=str(tmp_path / "d")))


def test_images_of_different_sizes(tmp_path):
    images = [Image.fromarray(np.zeros((4, 4), np.uint8)), Image.fromarray(np.zeros((5, 4), np.uint8))] * 5
    split = datasets.Dataset.from_dict({"img": images, "label": [0, 1] * 5})
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "d"))
    with pytest.raises(PracError, match="different sizes"):
        load_dataset(DatasetConfig(kind="hf", path=str(tmp_path / "d")))


def _fake_hub(monkeypatch, calls):
    def hub(path, **kwargs):  # the hub, without the network: a tiny DatasetDict in the named kind's layout
        calls.append((path, kwargs))
        train, _ = _pil_split(30, 0)
        test, _ = _pil_split(6, 1)
        return datasets.DatasetDict({"train": train, "test": test})

    monkeypatch.setattr(datasets, "load_dataset", hub)


def test_hf_needs_a_hub_name_or_saved_folder(tmp_path):
    with pytest.raises(PracError, match=r"dataset.kind=hf needs a source; set dataset.path to a Hugging Face dataset "
                                        r"name \(owner/name\) or to a folder written by save_to_disk"):
        load_dataset(DatasetConfig(kind="hf"))
    with pytest.raises(PracError, match="is not a folder written by save_to_disk"):
        load_dataset(DatasetConfig(kind="hf", path=str(tmp_path)))
    # a path that does not exist and cannot be a hub name is a missing folder, not a download
    with pytest.raises(PracError, match=f"dataset.path {tmp_path / 'nowhere'} does not exist; set it to a folder"):
        load_dataset(DatasetConfig(kind="hf", path=str(tmp_path / "nowhere")))


@pytest.mark.parametrize("name", ["someone/tiny-set", "tiny_set"])
def test_hf_path_that_does_not_exist_is_a_hub_name(tmp_path, monkeypatch, name):
    calls = []
    _fake_hub(monkeypatch, calls)
    monkeypatch.chdir(tmp_path)   # no such folder here
    ds = load_dataset(DatasetConfig(kind="hf", path=name, val_size=6))
    # the hub cache is the datasets library's own (HF_DATASETS_CACHE): prac passes no cache_dir
    assert [(p, "cache_dir" in k) for p, k in calls] == [(name, False)]
    assert ds.kind == name and ds.train_size == 24
    # the same name as a folder on disk is that folder, not the hub
    train, _ = _pil_split(30, 0)
    test, _ = _pil_split(6, 1)
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(name)
    assert load_dataset(DatasetConfig(kind="hf", path=name, val_size=6)).kind == Path(name).name
    assert len(calls) == 1


@pytest.mark.parametrize("kind, name", [("cifar10", "uoft-cs/cifar10"), ("mnist", "ylecun/mnist")])
def test_a_named_kind_not_on_disk_loads_its_hub_copy(tmp_path, monkeypatch, kind, name):
    calls = []
    _fake_hub(monkeypatch, calls)
    ds = load_dataset(DatasetConfig(kind=kind, val_size=6))
    assert [(p, "cache_dir" in k, k.get("trust_remote_code", False)) for p, k in calls] == [(name, False, False)]
    assert ds.kind == kind and ds.train_size == 24 and ds.num_classes == 4   # from its ClassLabel

    def offline(path, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(PracError, match=f"'{name}' cannot be loaded .*set dataset.path to its files on disk"):
        load_dataset(DatasetConfig(kind=kind))
    with pytest.raises(PracError, match="does not exist"):   # a path that is not there is not a download request
        load_dataset(DatasetConfig(kind=kind, path=str(tmp_path / "nowhere")))
