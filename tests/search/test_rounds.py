"""A search round's pace: extra budgets while validation falls short, quarter budgets at the
adaptive pace, and the bank that the cap fills. Validation is patched, so every check's
outcome is known in advance."""

from pathlib import Path

import pytest
import torch

import prac.train.curve
import prac.search.rounds
from prac.config.load import load_config
from prac.search.loop import find_ticket
from prac.setup import from_config
from prac.search.validate import round_seed

BUDGET = round(0.1 * 4 * 19)  # prune.search_budget=0.1 of a 4-epoch round of 19 batches: 8 steps


def rounds(entry, root, n, *overrides):
    """Search rounds 1..n of a search of n + 1 rounds: the last round of a fine-tuning search
    is not trained (its mask, fixed by round n, is its ticket), so these are the trained ones."""
    cfg = load_config(None, ["train.epochs=4", "dataset.train_limit=600", "prune.search_budget=0.1",
                             f"prune.rounds={n + 1}", *overrides])
    report = find_ticket(from_config(cfg), entry, root)
    rs = report["rounds"][1:]
    assert rs[-1]["steps"] == 0 and rs[-1]["chunks"] == 0
    assert "pruned and not trained" in (Path(report["run_dir"]) / "report.md").read_text()  # the user is told
    return rs[:-1]


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
    monkeypatch.setattr(prac.train.curve, "loss_and_accuracy", lambda *a, **k: (1.0, val))
    rs = rounds(entry, root, 2, "prune.search_extend=2", "prune.search_plateau=false")
    assert [x["chunks"] for x in rs] == chunks
    assert [x["steps"] for x in rs] == [c * BUDGET for c in chunks]


def test_an_adaptive_round_stops_once_validation_recovers_and_banks_the_rest_for_harder_rounds(built, monkeypatch):
    cfg, entry, root = built
    monkeypatch.setattr(prac.train.curve, "loss_and_accuracy", recovers_above(0.7))
    rs = rounds(entry, root, 3, "prune.search_pace=adaptive", "prune.search_extend=3", "prune.search_cap=1",
                "prune.search_plateau=false")
    # chunks of 2 steps: round 1 stops after one and banks 6; round 2 spends its budget and the
    # bank and stops short of its 16 chunks; round 3 meets round 2's accuracy at once
    assert [x["steps"] for x in rs] == [2, 14, 2]
    assert [x["chunks"] for x in rs] == [1, 7, 1]
    assert [x["bank"] for x in rs] == [6, 0, 6]
    assert sum(x["steps"] for x in rs) <= 3 * BUDGET


def test_the_cap_pays_extra_budgets_while_it_lasts(built, monkeypatch):
    cfg, entry, root = built
    monkeypatch.setattr(prac.train.curve, "loss_and_accuracy", recovers_above(0.7))
    rs = rounds(entry, root, 3, "prune.search_extend=3", "prune.search_cap=1.5", "prune.search_plateau=false")
    # the cap leaves 0.5 x 4 x 8 = 16 steps beyond the 4 rounds' own budgets: round 2 never
    # recovers and takes two extra budgets (a third would overdraw), leaving 0; round 3 meets
    # round 2's accuracy at once
    assert [x["steps"] for x in rs] == [8, 24, 8]
    assert [x["bank"] for x in rs] == [16, 0, 0]
    assert sum(x["steps"] for x in rs) <= 1.5 * 4 * BUDGET
    uncapped = rounds(entry, root, 3, "prune.search_extend=3", "prune.search_cap=null", "prune.search_plateau=false")
    assert [x["steps"] for x in uncapped] == [8, 32, 8]  # without it round 2 takes all four budgets
    assert all(x["bank"] is None for x in uncapped)


