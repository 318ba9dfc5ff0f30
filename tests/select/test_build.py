"""build-prac on a tiny digits run: real training, a real cached set."""

import pytest
import torch

import prac.train.dense as dense_stage
from prac.select.build import build_set, prac_key
from prac.config.load import load_config
from prac.setup import from_config


@pytest.fixture
def built(tmp_path, tiny_overrides):
    cfg = load_config(None, tiny_overrides)
    return cfg, build_set(from_config(cfg), tmp_path), tmp_path


def test_build_writes_the_set_and_its_statistics(built):
    cfg, entry, _ = built
    st, m = entry.stats(), entry.meta
    n = from_config(cfg).data.train_size
    assert m["train_size"] == n == 600 and m["world_size"] == 1
    assert torch.equal(st["presentations"], torch.full((n,), 4, dtype=torch.int32))   # every sample once per epoch
    hard = (st["forgetting_events"] > 0) | st["never_learned"]
    assert torch.equal(st["index"], torch.nonzero(hard | st["prune_flipped"]).flatten())
    assert m["prac_size"] == len(st["index"]) > 0
    c = m["composition"]
    assert c["hard_only"] + c["flipped_only"] + c["both"] == m["prac_size"]
    assert sum(m["prac_class_counts"]) == m["prac_size"] and sum(m["class_counts"]) == n
    assert m["dense"]["steps"] == 4 * 19   # 600 samples / batch 32 -> 19 steps per epoch


def test_second_build_is_a_cache_hit(built, monkeypatch):
    cfg, entry, root = built
    monkeypatch.setattr(dense_stage, "train", lambda *a, **k: pytest.fail("a cache hit must not train"))
    assert build_set(from_config(cfg), root).path == entry.path


@pytest.mark.parametrize("change", ["seed=1", "model.name=mlp", "train.lr=0.002", "train.epochs=5",
                                    "select.threshold=1", "prune.rate=0.3", "dataset.split_seed=1",
                                    "dataset.train_limit=599"])
def test_key_changes_with_every_input(tiny_overrides, change):
    base = load_config(None, tiny_overrides)
    other = load_config(None, tiny_overrides + [change])
    assert prac_key(from_config(base)) != prac_key(from_config(other))


def test_the_set_says_what_it_is_made_of_and_how_much_of_it_is_noise(tmp_path, tiny_overrides):
    """Issue 29: with flipped labels the report counts the members that carry one (known from
    the data) and those the dense network confidently gives another class (an estimate)."""
    cfg = load_config(None, tiny_overrides + ["dataset.label_noise=0.3"])
    setup = from_config(cfg)
    entry = build_set(setup, tmp_path)
    c, index = entry.meta["composition"], entry.stats()["index"]
    st = entry.stats()
    assert c["flipped_labels"] == int(setup.data.noisy[index].sum()) > 0
    assert c["never_learned"] == int(st["never_learned"][index].sum())
    assert c["flipped"] == int(st["prune_flipped"][index].sum())
    assert 0 < c["looks_mislabelled"] <= len(index)
    # most of the 30 % flipped labels are never learned, and land in the set
    assert c["flipped_labels"] / int(setup.data.noisy.sum()) > 0.5
