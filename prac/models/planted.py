"""Planted tickets (Plant 'n' Seek, Fischer & Burkholz, ICLR 2022, arXiv 2111.11153): the
hand-made sparse target of each task, and planting it into a He-initialised host MLP.

A target is an ``MLP`` whose zero weights are absent edges. ``plant`` pads it to the host's
depth, draws the host, and hides the target in it layer by layer from the input: each
target unit takes the free host unit whose bias and weights from the already planted units
best match the target's up to a positive scale λ; those entries become λ × the target's
(the target's weights divided by the scales of the units they read from, so the planted
unit computes λ × the target unit). ``mask`` marks the target's edges, ``scales`` the λ of
every planted unit (0 elsewhere); the planted mask's output is the target's output times
the output layer's λ.

Choices, and the reference code's faults they avoid (RelationalML/PlantNSeek):
- Match = cosine similarity (the scale-free residual of the best positive scale); exact
  ties (a one-edge unit in a host with zero biases) go to the host unit of the most typical
  size. The reference ranks by the *absolute* residual, which favours host units of small
  norm, so its per-unit scales collapse (1e-7..3e-4 at depth 5). Here planted weights keep
  the host's typical magnitude, neither vanishing nor standing out to magnitude pruning. On
  these hosts (seeds 0-4) the output scales' minimum / median are 4e-4 / 6e-4..8e-4 for
  circle and helix, against 3e-6..7e-6 / 1e-4 with the absolute residual; relu's single
  output unit leaves no choice for its last edge (minimum 4e-5 either way).
- Every host unit carries at most one target unit; the reference can reuse one, or fall
  back to unit 0. When no free unit has the target's signs (in practice only in output
  layers, where every host unit must be used), the most similar one is taken with
  λ = |host| / |target|, keeping its magnitude; weights are overwritten either way.
- Padding is exact for every input: it repeats a post-ReLU layer as ReLU(I·h) = h (h ≥ 0).
  The reference shifts the outputs by +1, passes them through identities and shifts back,
  which is exact only where every output is above −1.
- The host follows the reference's ``init_He_scaled`` (used by all its experiments):
  weights N(0, 2/fan_in), the biases of layer l N(0, σ_l²) with σ_l = ∏_{k≤l}
  sqrt(2/fan_in_k), the size a planted unit's λ grows to, so planted biases look like the
  host's.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from prac.errors import PracError
from prac.models.base import prunable
from prac.models.mlp import MLP

TASKS = ("circle", "helix", "relu")
THRESHOLDS = (0.2, 0.5, 0.7)  # circle: class = how many of these x₁² + x₂² exceeds
CIRCLE_KNOTS, HELIX_KNOTS = 10, 30
TIE = 1e-9  # cosines this close count as equally good matches

Layer = tuple[torch.Tensor, torch.Tensor]  # (out × in weight, bias), torch's layout


def helix(x: torch.Tensor) -> torch.Tensor:
    """The helix task's noiseless outputs (t cos t, t sin t, t) / 8π, t = 5π + 3πx; N×1 -> N×3."""
    t = 5 * math.pi + 3 * math.pi * x
    return torch.cat([t * torch.cos(t), t * torch.sin(t), t], 1) / (8 * math.pi)


def linears(net: nn.Module) -> list[nn.Linear]:
    """The Linear layers of ``net`` in registration order (input to output for an MLP)."""
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def _mlp(layers: Sequence[Layer]) -> MLP:
    """The MLP whose Linear layers hold exactly ``layers``."""
    net = MLP(layers[0][0].shape[1], tuple(w.shape[0] for w, _ in layers[:-1]), layers[-1][0].shape[0])
    with torch.no_grad():
        for lin, (w, b) in zip(linears(net), layers):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
    return net


def _knots(grid: torch.Tensor, values: torch.Tensor) -> tuple[Layer, Layer]:
    """Two layers computing, for u ≥ grid[0], the continuous piecewise-linear functions
    through (grid, values[j]) (grid: K+1 points, values: m × (K+1)) from K ReLUs.

    Unit k starts segment k: h_k = ReLU(p_k (u − g_k)) with p = +, −, +, … Mixed signs let
    the knots find host units of the right sign in both halves of the host (all-positive
    weights with negative biases would leave ~¼ of it); ReLU(u − g_k) = h_k + (u − g_k) for
    p_k = −1, and u − g_k = h_0 + g_0 − g_k, so those terms move to h_0's weight and the bias.
    """
    g = grid[:-1]
    p = torch.ones_like(g)
    p[1::2] = -1
    slopes = values.diff(dim=1) / grid.diff()
    c = torch.cat([slopes[:, :1], slopes.diff(dim=1)], 1)  # slope change at each g_k
    # a straight stretch (the helix's z) leaves rounding noise, not edges
    c = torch.where(c.abs() > 1e-9 * slopes.abs().amax(1, keepdim=True), c, 0)
    flipped = c * (p < 0)
    w_out = c.clone()
    w_out[:, 0] += flipped.sum(1)
    b_out = values[:, 0] + (flipped * (g[0] - g)).sum(1)
    return (p[:, None], -p * g), (w_out, b_out)


