import pytest
import torch
import torch.nn.functional as F

from prac.train.task import DISTILL_TEMPERATURE, distill_loss, distill_mse, mse_loss, task_loss


def test_distill_loss_mixes_labels_and_soft_targets():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    labels = torch.tensor([0, 1])
    assert torch.allclose(distill_loss(logits, labels, logits * 7, 0.0), F.cross_entropy(logits, labels, reduction="sum"))
    assert float(distill_loss(logits, labels, logits, 1.0)) == pytest.approx(0.0, abs=1e-6)   # the teacher itself
    t = DISTILL_TEMPERATURE
    teacher = torch.tensor([[0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
    kl = (F.softmax(teacher / t, 1) * (F.log_softmax(teacher / t, 1) - F.log_softmax(logits / t, 1))).sum()
    assert float(distill_loss(logits, labels, teacher, 1.0)) == pytest.approx(float(t * t * kl), rel=1e-5)


def test_task_loss_for_regression_sums_outputs_and_averages_samples():
    out = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    y = torch.tensor([[0.0, 0.0], [0.0, 1.0]])               # per-sample squared errors summed: 5 and 1
    assert float(task_loss(out, y)) == pytest.approx(3.0)
    assert float(task_loss(out, y, reduction="sum")) == pytest.approx(6.0)   # = mean x N, as DDP needs
    assert mse_loss(out, y, reduction="none").tolist() == [5.0, 1.0]
    assert float(task_loss(torch.tensor([[2.0], [0.0]]), torch.tensor([0.0, 1.0]))) == pytest.approx(2.5)  # N targets
    labels = torch.tensor([1, 0])                           # integer labels: still cross-entropy
    assert torch.allclose(task_loss(out, labels), F.cross_entropy(out, labels))


def test_distill_mse_mixes_targets_and_teacher_outputs():
    out = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    y = torch.zeros(2, 2)
    teacher = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    assert float(distill_mse(out, y, teacher, 0.0)) == pytest.approx(5.0)    # squared error to y, summed
    assert float(distill_mse(out, y, teacher, 1.0)) == pytest.approx(4.0)    # to the teacher
    assert float(distill_mse(out, y, teacher, 0.5)) == pytest.approx(4.5)
