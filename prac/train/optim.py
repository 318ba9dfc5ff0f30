"""The optimizer and the lr schedule a training uses (``prac.config.schema.TrainConfig``)."""

from __future__ import annotations

import math

import torch
from torch import nn

from prac.config.schema import TrainConfig

def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


STEP_GAMMA = 0.1  # the step schedule's lr factor at each milestone


def lr_factor(cfg: TrainConfig, total_steps: int):
    """Multiplier of the peak lr at each step: linear warm-up, then constant, cosine or step."""
    warm = int(cfg.warmup * total_steps)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, total_steps - warm)
        if cfg.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * t))
        if cfg.schedule == "step":
            return STEP_GAMMA ** sum(t >= m for m in cfg.milestones)
        return 1.0

    return factor
