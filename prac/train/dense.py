"""The dense training of a network on the full training split for ``train.epochs``: what a
PrAC set's build runs (with the forgetting tracker listening) and what a dense reference of
another architecture runs (``prac.search.reference``). One function, so the two are the same
computation: a set built with a network holds that network's dense reference."""

from __future__ import annotations

import torch

from prac.errors import PracError
from prac.setup import Setup, Snapshot
from prac.train.checkpoint import remove_checkpoint, save_checkpoint
from prac.train.curve import Curve
from prac.train.loop import TrainStats, forwards, steps_for, train


def dense_run(setup: Setup, model, t: dict, listeners: list, init: dict, ckpt, saved, progress=None,
              label: str | None = None) -> tuple[TrainStats, dict, dict]:
    """Train ``model`` dense on the full training split (seed ``cfg.seed``), checkpointing
    every epoch to ``ckpt`` and continuing from ``saved``; returns its figures, the rewind
    weights (the init, or those after ``prune.rewind_step``) and its evaluation
    (``prac.train.curve``: final and early-stop figures, the validation curve, ``evaluated``)."""
    cfg = setup.cfg
    snap = Snapshot(cfg.prune.rewind_step)
    n = setup.data.train_size
    epochs = cfg.train.epochs
    curve = Curve(t, steps_for(epochs, n, cfg.train.batch_size), cfg.train.eval_every, cfg.train.eval_test,
                  cfg.train.precision, setup.learned_mse)
    stats = train(model, t["x_train"], t["y_train"], torch.arange(n), cfg.train,
                  epochs=epochs, seed=cfg.seed, listeners=[*listeners, snap, curve], progress=progress,
                  label=label or f"dense {setup.model.name}",
                  checkpoint=lambda state: save_checkpoint(ckpt, {"train": state}),
                  resume=None if saved is None else saved["train"], learned_mse=setup.learned_mse)
    if cfg.prune.rewind_step > stats.steps:
        remove_checkpoint(ckpt)  # these settings can never finish: nothing to resume
        raise PracError(f"prune.rewind_step={cfg.prune.rewind_step} is beyond the dense run's {stats.steps} steps; "
                        "lower it")
    return stats, init if cfg.prune.rewind_step == 0 else snap.state, {**curve.finish(model, stats.steps),
                                                                          "evaluated": curve.evaluated()}


def dense_figures(stats: TrainStats, seconds: float, dense: dict, rewind_step: int, predicted: int = 0) -> dict:
    """``meta["dense"]`` of a dense run: its steps, time, evaluation and cost in forwards
    (training, its evaluations, and ``predicted`` further predictions, e.g. the flip probe's)."""
    return {"steps": stats.steps, "samples": stats.samples, "seconds": seconds,
            **{k: v for k, v in dense.items() if k != "evaluated"}, "rewind_step": rewind_step,
            "forwards": forwards(stats.samples, predicted + dense["evaluated"])}
