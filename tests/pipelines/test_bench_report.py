"""The bench report's paired comparison: differences per seed, a t-interval, a verdict."""

import math

import pytest

from pipelines.bench_report import markdown
from pipelines.bench_stats import difference, paired


def test_pairing_separates_methods_whose_unpaired_spreads_overlap():
    # seeds differ by 3 pp from each other, the methods by 0.5-1 pp within every seed
    prac, full = [90.0, 93.0, 96.0], [89.0, 92.0, 95.5]
    d = difference(prac, full)
    assert d["values"] == [1.0, 1.0, 0.5]
    assert d["mean"] == pytest.approx(5 / 6) and d["std"] == pytest.approx(math.sqrt(1 / 12))
    half = 4.302652729911275 * d["std"] / math.sqrt(3)  # Student t, 2 degrees of freedom, 97.5 %
    assert d["ci95"] == pytest.approx([5 / 6 - half, 5 / 6 + half])
    assert d["verdict"] == "ahead"                          # each method's own std over seeds is 3 pp
    assert difference(full, prac)["verdict"] == "behind"


def test_a_difference_that_changes_sign_across_seeds_is_inside_the_noise():
    d = difference([90.0, 91.0, 92.0], [90.5, 90.0, 92.2])
    assert d["ci95"][0] < 0 < d["ci95"][1] and d["verdict"] == "inside the noise"
    assert difference([90.0], [89.0]) == {"mean": 1.0, "std": 0.0, "ci95": None, "values": [1.0], "verdict": "one seed"}
    two = difference([90.0, 91.0], [89.5, 90.5])           # the same +0.5 on both seeds: std 0
    assert two["ci95"] == [0.5, 0.5] and two["verdict"] == "two seeds: no verdict"
    with pytest.raises(ValueError):  # a seed missing on one side is an error, not a shorter pairing
        difference([90.0, 91.0, 92.0], [90.0, 91.0])


def _summarised(per_seed: dict[str, list[list]]) -> dict:
    """Methods as ``summarise`` gives them: each round's per-seed accuracies (None where a
    round was not retrained)."""
    return {m: {"rounds": [{"round": i, "density": 0.8 ** i, "test_acc_values": None if None in accs else accs,
                            "val_acc_values": None if None in accs else accs}
                           for i, accs in enumerate(zip(*seeds))]} for m, seeds in per_seed.items()}


def test_paired_rows_cover_the_rounds_both_methods_retrained_and_reach_the_markdown():
    methods = _summarised({"prac": [[0.9, 0.88, None, 0.85], [0.92, 0.90, None, 0.86]],
                           "full": [[0.9, 0.89, 0.88, 0.87], [0.92, 0.90, 0.89, 0.87]]})
    rows = paired(methods, "prac", "full")
    assert [r["round"] for r in rows] == [1, 3]               # round 0 is shared, round 2 not retrained
    assert rows[1]["test_pp"]["values"] == pytest.approx([-2.0, -1.0])
    s = {"config": {"model": {"name": "m"}, "dataset": {"kind": "d"}}, "seeds": [0, 1], "hardware": "h",
         "prac_fraction": 0.1, "paired": {"full": rows},
         "methods": {m: {"label": m, "steps_total": 1, "wall_seconds": None, "retrain_steps": 0,
                         "rounds": [{"density": 0.8 ** i, "test_acc_mean": None, "test_acc_std": None}
                                    for i in range(4)]} for m in ("prac", "full")}}
    md = markdown(s)
    assert "| 51.2 | -1.50 [" in md and "vs full-data IMP" in md and md.count("paired by seed") == 2
