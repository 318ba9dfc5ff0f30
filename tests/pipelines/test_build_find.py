"""build-prac and find-ticket on a tiny digits run: real training, real artifacts."""

import pytest
import torch
from safetensors.torch import load_file

import pipelines.build_prac as bp
from pipelines.build_prac import build_prac, prac_key
from pipelines.common import dataset
from pipelines.find_ticket import find_ticket
from prac.config import load_config
from prac.errors import PracError
from prac.prune import density


@pytest.fixture
def built(tmp_path, tiny_overrides):
    cfg = load_config(None, tiny_overrides)
    return cfg, build_prac(cfg, tmp_path), tmp_path


def test_build_writes_the_set_and_its_statistics(built):
    cfg, entry, _ = built
    st, m = entry.stats(), entry.meta
    n = dataset(cfg.dataset).train_size
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
    monkeypatch.setattr(bp, "train", lambda *a, **k: pytest.fail("a cache hit must not train"))
    assert build_prac(cfg, root).path == entry.path


@pytest.mark.parametrize("change", ["seed=1", "model.name=mlp", "train.lr=0.002", "train.epochs=5",
                                    "select.threshold=1", "prune.rate=0.3", "dataset.split_seed=1",
                                    "dataset.train_limit=599"])
def test_key_changes_with_every_input(tiny_overrides, change):
    base = load_config(None, tiny_overrides)
    other = load_config(None, tiny_overrides + [change])
    assert prac_key(base, dataset(base.dataset).fingerprint) != prac_key(other, dataset(other.dataset).fingerprint)


def test_find_ticket_reports_rounds_savings_and_a_masked_ticket(built):
    cfg, entry, root = built
    r = find_ticket(cfg, entry, root)
    assert [x["round"] for x in r["rounds"]] == [0, 1, 2]
    assert r["rounds"][0]["steps"] == entry.meta["dense"]["steps"]          # dense round is the build's
    assert r["rounds"][1]["density"] > r["rounds"][2]["density"] == r["final_density"]
    assert r["steps_total"] == sum(x["steps"] for x in r["rounds"])
    assert r["baseline_steps_total"] == 3 * 76
    assert abs(r["iteration_savings"] - (1 - r["steps_total"] / 228)) < 1e-12
    assert r["prac_size"] == entry.meta["prac_size"]
    ticket = load_file(f"{r['run_dir']}/ticket.safetensors")
    masks = {k[5:]: v for k, v in ticket.items() if k.startswith("mask.")}
    assert abs(density(masks) - r["final_density"]) < 1e-12
    init = entry.dense()
    assert all(torch.equal(ticket[f"rewind.{k[5:]}"], v) for k, v in init.items() if k.startswith("init."))
    for name in ("report.json", "report.md", "masks.safetensors"):
        assert (root / "runs" / r["run_dir"].split("/")[-1] / name).is_file()
    again = find_ticket(cfg, entry, root)    # finished: read back, not recomputed
    assert again["wall_seconds"] == r["wall_seconds"]


def test_a_set_is_refused_on_other_data(built):
    cfg, entry, root = built
    other = load_config(None, ["train.epochs=4", "prune.rounds=2", "dataset.train_limit=500"])
    with pytest.raises(PracError, match="fingerprint"):
        find_ticket(other, entry, root)


def test_reuse_for_another_architecture_trains_round_0_on_the_subset(built):
    cfg, entry, root = built
    other = load_config(None, ["train.epochs=4", "prune.rounds=1", "dataset.train_limit=600",
                               "model.name=mlp", "model.widths=[32]"])
    r = find_ticket(other, entry, root)
    assert r["source_model"] == "lenet_300_100" and r["model"] == "mlp"
    assert r["rounds"][0]["subset_size"] == entry.meta["prac_size"] < 600


@pytest.mark.parametrize("mode", ["union", "refresh"])
def test_reprobe_modes_shape_the_subset(built, mode):
    cfg, entry, root = built
    st = entry.stats()
    hard = int(((st["forgetting_events"] > 0) | st["never_learned"]).sum())
    c = load_config(None, ["train.epochs=4", "prune.rounds=3", "dataset.train_limit=600", "prune.search=finetune",
                           f"select.reprobe={mode}"])
    sizes = [x["subset_size"] for x in find_ticket(c, entry, root)["rounds"][1:]]
    assert sizes[0] == entry.meta["prac_size"]
    if mode == "union":      # cumulative: never shrinks
        assert sizes == sorted(sizes)
    else:                    # hard-to-memorize stays, the flips are the latest ones only
        assert all(s >= hard for s in sizes)


def test_a_set_built_before_a_config_field_existed_still_serves_its_dense_run(built):
    from pipelines.find_ticket import dense_is_reusable

    cfg, entry, _ = built
    older = {**entry.meta, "config": {**entry.meta["config"]}}
    older["config"]["train"] = {k: v for k, v in older["config"]["train"].items() if k != "precision"}
    older["config"]["model"] = {k: v for k, v in older["config"]["model"].items() if k != "width"}
    assert dense_is_reusable(cfg, older)
    older["config"]["train"] = {**older["config"]["train"], "lr": 0.5}
    assert not dense_is_reusable(cfg, older)
