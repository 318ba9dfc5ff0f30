"""``prac bench lth`` on a tiny digits configuration: what each method's tickets are, and
what lth.json holds."""

import json

import pytest
import torch

from prac.config.load import load_config

TINY = ["train.epochs=3", "prune.rounds=3", "dataset.train_limit=600", "train.eval_test=true"]  # as bench lth sets


@pytest.fixture(scope="module")
def lth(tmp_path_factory):
    from pipelines.lth import run_lth

    out = tmp_path_factory.mktemp("lth")
    summary = run_lth(load_config(None, TINY), 1, out)
    return out, summary


def test_lth_json_has_every_method_per_round_with_early_stop_figures(lth):
    out, _ = lth
    s = json.loads((out / "lth.json").read_text())
    assert list(s["methods"]) == ["iterative", "oneshot", "reinit", "random_prune", "prac"]
    dens = [r["density"] for r in s["methods"]["iterative"]["rounds"]]
    assert len(dens) == 3 and dens == sorted(dens, reverse=True)
    for m, v in s["methods"].items():
        assert [r["density"] for r in v["rounds"]] == pytest.approx(dens, abs=1e-3), m  # the same per-layer densities
        for r in v["rounds"]:
            assert {"early_stop_test_acc", "early_stop_step", "test_acc"} <= set(r)
            assert 0 < r["early_stop_step"]["mean"] <= 3 * 19          # within the run: 3 epochs of 19 steps
    assert s["dense"]["early_stop_step"]["values"][0] > 0
    assert [c["metric"] for c in s["curves"]] == ["test_acc"] * len(s["curves"]) and s["curves"][0]["label"].startswith("dense")
    assert {p.name for p in out.glob("*.png")} == {"lth_accuracy.png", "lth_early_stop.png", "lth_curves.png"}


def test_every_ticket_stops_early_at_its_curves_minimum_validation_loss(lth):
    out, _ = lth
    report = json.loads(next((out / "runs").glob("*-full-*/report.json")).read_text())
    for x in report["rounds"]:  # full-data IMP's rounds: every round has the contract's figures
        best = min(x["curve"], key=lambda p: p["val_loss"])
        assert x["early_stop_step"] == best["step"]
        assert x["early_stop_test_acc"] == best["test_acc"]            # train.eval_test: recorded at the point


def test_the_controls_keep_the_tickets_layer_densities_but_not_their_edges(lth):
    from pipelines.bench import dense_model, variant_masks
    from prac.prune import round_masks
    from prac.search.loop import HISTORY
    from prac.setup import from_config
    from prac.store import load_tensors

    out, _ = lth
    rdir = next((out / "runs").glob("*-full-*"))
    report = json.loads((rdir / "report.json").read_text())
    cfg = load_config(None, TINY)
    history = load_tensors(rdir / HISTORY)
    ticket = round_masks(history, 2)
    rand = variant_masks("random_prune", history, 2, cfg, None)
    dense = dense_model(from_config(cfg), out, report["prac_key"])
    for name, m in ticket.items():
        assert int(rand[name].sum()) == int(m.sum()) and not torch.equal(rand[name], m)
    # one shot to round 1's densities is iterative round 1 itself: both prune the trained dense network once
    one = variant_masks("oneshot", history, 1, cfg, dense)
    assert all(torch.equal(one[n], m) for n, m in round_masks(history, 1).items())
    two = variant_masks("oneshot", history, 2, cfg, dense)
    assert all(int(two[n].sum()) == int(m.sum()) for n, m in ticket.items())


def test_round_ones_masks_all_prune_the_same_trained_dense_network(lth):
    out, _ = lth
    first, *rest = json.loads((out / "lth.json").read_text())["mask_overlap"]
    # round 1 of full-data IMP and one shot both prune the cached dense network once, by magnitude
    assert first["iterative_oneshot"]["mean"] == 1.0
    # and so does PrAC IMP's round 1, by the same criterion (the finetune policy's magnitude): the same mask
    assert first["prac_oneshot"]["mean"] == first["prac_iterative"]["mean"] == 1.0
    assert all(0 < r["prac_iterative"]["mean"] <= 1 for r in rest)
