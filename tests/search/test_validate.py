"""Choosing the ticket: which rounds are retrained, and which round comes back."""

import pytest

from prac.search.validate import bisect_rounds, choose


def asking(accuracies: dict[int, float]):
    """A retrain stand-in with hand-made validation accuracies; records what was asked."""
    asked = []

    def retrained(r):
        asked.append(r)
        return {"val_acc": accuracies[r]}

    return retrained, asked


# validation accuracy by round: the dense network is at 0.90, tolerance 0.5 pp -> wins at >= 0.895
FALLS_AFTER_5 = {1: 0.91, 2: 0.91, 3: 0.90, 4: 0.899, 5: 0.896, 6: 0.89, 7: 0.88, 8: 0.85, 9: 0.80, 10: 0.7}


def test_bisect_asks_the_last_round_first_and_stops_when_it_wins():
    retrained, asked = asking({r: 0.95 for r in range(1, 11)})
    assert choose("bisect", 10, 0.90, 0.5, retrained) == (10, True, [10])
    assert asked == [10]


def test_bisect_finds_the_sparsest_winning_round_in_log_steps():
    retrained, asked = asking(FALLS_AFTER_5)
    best, winning, rounds = choose("bisect", 10, 0.90, 0.5, retrained)
    # 10 loses; then mid of (0, 10) = 5 wins; (5, 10) -> 7 loses; (5, 7) -> 6 loses: round 5
    assert (best, winning, rounds) == (5, True, [10, 5, 7, 6])
    assert asked == [10, 5, 7, 6]


def test_tolerance_moves_the_answer():
    retrained, _ = asking(FALLS_AFTER_5)
    assert choose("bisect", 10, 0.90, 1.0, retrained)[0] == 6      # 0.89 is within 1 pp
    assert choose("bisect", 10, 0.90, 0.0, retrained)[0] == 3      # exactly the dense accuracy wins


def test_no_round_wins_returns_the_best_retrained_round_marked_not_winning():
    retrained, _ = asking({r: 0.80 - r / 100 for r in range(1, 9)})
    best, winning, rounds = choose("bisect", 8, 0.90, 0.5, retrained)
    assert rounds == [8, 4, 2, 1] and (best, winning) == (1, False)


def test_last_retrains_only_the_final_round_and_says_whether_it_wins():
    retrained, asked = asking(FALLS_AFTER_5)
    assert choose("last", 10, 0.90, 0.5, retrained) == (10, False, [10]) and asked == [10]
    assert choose("last", 4, 0.90, 0.5, retrained) == (4, True, [4])


@pytest.mark.parametrize("last", [1, 2, 3, 13])
def test_bisect_rounds_on_every_winning_prefix(last):
    for k in range(0, last + 1):                # rounds 1..k win, the rest lose
        best, asked = bisect_rounds(last, lambda r: r <= k)
        assert best == (k or None)
        assert len(asked) <= 1 + max(1, last).bit_length()
        assert len(set(asked)) == len(asked)    # no round is retrained twice


def test_the_margin_is_the_tolerance_or_one_standard_error_of_a_small_validation_split():
    from prac.search.validate import margin

    assert margin(0.9, 0.5) == 0.005                                  # no split size: the tolerance
    assert margin(0.88, 0.5, 5000) == 0.005                           # Fashion-MNIST: the tolerance (SE 0.46 pp)
    assert margin(0.958, 0.5, 144) == pytest.approx(0.0167, abs=1e-4)           # digits: 2.4 images of 144
    retrained, _ = asking({1: 0.951, 2: 0.94})
    assert choose("bisect", 2, 0.958, 0.5, retrained, n_val=144)[:2] == (1, True)
    assert choose("bisect", 2, 0.958, 0.5, retrained)[:2] == (1, False)
