"""prac bench on a tiny digits configuration: figures that are consistent with each other."""

import dataclasses
import json

import pytest

from prac.search import rounds as search_stage
from prac.train import dense as dense_stage
from prac.search.policies import POLICIES
from prac.search import validate as validate_stage
from pipelines.bench import run_bench
from pipelines.speed import run_speed
from prac.select import cache
from prac.config.load import load_config, load_transfer


def test_tiny_bench_writes_consistent_figures_and_resumes_from_cache(tmp_path, tiny_overrides, monkeypatch):
    # a fixed budget per round (no extension), so the controls spend exactly PrAC's steps
    monkeypatch.setitem(POLICIES, "finetune", dataclasses.replace(POLICIES["finetune"], extend=0))
    cfg = load_config(None, tiny_overrides + ["prune.rounds=3"])
    s = run_bench("tickets", cfg, 2, tmp_path, None)
    b = json.loads((tmp_path / "bench.json").read_text())
    assert set(b["methods"]) == {"full", "prac", "random", "matched", "reinit"}
    for m in b["methods"].values():
        assert [r["round"] for r in m["rounds"]] == [0, 1, 2, 3]
        assert all({"density", "test_acc_mean", "test_acc_std", "steps"} <= set(r) for r in m["rounds"])
        assert m["rounds"][0]["test_acc_mean"] == b["methods"]["full"]["rounds"][0]["test_acc_mean"]
    full, prac = b["methods"]["full"], b["methods"]["prac"]
    assert abs(b["iteration_savings"] - (1 - prac["steps_total"] / full["steps_total"])) < 1e-12
    assert prac["steps_total"] == b["methods"]["random"]["steps_total"]          # same size, same schedule
    # compute-matched full IMP spends about PrAC's steps per round (rounding aside)
    for a, c in zip(prac["rounds"][1:], b["methods"]["matched"]["rounds"][1:]):
        assert abs(a["steps"] - c["steps"]) <= 2
    worst = max(100 * (f["test_acc_mean"] - p["test_acc_mean"]) for f, p in zip(full["rounds"][1:], prac["rounds"][1:]))
    assert abs(b["parity_gap_pp"] - worst) < 1e-9
    # the paired comparison covers every retrained round; a mean of differences is a difference of means
    for m in ("full", "random", "matched"):
        rows = b["paired"][m]
        assert [r["round"] for r in rows] == [1, 2, 3] and all(len(r["test_pp"]["values"]) == 2 for r in rows)
        for r in rows:
            means = prac["rounds"][r["round"]]["test_acc_mean"] - b["methods"][m]["rounds"][r["round"]]["test_acc_mean"]
            assert abs(r["test_pp"]["mean"] - 100 * means) < 1e-9
    for png in ("accuracy_vs_density.png", "steps_vs_rounds.png", "prac_composition.png"):
        assert (tmp_path / png).stat().st_size > 1000
    assert "wall_ratio" in b and "iteration_savings_end_to_end" in b and "random_subset_gap_pp" in b

    # rerun: every piece is a cache hit, nothing trains
    for module in (dense_stage, search_stage, validate_stage):
        monkeypatch.setattr(module, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    again = run_bench("tickets", cfg, 2, tmp_path, None)
    assert again["methods"]["prac"]["rounds"] == s["methods"]["prac"]["rounds"]
    # the controls alone (e.g. one more seed's, run beside the PrAC search) still write their report
    only = run_bench("tickets", cfg, 2, tmp_path, None, ("full", "random"))
    table = (tmp_path / "bench.md").read_text()
    assert set(only["methods"]) == {"full", "random"} and table.count("\n| 100.0 |") == 1


def test_speed_bench_reports_ratio_and_constant_tracker_memory(tmp_path, tiny_overrides):
    r = run_speed(load_config(None, tiny_overrides), tmp_path, None)
    saved = json.loads((tmp_path / "speed.json").read_text())
    assert {"engine_vs_bare", "tracker_bytes_per_sample", "gflops", "peak_gflops"} <= set(saved)
    assert r["engine_vs_bare"] > 0 and saved["peak_gflops"] > 0
    assert len(set(r["tracker_bytes_per_sample_by_epoch"])) == 1 and r["tracker_bytes_per_sample"] <= 16


def test_transfer_bench_reuses_the_source_set_and_amortises_its_build(tmp_path, tiny_overrides):
    (tmp_path / "a.yaml").write_text("model: {name: lenet_300_100}\n")
    (tmp_path / "b.yaml").write_text("model: {name: mlp, widths: [32]}\n")
    (tmp_path / "t.yaml").write_text("source: a.yaml\ntarget: b.yaml\n")
    source, target = load_transfer(tmp_path / "t.yaml", tiny_overrides + ["target.train.lr=0.002", "prune.rounds=1"])
    assert (source.model.name, target.model.name, source.train.lr, target.train.lr) == ("lenet_300_100", "mlp",
                                                                                        1.2e-3, 0.002)
    out = tmp_path / "art"
    b = run_bench("tickets", target, 1, out, None, ("full", "prac"), None, source)
    t, ms = b["transfer"], b["methods"]
    assert t["source_model"] == "lenet_300_100" and ms["transfer"]["label"].startswith("PrAC IMP with lenet")
    # the transferred run's round 0 is the target's dense reference (the dense run of the target's own
    # set, built beside it: one computation, not trained twice), charged with the source's build
    [src] = [e for e in cache.entries(out) if e.meta["model"] == "lenet_300_100"]
    runs = {r.name: json.loads((r / "report.json").read_text()) for r in (out / "runs").iterdir()}
    [tr] = [r for r in runs.values() if r["prac_key"] == src.key and r["model"] == "mlp"]
    [own] = [r for r in runs.values() if r["prac_key"] == src.key and r["model"] == "lenet_300_100"]
    [tgt] = [e for e in cache.entries(out) if e.meta["model"] == "mlp"]
    assert not tr["dense_reused"] and tr["rounds"][0]["subset_size"] == tr["train_size"] > tr["subset_size"]
    assert tr["reference"]["key"] == tgt.key and not (out / "dense").exists()
    assert tr["rounds"][0]["val_acc"] == tgt.meta["dense"]["val_acc"]
    assert tr["charged_steps"] == tr["steps_total"] + src.meta["dense"]["steps"] == ms["transfer"]["steps_total"]
    assert own["dense_reused"] and own["charged_steps"] == own["steps_total"]
    # amortised: the one build plus both searches' own steps, against both full-data IMPs
    uses = src.uses()
    assert sorted(u["model"] for u in uses) == ["lenet_300_100", "mlp"]
    expect = 1 - (src.meta["dense"]["steps"] + tgt.meta["dense"]["steps"] + own["own_steps"] + tr["own_steps"]) / (
        own["baseline_steps_total"] + tr["baseline_steps_total"])
    assert abs(tr["amortised"]["iteration_savings"] - expect) < 1e-12 and tr["amortised"]["runs"] == 2
    assert abs(t["amortised_savings"] - expect) < 1e-12
    assert t["amortised_savings"] > t["iteration_savings"]   # sharing the build is what the cache is for


def test_one_ticket_gets_one_accuracy_in_find_ticket_and_in_bench(tmp_path, tiny_overrides):
    from pipelines.bench import retrained_rounds
    from prac.select.build import build_set
    from prac.search.loop import run_search
    from prac.setup import from_config

    cfg = load_config(None, tiny_overrides)
    run = run_search(from_config(cfg), build_set(from_config(cfg), tmp_path), tmp_path)
    fresh = {k: v for k, v in run.items() if k != "candidates"}          # bench retrains it itself
    last = retrained_rounds(cfg, fresh, tmp_path, None)[-1]
    assert last["round"] == run["ticket"]["round"] and last["test_acc"] == run["ticket_test_acc"]


@pytest.mark.parametrize("one_shot", [False, True])
def test_the_account_counts_every_pass(tmp_path, tiny_overrides, monkeypatch, one_shot):
    """Every forward pass is charged: the build's, each trained round's training, budget
    checks and flip probes, and each untrained round's one validation pass (the last one, and
    the one-shot rounds, whose check costs one pass more to the round it sends training).
    Without one-shot rounds every round but the last trains; with them (the shipped policy)
    the tiny run prunes its dense network for free."""
    from prac.select.build import build_set
    from prac.train.curve import points
    from prac.train.loop import steps_for
    from prac.search.loop import run_search
    from prac.setup import from_config

    if not one_shot:
        monkeypatch.setitem(POLICIES, "finetune", dataclasses.replace(POLICIES["finetune"], oneshot_drop=None))
    cfg = load_config(None, tiny_overrides)
    entry = build_set(from_config(cfg), tmp_path)
    r = run_search(from_config(cfg), entry, tmp_path)
    data = from_config(cfg).data
    n, n_val, n_test = r["train_size"], len(data.y_val), len(data.y_test)

    def evaluated(x):  # every curve point's validation pass, the test pass, and one more at a distinct early stop
        return len(x["curve"]) * n_val + n_test * (1 + (x["early_stop_step"] != x["curve"][-1]["step"]))

    c = r["compute"]
    probe = 2 * round(POLICIES["finetune"].probe_fraction * n)  # the refreshed flip probe predicts its share twice
    assert probe < 2 * n
    rounds, last = r["rounds"][1:-1], r["rounds"][-1]
    trained = [x for x in rounds if x["samples"]]
    assert (len(trained) < len(rounds)) == one_shot and [x["samples"] > 0 for x in rounds] == sorted(x["samples"] > 0 for x in rounds)
    # a fine-tuning round is evaluated at its budget checks only, not at the curve's 20 points;
    # an untrained round (one-shot, or the last) once, as pruned
    assert all(len(x["curve"]) == x["chunks"] >= 1 for x in trained)
    assert all(x["samples"] == x["chunks"] == 0 and len(x["curve"]) == 1 for x in [*rounds[:len(rounds) - len(trained)], last])
    assert c["build"] == 3 * entry.meta["dense"]["samples"] + 2 * n + evaluated(entry.meta["dense"])
    # no probe after the last two rounds: no round trains on what it would find (the last round is not trained)
    # fine-tuning rounds are validated only: their networks are no tickets, and no test pass is made for them
    assert all(x["test_acc"] is None and x["early_stop_test_acc"] is None for x in r["rounds"][1:])
    checked = n_val if one_shot and trained else 0  # the check that sent the first trained round training
    assert c["own"] == sum(3 * x["samples"] + len(x["curve"]) * n_val + probe * (x["round"] < last["round"] - 1)
                           for x in trained) + n_val * (len(rounds) - len(trained)) + checked + n_val
    assert c["charged"] == c["build"] + c["own"]
    full_round = steps_for(cfg.train.epochs, n, cfg.train.batch_size)
    assert c["baseline"] == len(r["rounds"]) * (3 * cfg.train.epochs * n + len(points(full_round, None)) * n_val + n_test)
    assert c["retrains"] == sum(3 * x["samples"] + evaluated(x) for x in r["candidates"])
    assert abs(r["iteration_savings_compute"] - (1 - c["charged"] / c["baseline"])) < 1e-12
    assert r["iteration_savings_compute"] < r["iteration_savings"]   # the probes are not free
