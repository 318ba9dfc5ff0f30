from pathlib import Path

import pytest

from prac.config.schema import Config, digest, to_dict
from prac.config.load import load_config, load_transfer
from prac.errors import PracError

CONFIGS = sorted(p for p in (Path(__file__).parents[2] / "configs").glob("*.yaml")
                 if not p.stem.startswith("transfer_"))
TRANSFERS = sorted((Path(__file__).parents[2] / "configs").glob("transfer_*.yaml"))


def test_default_is_digits_lenet_and_equals_its_yaml():
    cfg = load_config()
    assert cfg.dataset.kind == "digits" and cfg.model.name == "lenet_300_100"
    assert load_config(Path(__file__).parents[2] / "configs" / "digits_lenet.yaml") == cfg


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_parses(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)


def test_contract_keys_can_be_set():
    cfg = load_config(None, ["seed=3", "dataset.kind=npz", "dataset.path=/x.npz", "model.name=conv2",
                             "train.epochs=2", "train.batch_size=32", "train.lr=0.5", "prune.rate=0.3",
                             "prune.rounds=4", "select.threshold=2"])
    assert (cfg.seed, cfg.dataset.kind, cfg.dataset.path, cfg.model.name) == (3, "npz", "/x.npz", "conv2")
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.lr) == (2.0, 32, 0.5)
    assert (cfg.prune.rate, cfg.prune.rounds, cfg.select.threshold) == (0.3, 4, 2)


def test_overrides_beat_the_file_and_lists_become_tuples(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  lr: 0.1\n  milestones: [0.5, 0.75]\n  schedule: step\n")
    cfg = load_config(f, ["train.lr=0.2"])
    assert cfg.train.lr == 0.2 and cfg.train.milestones == (0.5, 0.75)


@pytest.mark.parametrize("text,words", [
    ("trian:\n  lr: 1\n", "unknown config key 'trian'"),
    ("train:\n  lrr: 1\n", "unknown config key 'train.lrr'"),
    ("train:\n  epochs: ten\n", "train.epochs='ten' has the wrong type"),
    ("train:\n  batch_size: 1.5\n", "train.batch_size=1.5 has the wrong type"),
    ("prune:\n  rate: 1.5\n", "prune.rate=1.5 must be a fraction"),
    ("prune:\n  rate: 0\n", "prune.rate=0.0 must be a fraction"),
    ("prune:\n  target_density: 2\n", "prune.target_density=2.0"),
    ("dataset:\n  kind: imagenet22k\n", "dataset.kind 'imagenet22k' is unknown"),
    ("train: 5\n", "must be a mapping"),
    ("- a\n- b\n", "must hold a mapping"),
    ("train: {lr: [\n", "not valid YAML"),
    ("select:\n  threshold: -1\n", "select.threshold=-1"),
    ("prune:\n  search: magic\n", "prune.search 'magic' is unknown; use finetune, rewind, imp"),
    ("select:\n  method: hardest\n", "select.method 'hardest' is unknown; use one of prac, random, full"),
    ("prune:\n  search_budget: 0\n", "prune.search_budget=0.0 must be a fraction"),
    ("prune:\n  search_budget: 1.5\n", "prune.search_budget=1.5 must be a fraction"),
    ("prune:\n  late_rewind: 0.1\n", "prune.late_rewind was removed"),
    ("select:\n  subset: random\n", "select.subset was removed in prac 0.2; use select.method"),
])
def test_bad_configs_are_one_line_errors(tmp_path, text, words):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(PracError) as e:
        load_config(f)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_yaml_cannot_construct_objects(tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("seed: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(PracError):
        load_config(f)
    assert not Path("pwned").exists()


def test_missing_file_and_malformed_override():
    with pytest.raises(PracError, match="does not exist"):
        load_config("/nonexistent.yaml")
    with pytest.raises(PracError, match="key=value"):
        load_config(None, ["train.lr"])


def test_digest_ignores_defaults_and_changes_with_values():
    a = digest("x", Config())
    assert a == digest("x", load_config(None, ["train.lr=0.0012"]))     # explicitly the default
    assert a != digest("x", load_config(None, ["train.lr=0.002"]))
    assert to_dict(Config())["model"]["widths"] == [300, 100]


@pytest.mark.parametrize("path", TRANSFERS, ids=lambda p: p.stem)
def test_every_shipped_transfer_names_two_models_on_the_same_data(path):
    source, target = load_transfer(path)
    assert source.model.name != target.model.name and source.dataset == target.dataset


def test_a_transfer_file_must_name_source_and_target(tmp_path):
    (tmp_path / "t.yaml").write_text("source: a.yaml\n")
    with pytest.raises(PracError, match="must hold exactly 'source: FILE' and 'target: FILE'"):
        load_transfer(tmp_path / "t.yaml")


def test_numbers_in_e_notation_are_numbers():
    # YAML 1.1 reads 1e-3 (no dot) as a string; --set train.lr=1e-3 must still mean 0.001
    c = load_config(None, ["train.lr=1e-3", "prune.search_budget=2E-2"])
    assert (c.train.lr, c.prune.search_budget) == (0.001, 0.02)
    with pytest.raises(PracError, match="train.batch_size='1e3' has the wrong type; expected int"):
        load_config(None, ["train.batch_size=1e3"])