def _least_squares_values(f, grid: torch.Tensor, points: int = 20001) -> torch.Tensor:
    """Vertex values of the continuous piecewise-linear fit of f on the (uniform) grid that
    is closest in L2 over the grid's span. For the helix this leaves an excess MSE of 3.5e-5,
    against 1.9e-4 for interpolation (nearly 2× the noise variance on its own)."""
    k = grid.numel() - 1
    q = torch.linspace(float(grid[0]), float(grid[-1]), points, dtype=grid.dtype)
    pos = (q - grid[0]) / (grid[1] - grid[0])
    left = pos.floor().clamp(max=k - 1).long()
    frac = pos - left
    basis = torch.zeros(points, k + 1, dtype=grid.dtype)  # hat functions at the vertices
    basis[torch.arange(points), left] = 1 - frac
    basis[torch.arange(points), left + 1] = frac
    return torch.linalg.lstsq(basis, f(q)).solution.T


def _target_layers(name: str) -> list[Layer]:
    d = torch.float64
    if name == "relu":  # ReLU(x), read out with weight 1: a single path
        return [(torch.ones(1, 1, dtype=d), torch.zeros(1, dtype=d))] * 2
    if name == "helix":  # u = ReLU(x + 1) ∈ [0, 2], then the three coordinates of u − 1
        grid = torch.linspace(0, 2, HELIX_KNOTS + 1, dtype=d)
        values = _least_squares_values(lambda u: helix(u[:, None] - 1), grid)
        return [(torch.ones(1, 1, dtype=d), torch.ones(1, dtype=d)), *_knots(grid, values)]
    if name == "circle":
        # ReLU(±x_k) -> |x_k| = ReLU(ReLU(x_k) + ReLU(−x_k)) -> x_k² on 10 knots over [0, 1]
        # per coordinate -> logits a_c ŝ + b_c, ŝ the sum of both squares. Least-squares values
        # rather than interpolation: the chord lies above x², so interpolation shifts ŝ up by
        # 0.0033 on average and misclassifies 0.9 % of noiseless points near the rings
        signs = torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1]], dtype=d)
        pairs = torch.tensor([[1.0, 1, 0, 0], [0, 0, 1, 1]], dtype=d)
        grid = torch.linspace(0, 1, CIRCLE_KNOTS + 1, dtype=d)
        (w_in, b_in), (w_sq, b_sq) = _knots(grid, _least_squares_values(lambda u: u[:, None] ** 2, grid))
        # slopes 1..4: line c − line (c−1) = ŝ − θ_c, so the upper envelope switches class at
        # each threshold (argmax = rings exceeded); positive slopes give every logit edges
        a = torch.arange(1, len(THRESHOLDS) + 2, dtype=d)
        b = -torch.cat([torch.zeros(1, dtype=d), torch.tensor(THRESHOLDS, dtype=d).cumsum(0)])
        return [(signs, torch.zeros(4, dtype=d)), (pairs, torch.zeros(2, dtype=d)),
                (torch.block_diag(w_in, w_in), torch.cat([b_in, b_in])),
                (a[:, None] * torch.cat([w_sq, w_sq], 1), a * 2 * b_sq[0] + b)]
    raise PracError(f"unknown planted task '{name}'; use one of: {', '.join(TASKS)}")


def target_network(name: str) -> MLP:
    """The hand-made sparse solution of task ``name`` (float32; zero weights are absent edges)."""
    return _mlp(_target_layers(name)).float()


def pad(layers: Sequence[Layer], hidden: int) -> list[Layer]:
    """``layers`` with identity layers added until it has ``hidden`` hidden layers.

    They repeat the narrowest hidden layer (fewest planted edges): its output is a ReLU's,
    so ReLU(I·h + 0) = h exactly, for every input."""
    have = len(layers) - 1
    if not 1 <= have <= hidden:
        raise PracError(f"a target with {have} hidden layers cannot be planted in a host with {hidden}; "
                        "give the host at least as many hidden layers")
    k = min(range(have), key=lambda i: layers[i][0].shape[0])
    w = layers[k][0]
    eye = (torch.eye(w.shape[0], dtype=w.dtype), torch.zeros(w.shape[0], dtype=w.dtype))
    return [*layers[:k + 1], *[eye] * (hidden - have), *layers[k + 1:]]


