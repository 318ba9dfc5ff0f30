"""The bench report: paired rows per retrained round, rendered in bench.md."""

import pytest

from pipelines.bench_report import markdown
from pipelines.bench_stats import paired


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
