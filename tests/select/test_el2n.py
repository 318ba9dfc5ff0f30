"""EL2N scores on hand-made logits, and gathered from the dense build's own training passes."""

import math

import torch

from prac.select.el2n import ErrorNorms, early_epochs
from prac.train.loop import train


def test_error_norms_on_hand_made_logits_average_the_early_epochs_only():
    norms = ErrorNorms(3, epochs=2)
    sure = torch.tensor([[10.0, -10.0]])           # softmax ~ (1, 0)
    even = torch.tensor([[0.0, 0.0]])              # softmax (0.5, 0.5)
    y = torch.tensor([0])
    for epoch, (a, b) in enumerate([(sure, even), (even, even), (sure, sure)]):
        if norms.wants_logits(epoch):
            norms.on_logits(torch.tensor([0, 1]), torch.cat([a, b]), torch.cat([y, y]))
    # sample 0: error norm ~0 (right and sure), then sqrt(0.5) (undecided); sample 1: sqrt(0.5) twice
    # sample 2 never came; epoch 2 is past the early epochs and is not counted
    assert torch.allclose(norms.scores, torch.tensor([math.sqrt(0.5) / 2, math.sqrt(0.5), 0.0]), atol=1e-6)
    assert norms.count.tolist() == [2, 2, 0]
    wrong = ErrorNorms(1, epochs=1)
    wrong.on_logits(torch.tensor([0]), torch.tensor([[-10.0, 10.0]]), y)  # sure of the other class
    assert abs(wrong.scores.item() - math.sqrt(2)) < 1e-6                  # the largest norm there is
    assert early_epochs(10) == 2 and early_epochs(30) == 6 and early_epochs(1) == 1


def test_the_loop_feeds_each_sample_once_per_early_epoch_and_the_scores_match_the_training_logits(tiny_overrides):
    from prac.config.load import load_config

    cfg = load_config(None, tiny_overrides).train
    torch.manual_seed(0)
    x, y = torch.randn(64, 8), torch.arange(64) % 3
    model = torch.nn.Linear(8, 3)
    norms, seen = ErrorNorms(64, epochs=1), []

    class Spy:
        def wants_logits(self, epoch):
            return epoch < 1

        def on_logits(self, idx, logits, yb):
            seen.append(idx.clone())

    train(model, x, y, torch.arange(64), cfg, epochs=3, seed=0, listeners=[norms, Spy()])
    assert torch.equal(torch.cat(seen).sort().values, torch.arange(64))   # the first epoch, every sample once
    assert norms.count.tolist() == [1] * 64 and (norms.scores > 0).all() and (norms.scores < math.sqrt(2)).all()