def test_late_rounds_rewind_and_train_their_own_larger_budget_once(built, monkeypatch):
    """prune.late_rewind=0.6: round 3 (52 % of the weights) starts from the rewind weights and
    trains late_budget of a full round, once, though its validation falls short of round 2's.
    Rounds 1 and 2 fine-tune: round 1 (validation 0 against the dense network's) takes its
    extra budget, round 2 meets round 1's 0 at once."""
    cfg, entry, root = built
    monkeypatch.setattr(prac.train.curve, "loss_and_accuracy", lambda *a, **k: (1.0, 0.0))
    started = []  # the first layer's weights as each round's first training starts
    real = prac.search.rounds.train

    def spy(model, *a, **k):
        w = next(p for p in model.parameters() if p.dim() == 2)
        started.append(w.detach().clone())
        return real(model, *a, **k)

    monkeypatch.setattr(prac.search.rounds, "train", spy)
    rs = rounds(entry, root, 3, "prune.search_extend=1", "prune.late_rewind=0.6", "prune.late_budget=0.5")
    late = round(0.5 * 4 * 19)
    assert [x["steps"] for x in rs] == [2 * BUDGET, BUDGET, late]
    assert [x["rewound"] for x in rs] == [False, False, True]
    # the fine-tuning rounds are evaluated at their checks only; the rewound one trains a
    # ticket from its rewind weights and keeps its curve (at least 20 points)
    assert [len(x["curve"]) for x in rs[:2]] == [2, 1] and len(rs[2]["curve"]) >= 20
    init = entry.dense()
    rewind = next(v for k, v in init.items() if k.startswith("rewind.") and v.dim() == 2)
    # chunks of rounds 1 and 2 start from trained weights, round 3's from the rewind weights
    assert [torch.equal(w, rewind) for w in started] == [False, False, False, True]


def by_chunk(monkeypatch, table):
    """Validation accuracy ``table[(round, chunk)]`` while that chunk of that round trains and
    after it; the chunk is read off the engine seed (``round_seed + 100_003 x chunk``), so a
    resumed chunk sees what it saw before the kill."""
    now = {}
    real = prac.search.rounds.train

    def spy(model, *a, seed, **k):
        for r in (1, 2):
            chunk, rest = divmod(seed - round_seed(0, r), 100_003)
            if rest == 0 and (r, chunk) in table:
                now["val"] = table[(r, chunk)]
        return real(model, *a, seed=seed, **k)

    monkeypatch.setattr(prac.search.rounds, "train", spy)
    monkeypatch.setattr(prac.train.curve, "loss_and_accuracy", lambda *a, **k: (1.0, now.get("val", 0.0)))
    return spy


# round 1 never recovers to the dense network's validation accuracy; its second budget leaves
# it where the first did, its third and fourth raise it. Round 2 meets round 1's at once.
PLATEAU = {(1, 0): 0.2, (1, 1): 0.2, (1, 2): 0.3, (1, 3): 0.4, (2, 0): 0.5}


def test_with_search_plateau_a_round_stops_when_a_budget_leaves_validation_where_it_was(built, monkeypatch):
    cfg, entry, root = built
    by_chunk(monkeypatch, PLATEAU)
    assert [x["chunks"] for x in rounds(entry, root, 2, "prune.search_extend=3", "prune.search_plateau=false")] == [4, 1]
    assert [x["chunks"] for x in rounds(entry, root, 2, "prune.search_extend=3")] == [2, 1]  # the default


def test_a_plateau_round_killed_after_its_second_budget_resumes_to_the_same_stop(built, monkeypatch, tmp_path):
    """The comparison with the budget before survives a kill: the resumed round compares its
    second budget's accuracy with the first's (restored from the checkpoint) and stops."""
    cfg, entry, root = built
    spy = by_chunk(monkeypatch, PLATEAU)
    killed = []

    def kill_after_second_budget(model, *a, seed, **k):
        st = spy(model, *a, seed=seed, **k)
        if seed == round_seed(0, 1) + 100_003 and not killed:
            killed.append(True)
            raise KeyboardInterrupt  # after the chunk's last epoch was checkpointed
        return st

    monkeypatch.setattr(prac.search.rounds, "train", kill_after_second_budget)
    overrides = ["prune.search_extend=3", "prune.search_plateau=true"]
    with pytest.raises(KeyboardInterrupt):
        rounds(entry, tmp_path / "killed", 2, *overrides)
    resumed = rounds(entry, tmp_path / "killed", 2, *overrides)
    assert killed and [x["chunks"] for x in resumed] == [2, 1]
    assert [x["steps"] for x in resumed] == [2 * BUDGET, BUDGET]
