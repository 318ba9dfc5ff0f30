"""A search round's pace: extra budgets while validation falls short, quarter budgets at the
adaptive pace, and the bank that the cap fills. Validation is patched, so every check's
outcome is known in advance."""

import pytest

import prac.curve
from prac.config import load_config
from prac.search import find_ticket
from prac.setup import from_config

BUDGET = round(0.1 * 4 * 19)  # prune.search_budget=0.1 of a 4-epoch round of 19 batches: 8 steps


def rounds(entry, root, *overrides):
    cfg = load_config(None, ["train.epochs=4", "dataset.train_limit=600", "prune.search_budget=0.1", *overrides])
    return find_ticket(from_config(cfg), entry, root)["rounds"][1:]


def recovers_above(share):
    """Validation accuracy 1 while more than ``share`` of the first layer is left, else 0:
    at 0.7, round 1 (80 % left) recovers and rounds 2 (64 %) and 3 (51 %) never do."""
    def val(model, *a, **k):
        w = next(p for p in model.parameters() if p.dim() == 2)
        return 1.0, (1.0 if (w != 0).float().mean() > share else 0.0)
    return val


# 0.0 fails round 1's check against the dense network and makes round 1's own accuracy 0,
# which round 2 then meets at once; 1.0 passes every check
@pytest.mark.parametrize("val, chunks", [(0.0, [3, 1]), (1.0, [1, 1])])
def test_a_round_whose_validation_falls_short_gets_more_budgets_up_to_the_cap(built, monkeypatch, val, chunks):
    cfg, entry, root = built
    monkeypatch.setattr(prac.curve, "loss_and_accuracy", lambda *a, **k: (1.0, val))
    rs = rounds(entry, root, "prune.rounds=2", "prune.search_extend=2")
    assert [x["chunks"] for x in rs] == chunks
    assert [x["steps"] for x in rs] == [c * BUDGET for c in chunks]


def test_an_adaptive_round_stops_once_validation_recovers_and_banks_the_rest_for_harder_rounds(built, monkeypatch):
    cfg, entry, root = built
    monkeypatch.setattr(prac.curve, "loss_and_accuracy", recovers_above(0.7))
    rs = rounds(entry, root, "prune.rounds=3", "prune.search_pace=adaptive", "prune.search_extend=3",
                "prune.search_cap=1")
    # chunks of 2 steps: round 1 stops after one and banks 6; round 2 spends its budget and the
    # bank and stops short of its 16 chunks; round 3 meets round 2's accuracy at once
    assert [x["steps"] for x in rs] == [2, 14, 2]
    assert [x["chunks"] for x in rs] == [1, 7, 1]
    assert [x["bank"] for x in rs] == [6, 0, 6]
    assert sum(x["steps"] for x in rs) <= 3 * BUDGET


def test_the_cap_pays_extra_budgets_while_it_lasts(built, monkeypatch):
    cfg, entry, root = built
    monkeypatch.setattr(prac.curve, "loss_and_accuracy", recovers_above(0.7))
    rs = rounds(entry, root, "prune.rounds=3", "prune.search_extend=3", "prune.search_cap=1.5")
    # the cap leaves 0.5 x 3 x 8 = 12 steps beyond the rounds' own budgets: round 2 never
    # recovers and takes one extra budget (a second would overdraw), leaving 4; round 3 meets
    # round 2's accuracy at once
    assert [x["steps"] for x in rs] == [8, 16, 8]
    assert [x["bank"] for x in rs] == [12, 4, 4]
    assert sum(x["steps"] for x in rs) <= 1.5 * 3 * BUDGET
    uncapped = rounds(entry, root, "prune.rounds=3", "prune.search_extend=3", "prune.search_cap=null")
    assert [x["steps"] for x in uncapped] == [8, 32, 8]  # without it round 2 takes all four budgets
    assert all(x["bank"] is None for x in uncapped)
