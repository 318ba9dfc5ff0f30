"""prac bench on a tiny digits configuration: figures that are consistent with each other."""

import json

import pipelines.find_ticket as ft
from pipelines.bench import run_bench
from pipelines.speed import run_speed
from prac.config import load_config


def test_tiny_bench_writes_consistent_figures_and_resumes_from_cache(tmp_path, tiny_overrides, monkeypatch):
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
    for png in ("accuracy_vs_density.png", "steps_vs_rounds.png", "prac_composition.png"):
        assert (tmp_path / png).stat().st_size > 1000
    assert "wall_ratio" in b and "iteration_savings_end_to_end" in b and "random_subset_gap_pp" in b

    # rerun: every piece is a cache hit, nothing trains
    monkeypatch.setattr(ft, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    again = run_bench("tickets", cfg, 2, tmp_path, None)
    assert again["methods"]["prac"]["rounds"] == s["methods"]["prac"]["rounds"]


def test_speed_bench_reports_ratio_and_constant_tracker_memory(tmp_path, tiny_overrides):
    r = run_speed(load_config(None, tiny_overrides), tmp_path, None)
    saved = json.loads((tmp_path / "speed.json").read_text())
    assert {"engine_vs_bare", "tracker_bytes_per_sample", "gflops", "peak_gflops"} <= set(saved)
    assert r["engine_vs_bare"] > 0 and saved["peak_gflops"] > 0
    assert len(set(r["tracker_bytes_per_sample_by_epoch"])) == 1 and r["tracker_bytes_per_sample"] <= 16
