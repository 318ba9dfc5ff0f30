"""prac bench planted on a tiny circle task: the documented planted.json, the oracle's
structure, SynFlow's masks, the regression tasks, and the cache."""

import json

import pytest
import torch

from pipelines import planted as planted_bench
from pipelines.planted import run_planted
from pipelines.planted_structure import reachability
from prac.errors import PracError
from prac.prune_synflow import synflow_masks

TINY = {"task_kwargs": {"n_train": 600, "n_test": 200}, "recipe": {"train.epochs": 2}}


def test_tiny_planted_bench_writes_the_documented_json_and_resumes(tmp_path, monkeypatch):
    s = run_planted(["circle"], ["planted", "0.1"], ["oracle", "imp"], 1, tmp_path, **TINY)
    b = json.loads((tmp_path / "planted.json").read_text())
    assert {"tasks", "recipe", "seeds", "densities", "methods", "seconds", "hardware"} <= set(b)
    assert b["densities"] == ["planted", "0.1"] and b["methods"] == ["oracle", "imp"]
    t = b["tasks"]["circle"]
    assert set(t) == {"planted", "methods", "prac_vs_imp"}
    assert t["planted"]["edges"] == 108 and abs(t["planted"]["density"] - 108 / 20600) < 1e-12
    assert set(t["methods"]) == {"oracle", "imp"}
    assert "skipped" in t["methods"]["oracle"]["0.1"]          # the oracle exists at ρ* only, and says so
    assert set(t["methods"]["imp"]) == {"planted", "0.1"}
    for r in (t["methods"]["oracle"]["planted"], *t["methods"]["imp"].values()):
        for m in ("density", "weak_test_acc", "strong_test_acc", "edge_precision", "edge_recall", "chance_recall",
                  "chance_precision", "unit_recall", "layer_density_l1", "collapsed", "search_steps", "search_seconds"):
            assert set(r[m]) == {"mean", "std", "values"} and len(r[m]["values"]) == 1
        assert set(r["layer_densities"]) == set(t["planted"]["layer_densities"])
    oracle = t["methods"]["oracle"]["planted"]
    assert oracle["edge_recall"]["mean"] == 1.0 and oracle["edge_precision"]["mean"] == 1.0
    assert oracle["unit_recall"]["mean"] == 1.0 and oracle["layer_density_l1"]["mean"] == 0.0
    assert oracle["collapsed"]["mean"] == 0.0 and oracle["search_steps"]["mean"] == 0
    imp = t["methods"]["imp"]["0.1"]
    assert 0.1 <= imp["density"]["mean"] < 0.12 and imp["search_steps"]["mean"] > 0
    assert (tmp_path / "planted.md").read_text().startswith("# Planted tickets")
    for kind in ("weak", "recall", "layers"):
        assert (tmp_path / f"planted_{kind}_circle.png").stat().st_size > 1000
    # every (task, seed, method, density) result is its own file; a rerun reads them back
    assert len(list((tmp_path / "planted-results").rglob("*.json"))) == 3
    monkeypatch.setattr(planted_bench, "run_method", lambda *a, **k: (_ for _ in ()).throw(AssertionError("rerun")))
    again = run_planted(["circle"], ["planted", "0.1"], ["oracle", "imp"], 1, tmp_path, **TINY)
    assert again["tasks"] == s["tasks"]


def test_synflow_hits_the_density_and_only_shrinks():
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    m = synflow_masks(net, 0.25, (3,), rounds=10)
    assert sum(int(x.sum()) for x in m.values()) == round(0.25 * 40)
    assert reachability(list(m.values()))["collapsed"] is False  # SynFlow's point: no layer collapse


