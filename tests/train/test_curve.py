import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import prac.train.curve
from prac.config.schema import TrainConfig
from prac.train.curve import Curve, cost, points, spacing
from prac.train.loop import train
from prac.train.evaluate import evaluate


def test_points_default_to_twenty_per_run_and_always_include_the_last_step():
    assert spacing(95, None) == 4 and len(points(95, None)) == 23 + 1 and points(95, None)[-1] == 95
    assert len(points(400, None)) == 20 and points(400, None)[:2] == [20, 40]
    assert points(7, None) == list(range(1, 8))           # a short run: a point per step
    assert points(50, 0) == [50] and points(50, 20) == [20, 40, 50]


def splits():
    # test rows: class 0 at x=+1, class 1 at x=-1; a 1-in 2-out linear model whose sign decides the class
    x = torch.tensor([[1.0], [-1.0]])
    return {"x_val": x, "y_val": torch.tensor([0, 1]), "x_test": x, "y_test": torch.tensor([0, 1])}


def test_the_early_stop_step_is_the_first_minimum_of_a_hand_made_validation_curve(monkeypatch):
    losses = iter([0.9, 0.5, 0.7, 0.4, 0.6, 0.4])            # steps 2, 4, ..., 12: minimum at step 8
    monkeypatch.setattr(prac.train.curve, "loss_and_accuracy", lambda *a, **k: (next(losses), 0.5))
    model = nn.Linear(1, 2, bias=False)
    curve = Curve(splits(), total_steps=12, every=2)
    for step in range(1, 13):
        with torch.no_grad():  # right (sign +) at the early stop, wrong (sign -) at the end
            model.weight.copy_(torch.tensor([[1.0], [-1.0]]) * (1 if step <= 8 else -1))
        curve.on_step(step, model)
    res = curve.finish(model, 12)
    assert [p["step"] for p in res["curve"]] == [2, 4, 6, 8, 10, 12]
    assert res["early_stop_step"] == 8 and res["early_stop_val_loss"] == 0.4   # the tie at step 12 keeps step 8
    assert res["early_stop_test_acc"] == 1.0 and res["test_acc"] == 0.0       # the step-8 weights were tested
    assert model.weight[0, 0] == -1.0                                          # the model keeps its final weights
    assert curve.evaluated() == 6 * 2 + 2 * 2                                  # 6 val passes, 2 test passes
    assert cost(12, 2, 2, 2) == 6 * 2 + 2                                      # the account's rule: one test pass


class Probe:
    """Evaluates separately, at the same steps as the curve, what the curve should record."""

    def __init__(self, t, every):
        self.t, self.every, self.seen = t, every, []

    def on_step(self, step, model):
        if step % self.every == 0:
            with torch.no_grad():
                was = model.training
                model.eval()
                out = model(self.t["x_val"])
                model.train(was)
            self.seen.append((step, F.cross_entropy(out, self.t["y_val"]).item(),
                              evaluate(model, self.t["x_val"], self.t["y_val"])))


def test_the_curve_is_what_a_separate_evaluation_gives_and_leaves_training_unchanged():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 8, generator=g), torch.randint(0, 3, (300,), generator=g)
    t = {"x_val": x[200:250], "y_val": y[200:250], "x_test": x[250:], "y_test": y[250:]}
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    bare = copy.deepcopy(net)
    cfg = TrainConfig(epochs=3, batch_size=20, lr=1e-2)
    curve, probe = Curve(t, total_steps=30, every=5), Probe(t, 5)
    train(net, x, y, torch.arange(200), cfg, epochs=3, seed=1, listeners=[probe, curve])
    train(bare, x, y, torch.arange(200), cfg, epochs=3, seed=1)
    res = curve.finish(net, 30)
    assert [(p["step"], p["val_acc"]) for p in res["curve"]] == [(s, a) for s, _, a in probe.seen]
    assert [p["val_loss"] for p in res["curve"]] == pytest.approx([l for _, l, _ in probe.seen], rel=1e-6)
    for a, b in zip(net.state_dict().values(), bare.state_dict().values()):   # evaluating never changed training
        assert torch.equal(a, b)


def test_a_curve_resumes_from_its_state(monkeypatch):
    monkeypatch.setattr(prac.train.curve, "loss_and_accuracy", lambda m, *a, **k: (float(m.weight.detach().sum()), 0.0))
    model = nn.Linear(1, 1, bias=False)
    first = Curve(splits(), total_steps=4, every=1)
    for step, w in zip(range(1, 3), (3.0, 1.0)):
        with torch.no_grad():
            model.weight.fill_(w)
        first.on_step(step, model)
    again = Curve(splits(), total_steps=4, every=1)
    again.load_state_dict(copy.deepcopy(first.state_dict()))
    for step, w in zip(range(3, 5), (2.0, 4.0)):
        with torch.no_grad():
            model.weight.fill_(w)
        again.on_step(step, model)
    assert [p["val_loss"] for p in again.points] == [3.0, 1.0, 2.0, 4.0] and again.best["step"] == 2
    assert float(again.best["weights"]["weight"]) == 1.0
