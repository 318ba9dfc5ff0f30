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
