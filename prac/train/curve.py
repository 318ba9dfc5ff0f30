"""Validation curves and the early-stop step: how fast a network learns (Frankle & Carbin).

The LTH paper measures a ticket by two numbers: the *early-stop step* (the optimizer step of
minimum validation loss) and the test accuracy at that step. A ``Curve`` is an engine
listener (``prac.train.loop.train``) that records them in every training run: after every
``every``-th optimizer step and after the last one it evaluates the model on the validation
split (loss and accuracy; with ``test`` also test accuracy) and keeps a copy of the weights
at the lowest validation loss so far. ``finish`` gives the run's final and early-stop
figures; the test split is evaluated on the early-stop copy only once, at the end (or at
every point with ``test``), so a curve costs about 20 validation passes and no pass over
the training data. A curve with ``final_test=False`` never touches the test split (and keeps
no weight copy): a fine-tuning round of the search, which decides on validation alone.

Evaluation happens in ``on_step``, between optimizer steps: the loop's per-step work stays
one modulo when no point is due.
"""

from __future__ import annotations

import torch

from prac.train import distributed
from prac.train.evaluate import evaluate, forward_batches
from prac.train.task import correctness, learned_threshold, task_loss

EARLY_STOP = ("early_stop_step", "early_stop_val_loss", "early_stop_test_acc")  # a run's early-stop figures
POINTS = 20  # points per run when train.eval_every is unset (the issue asks for at least 20)


def spacing(total_steps: int, every: int | None) -> int:
    """Steps between two curve points of a run of ``total_steps``: ``train.eval_every``, or,
    unset, the largest spacing that makes at least ``POINTS`` points; 0: the last step only."""
    if every is None:
        return max(1, total_steps // POINTS)
    return every if every > 0 else total_steps


def points(total_steps: int, every: int | None) -> list[int]:
    """The steps a curve of a run of ``total_steps`` evaluates at (the last one always)."""
    k = spacing(total_steps, every)
    return sorted(set(range(k, total_steps + 1, k)) | {total_steps})


@torch.no_grad()
def loss_and_accuracy(model, x, y, batch_size: int = 1024, precision: str = "auto",
                      learned_mse: float | None = None) -> tuple[float, float]:
    """Mean loss (``prac.train.task.task_loss``) and accuracy of ``model`` on ``x, y`` in eval mode,
    in one pass; the same figures on every rank under torchrun. Regression targets: the
    accuracy is the fraction learned (``prac.train.task.correctness``, threshold ``learned_mse``)."""
    threshold = learned_threshold(y, learned_mse)  # once, on the whole split
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # loss, correct
    rows, xs, ys = len(x), distributed.shard(x), distributed.shard(y)
    for i, out in zip(range(0, len(xs), batch_size), forward_batches(model, xs, batch_size, precision)):
        yb = ys[i:i + batch_size].to(device)
        sums[0] += task_loss(out.float(), yb, reduction="sum").double()
        sums[1] += correctness(out, yb, threshold).sum()
    model.train(was)
    loss, correct = distributed.all_reduce_sum(sums).tolist()
    return loss / max(1, rows), correct / max(1, rows)


class Curve:
    """Engine listener: the validation curve of one run and its early-stop point.

    ``t`` holds the split tensors (``x_val``, ``y_val``, ``x_test``, ``y_test``); ``offset``
    is added to the engine's step count (a run made of several ``train`` calls, e.g. a
    search round extended by the policy's extra budgets, sets it before each call)."""

    def __init__(self, t: dict, total_steps: int, every: int | None = None, test: bool = False,
                 precision: str = "auto", learned_mse: float | None = None, final_test: bool = True):
        self.t, self.every, self.test, self.precision = t, spacing(total_steps, every), test, precision
        self.final_test = final_test or test
        self.learned_mse = learned_mse  # regression: the learned threshold (Setup.learned_mse)
        self.total = total_steps
        self.offset = 0
        self.points: list[dict] = []
        self.best: dict | None = None  # {"step", "val_loss", "weights"} at the lowest validation loss

    def on_step(self, step: int, model) -> None:
        if step % self.every and step != self.total:
            return
        self.record(self.offset + step, model)

    def record(self, step: int, model) -> None:
        if self.points and self.points[-1]["step"] == step:
            return
        t = self.t
        loss, acc = loss_and_accuracy(model, t["x_val"], t["y_val"], precision=self.precision,
                                      learned_mse=self.learned_mse)
        point = {"step": step, "val_loss": loss, "val_acc": acc}
        if self.test:
            point["test_acc"] = evaluate(model, t["x_test"], t["y_test"], precision=self.precision,
                                         learned_mse=self.learned_mse)
        self.points.append(point)
        if self.best is None or loss < self.best["val_loss"]:  # the first minimum, as the paper's "early stop"
            self.best = {"step": step, "val_loss": loss,
                         "weights": {k: v.detach().clone() for k, v in model.state_dict().items()}
                         if self.final_test and not self.test else None}

    @torch.no_grad()
    def finish(self, model, step: int) -> dict:
        """The run's figures once training ended at (offset-less) ``step``: the final
        validation loss and accuracy, the final test accuracy, and the early-stop step with
        the validation loss and test accuracy there. ``model`` keeps its final weights."""
        self.record(self.offset + step, model)  # a listener's stop ends between points
        last, best = self.points[-1], self.best
        final_test, stop_test = self.test_figures(model)
        return {"val_acc": last["val_acc"], "val_loss": last["val_loss"], "test_acc": final_test,
                "early_stop_step": best["step"], "early_stop_val_loss": best["val_loss"],
                "early_stop_test_acc": stop_test, "curve": [dict(p) for p in self.points]}

    def test_figures(self, model) -> tuple[float | None, float | None]:
        """Test accuracy at the end and at the early-stop point (None without ``final_test``)."""
        t, last, best = self.t, self.points[-1], self.best
        if not self.final_test:
            return None, None
        if self.test:
            return last["test_acc"], next(p["test_acc"] for p in self.points if p["step"] == best["step"])
        final_test = evaluate(model, t["x_test"], t["y_test"], precision=self.precision, learned_mse=self.learned_mse)
        if best["step"] == last["step"]:
            return final_test, final_test
        final = {k: v.detach().clone() for k, v in model.state_dict().items()}  # the early-stop weights, evaluated once
        model.load_state_dict(best["weights"])
        stop_test = evaluate(model, t["x_test"], t["y_test"], precision=self.precision, learned_mse=self.learned_mse)
        model.load_state_dict(final)
        return final_test, stop_test

    def evaluated(self) -> int:
        """Samples predicted so far and by ``finish``: every point's validation pass (and test
        pass with ``test``), plus the test pass(es) at the end."""
        n_val, n_test = len(self.t["y_val"]), len(self.t["y_test"])
        at_end = 0 if self.test or not self.final_test else n_test * (
            1 + (self.best is not None and self.best["step"] != self.points[-1]["step"]))
        return len(self.points) * (n_val + (n_test if self.test else 0)) + at_end

    def state_dict(self) -> dict:
        return {"points": self.points, "best": self.best, "offset": self.offset}

    def load_state_dict(self, saved: dict) -> None:
        self.points, self.best, self.offset = saved["points"], saved["best"], saved["offset"]


def cost(total_steps: int, every: int | None, n_val: int, n_test: int, test: bool = False) -> int:
    """Samples a run's curve predicts (its evaluation in the compute account), counting one
    final test pass (and not a second one for a distinct early-stop point)."""
    k = len(points(total_steps, every))
    return k * (n_val + (n_test if test else 0)) + (0 if test else n_test)