def he_scaled(in_features: int, widths: Sequence[int], out_features: int, generator: torch.Generator) -> MLP:
    """The host: weights N(0, 2/fan_in); biases N(0, σ_l²), σ_l the product of those stds so far."""
    net = MLP(in_features, tuple(widths), out_features)
    sigma_b = 1.0
    with torch.no_grad():
        for lin in linears(net):
            std = math.sqrt(2 / lin.in_features)
            sigma_b *= std
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=generator) * std)
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=generator) * sigma_b)
    return net


def _match(t: torch.Tensor, h: torch.Tensor, typical: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Host unit (row of ``h``) and scale λ for every target unit (row of ``t``), all distinct.

    Rows are (bias, weights from the planted inputs); only the bias and the target's nonzero
    entries are compared. Greedy over pairs, best cosine first; among ties the host unit
    whose norm is closest to ``typical`` (the expected norm of such a vector at init)."""
    seen = (t != 0).clone()
    seen[:, 0] = True
    hs = h[None] * seen[:, None]  # T × H × n: each target unit's view of each host unit
    dot = (hs * t[:, None]).sum(-1)
    h_norm, t_norm = hs.norm(dim=-1), t.norm(dim=1, keepdim=True)
    if not bool((t_norm > 0).all()):
        raise PracError("a target unit has neither edges nor a bias; remove it from the target")
    cos = dot / (h_norm * t_norm).clamp_min(1e-300)
    fits = ((hs.sign() == t[:, None].sign()) | (t[:, None] == 0)).all(-1)  # same signs on the edges
    lam = torch.where(fits, dot / t_norm**2, h_norm / t_norm)
    score = torch.where(fits, cos, cos - 3)  # any sign-matching unit beats every other
    size = (h_norm / typical[:, None]).log().abs()
    units = torch.empty(t.shape[0], dtype=torch.long)
    for _ in range(t.shape[0]):  # one pass per target unit (at most a few dozen)
        best = score.max()
        j, i = divmod(int(torch.where(score >= best - TIE, size, math.inf).argmin()), h.shape[0])
        units[j] = i
        score[j, :], score[:, i] = -math.inf, -math.inf
    return units, lam[torch.arange(t.shape[0]), units]


@torch.no_grad()
def plant(target: nn.Module, host_widths: Sequence[int], seed: int
          ) -> tuple[MLP, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Hide ``target`` (an MLP) in a He-scaled host with hidden ``host_widths``, drawn from ``seed``.

    Returns the host, the planted mask (weight name -> bool, True on the target's edges) and
    the per-unit scales (weight name -> λ per output unit, 0 on units that carry nothing).
    Target output k sits on host output k; the masked host's outputs are the target's
    times ``scales[output weight]``."""
    layers = pad([(lin.weight.double(), lin.bias.double()) for lin in linears(target)], len(host_widths))
    for (w, _), width in zip(layers, host_widths):
        if w.shape[0] > width:
            raise PracError(f"a target layer of {w.shape[0]} units does not fit a host layer of {width}")
    host = he_scaled(layers[0][0].shape[1], host_widths, layers[-1][0].shape[0],
                     torch.Generator().manual_seed(seed))
    mask, scales = {}, {}
    rows, s = torch.arange(layers[0][0].shape[1]), torch.ones(layers[0][0].shape[1], dtype=torch.float64)
    sigma_b = 1.0
    for name, lin, (w, b) in zip(prunable(host), linears(host), layers):
        sigma_w = math.sqrt(2 / lin.in_features)
        sigma_b *= sigma_w
        t = torch.cat([b[:, None], w / s], 1)  # what λ multiplies: inputs arrive scaled by s
        h = torch.cat([lin.bias[:, None], lin.weight[:, rows]], 1).double()
        typical = (sigma_b**2 + (w != 0).sum(1) * sigma_w**2).sqrt()
        units, lam = _match(t, h, typical)
        at = (units[:, None], rows[None, :])
        edges = w != 0
        lin.weight[at] = torch.where(edges, lam[:, None] * t[:, 1:], lin.weight[at].double()).float()
        lin.bias[units] = (lam * b).float()
        mask[name] = torch.zeros_like(lin.weight, dtype=torch.bool)
        mask[name][at] = edges
        scales[name] = torch.zeros(lin.out_features)
        scales[name][units] = lam.float()
        rows, s = units, lam
    # the output layer's units are interchangeable at init: relabel them into the target's order
    out, name = linears(host)[-1], list(prunable(host))[-1]
    out.weight.copy_(out.weight[rows])
    out.bias.copy_(out.bias[rows])
    mask[name], scales[name] = mask[name][rows], scales[name][rows]
    return host, mask, scales
