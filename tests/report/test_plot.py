"""A run's PNG: accuracy per round against density, steps per round, the set's composition."""

import struct

from prac.report.plot import composition_parts, plot_run


def report(**extra):
    densities = [1.0, 0.8, 0.64, 0.51, 0.41]
    rounds = [{"round": r, "density": d, "val_acc": 0.9 - 0.01 * r, "test_acc": 0.91 - 0.01 * r,
               "steps": 410 if r == 0 else 24} for r, d in enumerate(densities)]
    rounds[-1]["steps"] = 0  # a last round pruned and not trained
    return {"dataset": "digits", "model": "lenet_300_100", "rounds": rounds, "train_size": 1293, "prac_size": 51,
            "steps_total": 506, "baseline_steps_total": 2050, "iteration_savings": 0.75, "dense_test_acc": 0.98,
            "ticket": {"round": 4, "density": 0.41, "val_acc": 0.95, "test_acc": 0.96}, **extra}


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_three_panels_with_the_composition_two_without(tmp_path):
    three, two = tmp_path / "plots" / "run.png", tmp_path / "bare.png"
    plot_run(report(composition={"hard_only": 5, "flipped_only": 40, "both": 6}), three)
    plot_run(report(), two)
    (w3, h3), (w2, h2) = png_size(three), png_size(two)
    assert 1200 <= w3 <= 2400 and 300 <= h3 <= 800  # three panels side by side
    assert w2 < w3 * 0.8 and h2 == h3  # the composition panel skipped
    assert 20_000 < three.stat().st_size < 1_000_000
    assert not [p for p in three.parent.iterdir() if p.name != "run.png"]  # no temporary file left


def test_composition_parts_fill_the_split():
    parts = composition_parts(report(composition={"hard_only": 5, "flipped_only": 40, "both": 6}))
    assert [(label, n) for label, n, _ in parts] == [("hard to memorize only", 5), ("flipped when pruned only", 40),
                                                     ("both", 6), ("rest of the split", 1293 - 51)]
    assert composition_parts(report()) is None
    given = composition_parts(report(composition={"hard_only": 1, "flipped_only": 2, "both": 3, "rest": 10}))
    assert given[-1][1] == 10


def test_a_report_without_accuracies_still_plots(tmp_path):
    r = report()
    for row in r["rounds"][1:]:
        row["val_acc"] = row["test_acc"] = None  # rounds that were not evaluated
    r.pop("ticket")
    plot_run(r, tmp_path / "p.png")
    assert png_size(tmp_path / "p.png")[0] > 500
