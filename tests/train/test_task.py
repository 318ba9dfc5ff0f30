import pytest
import torch
import torch.nn.functional as F

from prac.train.task import mse_loss, task_loss


def test_task_loss_for_regression_sums_outputs_and_averages_samples():
    out = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    y = torch.tensor([[0.0, 0.0], [0.0, 1.0]])               # per-sample squared errors summed: 5 and 1
    assert float(task_loss(out, y)) == pytest.approx(3.0)
    assert float(task_loss(out, y, reduction="sum")) == pytest.approx(6.0)   # = mean x N, as DDP needs
    assert mse_loss(out, y, reduction="none").tolist() == [5.0, 1.0]
    assert float(task_loss(torch.tensor([[2.0], [0.0]]), torch.tensor([0.0, 1.0]))) == pytest.approx(2.5)  # N targets
    labels = torch.tensor([1, 0])                           # integer labels: still cross-entropy
    assert torch.allclose(task_loss(out, labels), F.cross_entropy(out, labels))

