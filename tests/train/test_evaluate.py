import pytest
import torch
from torch import nn

from prac.train.evaluate import evaluate, evaluate_mse
from prac.train.task import correctness, default_learned_mse


def test_evaluate_on_regression_is_the_fraction_learned_and_evaluate_mse_the_error():
    net = nn.Linear(1, 1)
    with torch.no_grad():
        net.weight.fill_(1.0)
        net.bias.zero_()                                    # the identity
    x = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    y = torch.tensor([[0.0], [1.05], [2.5], [3.0]])          # squared errors 0, .0025, .25, 0
    assert evaluate(net, x, y, batch_size=3, learned_mse=0.01) == 0.75
    assert evaluate(net, x, y, learned_mse=0.001) == 0.5
    assert evaluate_mse(net, x, y, batch_size=3) == pytest.approx((0.0025 + 0.25) / 4)
    assert default_learned_mse(y) == pytest.approx(0.01 * float(y.var(unbiased=False)))   # 1 % of the variance
    assert evaluate(net, x, y) == 0.75                      # that default: .0125 here
    with pytest.raises(ValueError, match="threshold"):
        correctness(net(x), y)                              # a batch never picks its own threshold
    assert evaluate(net, x, torch.tensor([0, 0, 0, 0])) == 1.0   # integer labels: accuracy, as before
