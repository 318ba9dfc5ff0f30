"""A search round's budgets: extra budgets while validation falls short (the finetune
policy's extend), stopped by a plateau, through a kill; a rewinding round trains once from
the rewind weights. Validation is patched, so every check's outcome is known in advance."""

import dataclasses
from pathlib import Path

import pytest
import torch

import prac.train.curve
import prac.search.rounds
from prac.config.load import load_config
from prac.search.loop import run_search
from prac.search.policies import POLICIES
from prac.setup import from_config
from prac.search.run import round_seed

BUDGET = round(0.1 * 4 * 19)  # prune.search_budget=0.1 of a 4-epoch round of 19 batches: 8 steps


def finetune(monkeypatch, **changes):
    """The finetune policy with other extension settings (not config keys: a run under them
    has the same name, so give it its own artifact root), and no one-shot rounds: patched
    validation would make every round one-shot, and these tests are about trained rounds."""
    changes = {"oneshot_drop": None, **changes}
    monkeypatch.setitem(POLICIES, "finetune", dataclasses.replace(POLICIES["finetune"], **changes))


def rounds(entry, root, n, *overrides):
    """Search rounds 1..n of a search of n + 1 rounds: the last round of a fine-tuning search
    is not trained (its mask, fixed by round n, is its ticket), so these are the trained ones."""
    cfg = load_config(None, ["train.epochs=4", "dataset.train_limit=600", "prune.search_budget=0.1",
                             f"prune.rounds={n + 1}", *overrides])
    report = run_search(from_config(cfg), entry, root)
    rs = report["rounds"][1:]
    assert rs[-1]["steps"] == 0 and rs[-1]["chunks"] == 0
    assert "pruned and not trained" in (Path(report["run_dir"]) / "report.md").read_text()  # the user is told
    return rs[:-1]


# 0.0 fails round 1's check against the dense network and makes round 1's own accuracy 0,
# which round 2 then meets at once; 1.0 passes every check
@pytest.mark.parametrize("val, chunks", [(0.0, [3, 1]), (1.0, [1, 1])])
def test_a_round_whose_validation_falls_short_gets_more_budgets_up_to_the_cap(built, monkeypatch, val, chunks):
    cfg, entry, root = built
    monkeypatch.setattr(prac.train.curve, "loss_and_accuracy", lambda *a, **k: (1.0, val))
    finetune(monkeypatch, extend=2, plateau=False)
    rs = rounds(entry, root, 2)
    assert [x["chunks"] for x in rs] == chunks
    assert [x["steps"] for x in rs] == [c * BUDGET for c in chunks]


def first_layer_as_each_training_starts(monkeypatch):
    """The first layer's weights as each of a round's trainings starts."""
    started = []
    real = prac.search.rounds.train

    def spy(model, *a, **k):
        w = next(p for p in model.parameters() if p.dim() == 2)
        started.append(w.detach().clone())
        return real(model, *a, **k)

    monkeypatch.setattr(prac.search.rounds, "train", spy)
    return started


def test_fine_tuning_rounds_keep_the_trained_weights_and_are_evaluated_at_their_checks_only(built, monkeypatch):
    """Validation 0: round 1 falls short of the dense network and takes its extra budget;
    round 2 meets round 1's 0 at once. Every budget starts from trained weights."""
    cfg, entry, root = built
    monkeypatch.setattr(prac.train.curve, "loss_and_accuracy", lambda *a, **k: (1.0, 0.0))
    started = first_layer_as_each_training_starts(monkeypatch)
    finetune(monkeypatch, extend=1)
    rs = rounds(entry, root, 2)
    assert [x["steps"] for x in rs] == [2 * BUDGET, BUDGET] and [x["rewound"] for x in rs] == [False, False]
    assert [len(x["curve"]) for x in rs] == [2, 1]       # a point per budget check, none between
    rewind = next(v for k, v in entry.dense().items() if k.startswith("rewind.") and v.dim() == 2)
    assert len(started) == 3 and not any(torch.equal(w, rewind) for w in started)


def test_rewinding_rounds_train_once_from_the_rewind_weights_and_keep_their_curve(built, monkeypatch):
    """prune.search=imp (a rewinding policy): every round, the last included, starts from the
    rewind weights and trains its steps once, though its validation falls short of the round
    before; a rewound round is a ticket, so it keeps its curve's points."""
    cfg, entry, root = built
    monkeypatch.setattr(prac.train.curve, "loss_and_accuracy", lambda *a, **k: (1.0, 0.0))
    started = first_layer_as_each_training_starts(monkeypatch)
    c = load_config(None, ["train.epochs=4", "dataset.train_limit=600", "prune.rounds=2", "prune.search=imp"])
    rs = run_search(from_config(c), entry, root)["rounds"][1:]
    assert [x["steps"] for x in rs] == [4 * 19] * 2 and [x["chunks"] for x in rs] == [1, 1]
    assert [x["rewound"] for x in rs] == [True, True] and all(len(x["curve"]) >= 20 for x in rs)
    rewind = next(v for k, v in entry.dense().items() if k.startswith("rewind.") and v.dim() == 2)
    assert len(started) == 2 and all(torch.equal(w, rewind) for w in started)


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


def test_with_the_plateau_stop_a_round_stops_when_a_budget_leaves_validation_where_it_was(built, monkeypatch):
    cfg, entry, root = built
    by_chunk(monkeypatch, PLATEAU)
    assert (POLICIES["finetune"].extend, POLICIES["finetune"].plateau) == (3, True)   # the shipped recipe
    assert [x["chunks"] for x in rounds(entry, root / "shipped", 2)] == [2, 1]
    finetune(monkeypatch, plateau=False)
    assert [x["chunks"] for x in rounds(entry, root / "no-plateau", 2)] == [4, 1]


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
    with pytest.raises(KeyboardInterrupt):  # the shipped policy: extend 3, plateau stop
        rounds(entry, tmp_path / "killed", 2)
    resumed = rounds(entry, tmp_path / "killed", 2)
    assert killed and [x["chunks"] for x in resumed] == [2, 1]
    assert [x["steps"] for x in resumed] == [2 * BUDGET, BUDGET]
