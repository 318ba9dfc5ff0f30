import torch
from torch import nn

from prac.select import prac_indices, predict, prune_flips, random_indices


def test_prac_is_hard_union_flipped_sorted_int64():
    fe = torch.tensor([0, 3, 1, 0, 0, 2])
    never = torch.tensor([False, False, False, True, False, False])
    flipped = torch.tensor([False, False, False, False, True, True])
    assert prac_indices(fe, never, flipped).tolist() == [1, 2, 3, 4, 5]
    ix = prac_indices(fe, never, flipped, threshold=1)
    assert ix.tolist() == [1, 3, 4, 5] and ix.dtype == torch.int64
    assert prac_indices(fe, never, torch.zeros(6, dtype=torch.bool), threshold=2).tolist() == [1, 3]


def test_random_subset_is_sized_sorted_and_seeded():
    a, b, c = random_indices(100, 17, 0), random_indices(100, 17, 0), random_indices(100, 17, 1)
    assert len(a) == 17 and len(set(a.tolist())) == 17
    assert torch.equal(a, a.sort().values) and torch.equal(a, b) and not torch.equal(a, c)


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2, bias=False)
        self.out = nn.Linear(2, 2, bias=False)

    def forward(self, x):
        return self.out(self.fc(x))


def test_prune_flips_marks_samples_whose_prediction_changes_and_restores_weights():
    m = Toy()
    with torch.no_grad():
        m.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.1]]))   # the 0.1 is the weakest weight
        m.out.weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 6.0]])
    # before: class 0, class 1 (0 vs 0.1), class 1 (0.5 vs 0.6); pruning keeps only the 1.0
    before = predict(m, x)
    flips = prune_flips(m, None, x, rate=0.75, out_rate=0.0)   # keeps 1 of the 4 fc weights
    after_weights = m.fc.weight.clone()
    assert torch.equal(after_weights, torch.tensor([[1.0, 0.0], [0.0, 0.1]]))
    with torch.no_grad():
        m.fc.weight.mul_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert flips.tolist() == (predict(m, x) != before).tolist()
    assert flips.tolist() == [False, True, True]


def test_budget_subset_keeps_every_member_and_tops_up_class_balanced():
    from prac.select import budget_subset

    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    members = torch.tensor([0, 1, 2, 60])                       # three of class 0, one of class 1
    score = torch.zeros(100)
    out = budget_subset(members, score, labels, 16, seed=0)
    assert len(out) == 16 and len(set(out.tolist())) == 16 and set(members.tolist()) <= set(out.tolist())
    counts = torch.bincount(labels[out], minlength=3).tolist()
    assert max(counts) - min(counts) <= 1                         # the members count towards their class
    assert torch.equal(out, budget_subset(members, score, labels, 16, seed=0))   # deterministic
    assert not torch.equal(out, budget_subset(members, score, labels, 16, seed=1))


def test_budget_subset_of_many_members_is_balanced_and_covers_the_score_range():
    from prac.select import budget_subset

    labels = torch.arange(400) % 2
    score = torch.arange(400).float()                            # 10 strata of 40 samples each
    members = torch.arange(400)
    out = budget_subset(members, score, labels, 40, seed=0)
    assert len(out) == 40 and torch.bincount(labels[out]).tolist() == [20, 20]
    strata = torch.bincount((score[out] // 40).long(), minlength=10)
    assert strata.tolist() == [4] * 10                            # spread evenly over the range, not hardest-first
    small = budget_subset(torch.tensor([1, 3, 5]), score, labels, 40, seed=0)   # class 1 members only
    assert torch.bincount(labels[small]).tolist() == [20, 20]


def test_prune_flips_for_regression_is_a_crossing_of_the_learned_threshold():
    m = Toy()
    with torch.no_grad():
        m.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.1]]))   # pruning keeps only the 1.0
        m.out.weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 6.0], [0.0, 1.0], [0.0, 1.0]])
    # outputs before: [1,0] [0,.1] [.5,.6] [0,.1] [0,.1]; after pruning: [1,0] [0,0] [.5,0] [0,0] [0,0]
    y = torch.tensor([[1.0, 0.0],    # learned before and after: no flip
                      [0.0, 0.1],    # learned, then error .005 (mean over outputs): a flip
                      [0.5, 0.6],    # learned, then error .18: a flip
                      [5.0, 5.0],    # never close: the prediction changes, learned-ness does not
                      [0.0, 0.0]])   # error .005, then 0: learned only once pruned, a flip too
    flips = prune_flips(m, None, x, rate=0.75, out_rate=0.0, y=y, learned_mse=0.001)
    assert flips.tolist() == [False, True, True, False, True]
    assert torch.equal(m.fc.weight, torch.tensor([[1.0, 0.0], [0.0, 0.1]]))   # weights restored
    # the dense outputs as the reference give the same answer; a looser threshold sees fewer flips
    with torch.no_grad():
        dense = m(x)
    assert torch.equal(prune_flips(m, None, x, 0.75, 0.0, reference=dense, y=y, learned_mse=0.001), flips)
    assert prune_flips(m, None, x, 0.75, 0.0, y=y, learned_mse=0.01).tolist() == [False, False, True, False, False]
    # class labels (or no y) keep the classification rule, also with raw outputs as the reference
    assert torch.equal(prune_flips(m, None, x, 0.75, 0.0, reference=dense, y=torch.zeros(5, dtype=torch.long)),
                       prune_flips(m, None, x, 0.75, 0.0))


def test_budget_subset_treats_regression_targets_as_one_class():
    from prac.select import budget_subset
    from prac.train.task import class_counts

    y = torch.linspace(0, 1, 100)[:, None]                      # float targets: no classes
    members = torch.tensor([0, 1, 2, 60])
    out = budget_subset(members, torch.zeros(100), y, 16, seed=0)
    assert len(out) == 16 and len(set(out.tolist())) == 16 and set(members.tolist()) <= set(out.tolist())
    assert torch.equal(out, budget_subset(members, torch.zeros(100), y, 16, seed=0))
    many = budget_subset(torch.arange(100), torch.arange(100).float(), y, 20, seed=0)
    assert len(many) == 20 and torch.bincount((many // 10)).tolist() == [2] * 10   # strata of the score
    assert class_counts(y, 1) == [100] and class_counts(torch.tensor([0, 2, 2]), 3) == [1, 0, 2]


def _sweep(have, room, size):
    """The one-by-one water-filling that ``water_fill`` replaces: raise the emptiest classes
    with room left by one place each, in class order, until ``size`` places are given."""
    take, left = [0] * len(have), size
    while left > 0:
        open_ = [c for c in range(len(have)) if take[c] < room[c]]
        if not open_:
            break
        level = min(have[c] + take[c] for c in open_)
        for c in open_:
            if left and have[c] + take[c] == level:
                take[c] += 1
                left -= 1
    return take


def test_water_fill_gives_each_class_what_the_one_by_one_sweep_gives():
    from prac.select.rules import water_fill

    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        k = int(torch.randint(1, 12, (1,), generator=g))
        have = torch.randint(0, 6, (k,), generator=g).tolist()
        room = torch.randint(0, 40, (k,), generator=g).tolist()
        size = int(torch.randint(0, sum(room) + 5, (1,), generator=g))
        assert water_fill(have, room, size) == _sweep(have, room, size), (have, room, size)
    assert water_fill([0, 0, 3], [5, 1, 5], 6) == [4, 1, 1]    # class 1 is full at 1; class 2 joins at level 3