def test_tiny_regression_bench_reports_mses_and_the_planting_holds(tmp_path):
    """relu through the real path: prac's MSE training, learned/flipped rule and PrAC search."""
    run_planted(["relu"], ["planted", "0.1"], ["oracle", "prac"], 1, tmp_path, **TINY)
    t = json.loads((tmp_path / "planted.json").read_text())["tasks"]["relu"]
    assert t["planted"]["regression"] is True and t["planted"]["noise_var"] == pytest.approx(1e-4)
    oracle = t["methods"]["oracle"]["planted"]
    assert oracle["strong_test_mse"]["mean"] < 3e-4          # the planting is right (the 3 σ²)
    assert oracle["edge_recall"]["mean"] == 1.0
    for r in (oracle, *t["methods"]["prac"].values()):
        assert {"weak_test_mse", "strong_test_mse", "weak_test_learned"} <= set(r) and "weak_test_acc" not in r
        assert r["weak_test_mse"]["mean"] > 0 and 0 <= r["weak_test_learned"]["mean"] <= 1
    p = t["methods"]["prac"]["0.1"]
    assert 0.1 <= p["density"]["mean"] < 0.12 and p["search_steps"]["mean"] > 0 and p["dense_test_mse"]["mean"] > 0
    assert set(t["prac_vs_imp"]) == set()                     # no imp here: nothing to compare
    meta = json.loads(next((tmp_path / "prac").glob("*/meta.json")).read_text())
    assert meta["class_counts"] == [meta["train_size"]]      # regression targets count as one class
    assert meta["config"]["select"]["learned_mse"] == pytest.approx(9e-4)   # (3 noise stds)²
    md = (tmp_path / "planted.md").read_text()
    assert "| weak MSE | strong MSE | learned % |" in md and "σ²" in md
    assert (tmp_path / "planted_weak_relu.png").stat().st_size > 1000


def test_bad_arguments_are_refused(tmp_path):
    assert planted_bench.check(["all"], ["planted"], ["oracle"], 1)[0] == ["circle", "helix", "relu"]
    with pytest.raises(PracError, match="unknown planted task 'spiral'"):
        run_planted(["spiral"], ["planted"], ["oracle"], 1, tmp_path)
    with pytest.raises(PracError, match="unknown methods"):
        run_planted(["circle"], ["planted"], ["magic"], 1, tmp_path)
    with pytest.raises(PracError, match="density"):
        run_planted(["circle"], ["1.5"], ["oracle"], 1, tmp_path)


def test_cached_results_are_keyed_by_the_search_defaults_not_only_the_recipe(monkeypatch):
    """A search default that moves (a config default, or a setting of a search policy such
    as the plateau stop) gives the cache a new key, so results of the old default are never
    served for the new one."""
    import dataclasses

    from prac.config.load import load_config
    from prac.search.policies import POLICIES

    before = planted_bench.results_key(TINY["recipe"], TINY["task_kwargs"])
    assert planted_bench.results_key(TINY["recipe"], TINY["task_kwargs"]) == before

    with monkeypatch.context() as m:
        m.setitem(POLICIES, "finetune", dataclasses.replace(POLICIES["finetune"], plateau=not POLICIES["finetune"].plateau))
        assert planted_bench.results_key(TINY["recipe"], TINY["task_kwargs"]) != before

    def moved(path, values):
        cfg = load_config(path, values=values)
        return dataclasses.replace(cfg, prune=dataclasses.replace(cfg.prune, search_budget=cfg.prune.search_budget / 2))

    monkeypatch.setattr(planted_bench, "load_config", moved)
    assert planted_bench.results_key(TINY["recipe"], TINY["task_kwargs"]) != before


def test_full_data_imp_and_one_shot_are_the_imp_search_policy_and_prac_the_recipe():
    from types import SimpleNamespace

    task = SimpleNamespace(regression=False, noise_std=0.0)
    case = planted_bench.Case(task, seed=0, recipe={}, out=None)
    for method in ("imp", "oneshot"):  # the baselines: plain full-data IMP, rewinding every round
        assert planted_bench.search_values(case, method, 0.1)["prune.search"] == "imp"
    assert "prune.search" not in planted_bench.search_values(case, "prac", 0.1)
    assert planted_bench.search_values(case, "random_subset", 0.1)["select.method"] == "random"
