"""The planted-ticket tasks of Plant 'n' Seek (Fischer & Burkholz, ICLR 2022): seeded data,
the host MLP that hides each task's target, and the calibrated strong-ticket metric.

- circle (4 classes): x ~ U[−1,1]²; class = how many of 0.2, 0.5, 0.7 x₁² + x₂² exceeds;
  1 % of labels move to the adjacent ring across the nearest threshold (the reference's
  "second most likely class").
- helix (regression): x ~ U[−1,1], y = (t cos t, t sin t, t)/8π + N(0, 0.01²), t = 5π + 3πx.
- relu (regression): x ~ U[−1,1], y = max(x, 0) + N(0, 0.01²).

Train and test samples are drawn independently from one seeded stream; the host is drawn
from a second stream spawned from the same seed, so data and weights are never correlated.

Biases are never masked (``prac`` prunes weights only). The planted mask needs no bias
handling: a host unit off the target keeps its random bias, but every weight leaving it is
outside the mask, so it reaches no planted unit; the masked host divided by
``output_scale`` is the target to float rounding. A planted ticket's raw outputs are that
small scale times the target's (a sparse path of typical host weights shrinks the signal by
about 0.14 per layer at width 100), so a strong ticket is judged after a per-output
positive scale (and, for the circle's logits, a shift) fitted on the training split
(``strong_metric_calibrated``); ``output_scale`` is kept so a bench can also undo the
planted scales exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from prac.errors import PracError
from prac.models.planted import TASKS, THRESHOLDS, helix, plant, target_network

NOISE_STD, FLIP_PROB = 0.01, 0.01


@dataclass
class PlantedTask:
    name: str
    x_train: torch.Tensor  # float32 N × d_in
    y_train: torch.Tensor  # int64 classes (circle) or float32 N × d_out
    x_test: torch.Tensor
    y_test: torch.Tensor
    regression: bool
    noise_std: float  # std of the Gaussian noise on regression targets (0 for circle)
    flip_prob: float  # probability a circle label moves to the adjacent ring (0 for regression)
    host: nn.Module  # the initialised host MLP, target planted
    mask: dict[str, torch.Tensor]  # the planted ticket: weight name -> bool, True on target edges
    scales: dict[str, torch.Tensor]  # weight name -> per-unit scale λ (0 on units off the target)
    output_scale: torch.Tensor  # masked host output / target output, per output
    density: float  # ρ*: planted edges / all host weights
    layer_densities: dict[str, float]
    target: nn.Module  # the hand-made sparse solution (unpadded)

    def summary(self) -> dict:
        """JSON-ready facts about the planting (for reports)."""
        return {"task": self.name, "density": self.density, "layer_densities": self.layer_densities,
                "edges": sum(int(m.sum()) for m in self.mask.values()),
                "output_scale": self.output_scale.tolist(),
                "unit_scales": {n: [float(s[s > 0].min()), float(s.max())] for n, s in self.scales.items()}}


def ring(x: torch.Tensor) -> torch.Tensor:
    """Noiseless circle class of each row of x: how many thresholds x₁² + x₂² exceeds."""
    return (x.square().sum(1, keepdim=True) > torch.tensor(THRESHOLDS)).sum(1)


def _circle_labels(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    c = ring(x)
    s = x.square().sum(1)
    edges = torch.tensor([-torch.inf, *THRESHOLDS, torch.inf])
    down = s - edges[c] < edges[c + 1] - s  # the lower threshold is nearer (never for class 0)
    flip = torch.rand(len(x), generator=generator) < FLIP_PROB
    return torch.where(flip, c + torch.where(down, -1, 1), c)


def sample(name: str, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples (x, y) of task ``name``."""
    x = torch.rand(n, 2 if name == "circle" else 1, generator=generator) * 2 - 1
    if name == "circle":
        return x, _circle_labels(x, generator)
    if name == "helix":
        clean = helix(x)
    elif name == "relu":
        clean = x.clamp_min(0)
    else:
        raise PracError(f"unknown planted task '{name}'; use one of: {', '.join(TASKS)}")
    return x, clean + NOISE_STD * torch.randn(clean.shape, generator=generator)


def make_task(name: str, seed: int, n_train: int = 9000, n_test: int = 1000,
              widths: Sequence[int] = (100, 100, 100)) -> PlantedTask:
    """Task ``name``'s data and its target planted in a host of hidden ``widths``, from ``seed``."""
    data_seed, host_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2, np.uint64))
    gen = torch.Generator().manual_seed(data_seed)
    x_train, y_train = sample(name, n_train, gen)
    x_test, y_test = sample(name, n_test, gen)
    target = target_network(name)
    host, mask, scales = plant(target, widths, host_seed)
    out = list(mask)[-1]
    return PlantedTask(
        name=name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        regression=name != "circle", noise_std=NOISE_STD if name != "circle" else 0.0,
        flip_prob=FLIP_PROB if name == "circle" else 0.0, host=host, mask=mask, scales=scales,
        output_scale=scales[out],
        density=sum(int(m.sum()) for m in mask.values()) / sum(m.numel() for m in mask.values()),
        layer_densities={n: float(m.double().mean()) for n, m in mask.items()}, target=target)


@torch.no_grad()
def masked_forward(model: nn.Module, masks: dict[str, torch.Tensor] | None, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` with every masked weight multiplied by its mask (the model is left as it is)."""
    params = dict(model.named_parameters())
    swap = {n: params[n] * m.to(params[n].device, params[n].dtype) for n, m in (masks or {}).items()}
    return functional_call(model, swap, (x,))


def calibrate(outputs: torch.Tensor, y: torch.Tensor, regression: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output positive scale α and shift β fitted on (outputs, y); calibrated = α ⊙ out + β.

    Regression: least-squares α ≥ 0, β = 0. Classification: α > 0 and β of minimum
    cross-entropy (vector scaling). A scale alone must also set each class's confidence,
    and trades that against where the classes meet: on the circle oracle it costs 0.3 to
    1.2 pp; with β the logits, affine in ŝ, can put every ring boundary where the data do."""
    z = outputs.double()
    if regression:
        energy = z.square().sum(0)
        alpha = (y.double() * z).sum(0) / energy.clamp_min(1e-300)
        return torch.where(energy > 0, alpha.clamp_min(0), 0).float(), torch.zeros(z.shape[1])
    # start from "every class's logits at unit size"; optimise log α so α stays positive
    log_alpha = (-z.abs().mean(0).clamp_min(1e-30).log()).requires_grad_()
    beta = torch.zeros(z.shape[1], dtype=z.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([log_alpha, beta], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(z * log_alpha.exp() + beta, y)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return log_alpha.detach().exp().float(), beta.detach().float()


def metric(outputs: torch.Tensor, y: torch.Tensor, regression: bool) -> float:
    """MSE over every entry (regression) or accuracy (classification)."""
    if regression:
        return float((outputs - y).square().mean())
    return float((outputs.argmax(1) == y).float().mean())


def strong_metric_calibrated(task: PlantedTask, masks: dict[str, torch.Tensor] | None = None,
                             model: nn.Module | None = None) -> float:
    """Test metric of ``model`` (default the host) under ``masks`` (default the planted mask),
    untrained, after a per-output positive scale (and, for classes, shift) fitted on the
    training split (``calibrate``)."""
    model = task.host if model is None else model
    masks = task.mask if masks is None else masks
    alpha, beta = calibrate(masked_forward(model, masks, task.x_train), task.y_train, task.regression)
    return metric(masked_forward(model, masks, task.x_test) * alpha + beta, task.y_test, task.regression)
