"""Selectors on hand-made statistics: what each one picks, and that the registry is the config's."""

import torch

from prac.select.selectors import CCS_CUT, SELECTORS, hard_to_memorize

N = 200
LABELS = torch.arange(N) % 4


def stats():
    """Forgetting events 0..9 rising with the index, the last 20 never learned, samples 0..9 flipped."""
    fe = torch.arange(N) // 20
    never = torch.zeros(N, dtype=torch.bool)
    never[-20:] = True
    flipped = torch.zeros(N, dtype=torch.bool)
    flipped[:10] = True
    hard = (fe > 4) | never
    return {"forgetting_events": fe, "never_learned": never, "prune_flipped": flipped,
            "index": torch.nonzero(hard | flipped).flatten()}


def test_forgetting_is_the_prac_set_without_the_flips():
    st = stats()
    picked = SELECTORS["forgetting"].pick(st, LABELS, None, 0, 4)
    assert torch.equal(picked, hard_to_memorize(st, 4)) and not torch.isin(torch.arange(10), picked).any()
    assert torch.isin(torch.arange(10), SELECTORS["prac"].pick(st, LABELS, None, 0, 4)).all()
    budget = SELECTORS["forgetting"].pick(st, LABELS, 60, 0, 4)   # fewer than the hard ones: drawn among them
    assert len(budget) == 60 and torch.isin(budget, hard_to_memorize(st, 4)).all()


def test_ccs_cuts_the_hardest_and_covers_the_rest_of_the_range():
    st = stats()
    picked = SELECTORS["ccs"].pick(st, LABELS, 40, 0, 4)
    assert len(picked) == 40 and len(torch.unique(picked)) == 40
    score = st["forgetting_events"].float() + st["never_learned"].float() + st["prune_flipped"].float()
    cut = torch.argsort(score, stable=True)[N - int(CCS_CUT * N):]
    assert not torch.isin(picked, cut).any()                   # the hardest tenth (never learned) is left out
    assert len(torch.unique(score[picked])) >= 8               # every difficulty level left is covered
    assert torch.bincount(LABELS[picked], minlength=4).tolist() == [10, 10, 10, 10]  # class-balanced
    assert torch.equal(picked, SELECTORS["ccs"].pick(st, LABELS, 40, 0, 4))          # deterministic given the seed


def test_el2n_takes_the_largest_early_error_norms():
    st = {**stats(), "el2n": torch.linspace(0, 1, N).flip(0)}   # sample 0 the hardest
    picked = SELECTORS["el2n"].pick(st, LABELS, 30, 0, 4)
    assert torch.equal(picked, torch.arange(30))
    assert len(SELECTORS["el2n"].pick(st, LABELS, None, 0, 4)) == len(st["index"])   # the PrAC set's size


def test_the_shipped_prac_selector_keeps_never_learned_samples_out_of_the_set_and_the_fill():
    st = stats()                                                   # the last 20 never learned
    never = torch.nonzero(st["never_learned"]).flatten()
    natural = SELECTORS["prac"].pick(st, LABELS, None, 0, 4)
    assert torch.equal(natural, st["index"][~st["never_learned"][st["index"]]])
    assert torch.isin(never, SELECTORS["prac_paper"].pick(st, LABELS, None, 0, 4)).all()   # the paper's rule keeps them
    for size in (40, 150):                                         # drawn among the members, or topped up
        budget = SELECTORS["prac"].pick(st, LABELS, size, 0, 4)
        assert len(budget) == size and not torch.isin(budget, never).any()
    # the flip probe's refresh honours the same bar
    from prac.select.selectors import refresh
    pool = refresh(natural, never[:5], st, 4, LABELS, 150, 1, union=False,
                   barred=SELECTORS["prac"].barred(st))
    assert len(pool) == 150 and not torch.isin(pool, never).any()
