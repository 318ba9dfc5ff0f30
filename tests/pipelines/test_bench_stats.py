"""Benchmark statistics: differences paired by seed, a t-interval, a verdict."""

import math

import pytest

from pipelines.bench_stats import difference


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
