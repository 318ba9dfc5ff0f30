"""Planted-ticket tasks: seeded data, targets that solve them, a planting the masked host
reproduces exactly, and an oracle (the planted mask) that passes the calibrated strong check."""

import copy
import math

import pytest
import torch

from prac.data.planted import (NOISE_STD, calibrate, make_task, masked_forward, ring, sample,
                               strong_metric_calibrated)
from prac.errors import PracError
from prac.models.planted import TASKS, _match, helix, linears, pad, target_network


@pytest.fixture(scope="module")
def tasks():
    return {name: make_task(name, seed=0) for name in TASKS}


def test_data_are_seeded():
    a, b, c = make_task("helix", 1), make_task("helix", 1), make_task("helix", 2)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert torch.equal(a.host.hidden[1].weight, b.host.hidden[1].weight)
    assert not torch.equal(a.x_train, c.x_train)
    assert not torch.equal(a.host.hidden[1].weight, c.host.hidden[1].weight)
    assert a.x_train.shape == (9000, 1) and a.y_train.shape == (9000, 3) and a.x_test.shape == (1000, 1)
    assert not torch.equal(a.x_train[:1000], a.x_test)  # test drawn on its own, not a copy


def test_circle_classes_and_label_noise(tasks):
    task = tasks["circle"]
    assert task.y_train.dtype == torch.int64 and not task.regression
    share = torch.bincount(task.y_train, minlength=4).double() / len(task.y_train)
    area = torch.tensor([0.2, 0.3, 0.2, 0]) * math.pi / 4  # ring areas over the square's 4
    area[3] = 1 - area.sum()
    assert torch.allclose(share, area.double(), atol=0.02)
    moved = task.y_train - ring(task.x_train)
    assert 0.005 < float((moved != 0).double().mean()) < 0.02
    assert int(moved.abs().max()) == 1  # only to an adjacent ring


def test_targets_solve_their_tasks():
    x2 = sample("circle", 5000, torch.Generator().manual_seed(3))[0]
    x1 = torch.rand(5000, 1, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        assert float((target_network("circle")(x2).argmax(1) == ring(x2)).double().mean()) >= 0.99
        assert float((target_network("helix")(x1) - helix(x1)).square().mean()) < 0.5 * NOISE_STD**2
        assert torch.allclose(target_network("relu")(x1), x1.clamp_min(0), atol=1e-7)


@pytest.mark.parametrize("name", TASKS)
def test_masked_host_reproduces_target(tasks, name):
    task = tasks[name]
    x = torch.randn(2000, task.x_train.shape[1], generator=torch.Generator().manual_seed(5)) * 2
    with torch.no_grad():
        want = task.target(x)
        got = masked_forward(task.host, task.mask, x) / task.output_scale
        assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max())
        # units off the target keep random biases, and nothing they emit is in the mask
        host = copy.deepcopy(task.host)
        for lin, m in zip(linears(host), task.mask.values()):
            lin.bias[~m.any(1)] += 10.0
        assert torch.equal(masked_forward(host, task.mask, x) / task.output_scale, got)


@pytest.mark.parametrize("name", TASKS)
def test_planted_mask_is_a_calibrated_strong_ticket(tasks, name):
    task = tasks[name]
    score = strong_metric_calibrated(task)
    if task.regression:
        assert score <= 3 * task.noise_std**2
        raw = float((masked_forward(task.host, task.mask, task.x_test) - task.y_test).square().mean())
        assert raw > 10 * score  # uncalibrated, the planted scales hide it
    else:
        assert score >= 0.97


@pytest.mark.parametrize("name", TASKS)
def test_mask_density_and_scales(tasks, name):
    task = tasks[name]
    target_edges = sum(int((lin.weight != 0).sum()) for lin in linears(task.target))
    padding = {"circle": 0, "helix": 1, "relu": 2}[name]  # identity edges on the narrowest layer
    edges = sum(int(m.sum()) for m in task.mask.values())
    total = sum(p.numel() for n, p in task.host.named_parameters() if n in task.mask)
    assert edges == target_edges + padding and task.density == pytest.approx(edges / total)
    for n, m in task.mask.items():
        assert m.dtype == torch.bool and task.layer_densities[n] == pytest.approx(float(m.double().mean()))
        # each planted unit carries one target unit and has a positive scale, others none
        assert torch.equal(m.any(1), task.scales[n] > 0)
    assert torch.equal(task.output_scale, task.scales[list(task.mask)[-1]])
    assert bool((task.output_scale > 0).all())
    if name == "relu":
        assert [int(m.sum()) for m in task.mask.values()] == [1, 1, 1, 1]


def test_planted_weights_keep_the_hosts_magnitude(tasks):
    # the reference's absolute-residual match favours small host units, so its scales collapse
    for task in tasks.values():
        logs = [(lin.weight.detach()[m].abs() / math.sqrt(2 / lin.in_features)).log()
                for m, lin in list(zip(task.mask.values(), linears(task.host)))[:-1]]
        ratio = float(torch.cat(logs).mean().exp())  # geometric mean; 0.53 for a host weight
        assert 0.25 < ratio < 2.5, (task.name, ratio)
        assert float(task.output_scale.min()) > 1e-6


def test_exact_ties_go_to_the_typical_host_unit():
    # one edge, no bias: every host unit of the right sign fits exactly
    host = torch.tensor([[0.0, 0.01], [0.0, -0.5], [0.0, 0.3], [0.0, 5.0], [0.0, 1.1]], dtype=torch.float64)
    units, lam = _match(torch.tensor([[0.0, 2.0]], dtype=torch.float64), host, torch.tensor([1.0]))
    assert units.tolist() == [4] and float(lam) == pytest.approx(0.55)
    # two target units never share a host unit, and signs must agree while a unit is left
    units, lam = _match(torch.tensor([[0.0, 1.0], [0.0, -1.0]], dtype=torch.float64), host, torch.ones(2))
    assert units.tolist() == [4, 1] and lam.tolist() == pytest.approx([1.1, 0.5])


def test_padding_is_exact_and_checked():
    layers = [(lin.weight.detach().double(), lin.bias.detach().double()) for lin in linears(target_network("helix"))]
    padded = pad(layers, 4)
    assert [w.shape for w, _ in padded] == [(1, 1), (1, 1), (1, 1), (30, 1), (3, 30)]
    x = torch.randn(100, 1, dtype=torch.float64) * 3

    def run(ls):
        h = x
        for i, (w, b) in enumerate(ls):
            h = h @ w.T + b
            h = h.relu() if i < len(ls) - 1 else h
        return h

    assert torch.equal(run(padded), run(layers))
    with pytest.raises(PracError):
        pad(layers, 1)
    with pytest.raises(PracError):
        make_task("spiral", 0)


def test_calibration_recovers_scale():
    y = torch.randn(500, 2)
    alpha, beta = calibrate(y / torch.tensor([5.0, 0.01]), y, regression=True)
    assert alpha.tolist() == pytest.approx([5.0, 0.01], rel=1e-5) and not beta.any()
    logits = torch.randn(2000, 3)
    labels = logits.argmax(1)
    alpha, beta = calibrate(logits * torch.tensor([1e-4, 2e-4, 3e-4]), labels, regression=False)
    assert float(((logits * torch.tensor([1e-4, 2e-4, 3e-4]) * alpha + beta).argmax(1) == labels).double().mean()) > 0.98
