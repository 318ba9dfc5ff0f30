"""The one training loop: train on an index subset of in-memory tensors, keep masks, report
per-sample correctness to listeners.

Data live as tensors on the device (airbench): a batch is ``x[idx]``, no DataLoader, no
per-sample Python. Training length is counted in optimizer steps, so a fractional number
of epochs (the PrAC "dynamic iterations" scaling) is exact. Listeners are duck-typed
objects with any of ``on_epoch_start(epoch)``, ``on_batch(indices, correct)``,
``on_step(step, model)`` (after the optimizer step and the masks),
``on_epoch_end(epoch, model) -> bool`` (True stops training) and ``on_logits(indices,
logits, y)``, the batch's training logits, in the epochs where ``wants_logits(epoch)`` (the
EL2N scores of the first epochs: a few tensor operations per step there, none after).

A listener indifferent to how one epoch's batches are grouped (the forgetting tracker) may
say ``merge_batches = True``: in one process it then gets one call per epoch with the
epoch's indices and correctness in batch order, the same state as one call per batch
without a dozen small tensor operations per step (about 1/8 of a digits epoch at batch 32).

Under torchrun the same loop runs data-parallel (see ``prac.train.distributed`` and ``train``):
same global batches, a strided share per rank, listeners fed the global batch everywhere.

Classification or regression (float targets) is decided once per call by ``prac.train.task``, which
holds the losses and what a "correct" sample is.

The GPU fast path (``TrainConfig.precision``, channels-last layout, ``compile``; the first
two on CUDA only by default): bf16 autocast around forward and loss (weights, gradients
and optimizer state stay fp32, so pruned weights stay exactly zero), channels-last layout
of 4-D inputs and of the model, an optional ``torch.compile`` of the forward module, and
images held on the device as uint8 ``Pixels`` normalised per batch (``batch``). The loop
makes no host synchronisation per batch: the CPU-drawn random numbers travel through
pinned memory without blocking, the per-sample correctness stays on the device, and the
only tensor read on the host is the loss sum, once per epoch. On CPU, with the defaults,
all of it is off and training is bit-identical to the plain loop (evaluation runs a
convnet through a channels-last copy there: ``prac.train.fastpath.eval_layout``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from prac.train import distributed
from prac.train.augment import augment
from prac.train.checkpoint import rng_state, set_rng_state
from prac.config.schema import TrainConfig
from prac.data.dataset import Pixels, batch
from prac.errors import PracError
from prac.train.optim import lr_factor, make_optimizer
from prac.train.fastpath import amp_dtype, autocast, to_device, wants_channels_last
from prac.models import prunable
from prac.prune import Masks, apply_masks
from prac.train.task import is_regression, learned_threshold, mse_loss, squared_error


@dataclass
class TrainStats:
    steps: int = 0          # optimizer steps taken
    samples: int = 0        # sample-gradients computed
    epochs: float = 0.0     # epochs over the subset actually run
    seconds: float = 0.0
    stopped_early: bool = False

    def __iadd__(self, other: "TrainStats") -> "TrainStats":
        self.steps += other.steps
        self.samples += other.samples
        self.epochs += other.epochs
        self.seconds += other.seconds
        return self


# Compute in forward-equivalents (one sample through the network once): a training sample
# costs three (forward, and a backward of about two forwards: the usual 2N vs 6N FLOP rule),
# a prediction or evaluation one.
TRAIN_FORWARDS = 3


def forwards(train_samples: int, predicted: int = 0) -> int:
    """Forward-equivalents of training on ``train_samples`` sample-gradients and predicting
    ``predicted`` samples (evaluations, flip probes)."""
    return TRAIN_FORWARDS * train_samples + predicted


def steps_for(epochs: float, subset_size: int, batch_size: int) -> int:
    """Optimizer steps of ``epochs`` passes over ``subset_size`` samples (last batch kept)."""
    return max(1, round(epochs * math.ceil(subset_size / batch_size)))


ARGMAX_ROWS = 8192  # logits kept before their argmax is taken (memory: rows x classes)


def merges_batches(listener) -> bool:
    """Whether ``listener.on_batch`` may take a whole epoch's batches in one call (module
    docstring): it says so with ``merge_batches = True`` (the forgetting tracker does)."""
    return bool(getattr(listener, "merge_batches", False))


def argmax_into(preds: torch.Tensor, start: int, logits: list[torch.Tensor]) -> int:
    """Write the predicted classes of the batches of ``logits`` to ``preds[start:]``, empty
    the list, and return where they end. One reduction for many batches: an argmax per step
    cost ~15 us in the loop (cold caches), 2 % of a digits epoch."""
    if not logits:
        return start
    block = torch.cat(logits) if len(logits) > 1 else logits[0]
    torch.argmax(block, 1, out=preds[start:start + len(block)])
    logits.clear()
    return start + len(block)


def train(model: nn.Module, x: torch.Tensor | Pixels, y: torch.Tensor, indices: torch.Tensor, cfg: TrainConfig, *,
          epochs: float, seed: int, masks: Masks | None = None, listeners=(), progress=None,
          label: str = "train", checkpoint=None, resume: dict | None = None,
          learned_mse: float | None = None) -> TrainStats:
    """Train ``model`` on ``x[indices]`` for ``epochs`` passes (fractional allowed).

    Integer ``y`` are class labels (cross-entropy; a sample is correct when its predicted
    class is its label); float ``y`` (N or N×k) are regression targets (``mse_loss``; a
    sample is correct, i.e. learned, when its squared error averaged over outputs is below
    ``learned_mse``, default ``prac.train.task.default_learned_mse(y)``). Decided once per call.

    ``seed`` fixes the data order and augmentation; the model's initial weights are the
    caller's. Pruned weights stay exactly zero. Returns the steps and samples spent.

    At the end of every epoch ``checkpoint(state)`` (if given) receives everything needed
    to continue: weights, optimizer, scheduler, the data-order and augmentation generators,
    the global RNGs, the listeners' ``state_dict()``, step and epoch. ``resume=state``
    continues from such a state, and the run then ends exactly as if never interrupted.

    Under torchrun (``prac.train.distributed``) the model trains in DistributedDataParallel: the
    global batches are the same as in one process, each rank forwards its strided share,
    the loss is scaled so that the averaged gradient is the global batch's mean, and the
    listeners see every global batch with its per-sample correctness on every rank. The
    returned figures are global.

    ``x`` is a float tensor or uint8 ``Pixels`` (``prac.data.dataset``). The fast path of
    ``cfg`` (see the module docstring) applies here; with channels-last on, ``model`` is
    left in that layout (same values; files are written contiguous, and ``evaluate`` and
    ``select.predict`` follow it). With ``cfg.compile`` the forward runs through
    ``torch.compile(model)`` while ``model`` itself keeps the weights, masks and state.
    """
    loop = Loop(model, x, y, indices, cfg, epochs=epochs, seed=seed, masks=masks, listeners=listeners,
                learned_mse=learned_mse)
    if resume is not None:
        loop.load_state_dict(resume)
    task = progress.add_task(label, total=loop.total) if progress is not None else None
    while loop.step < loop.total:
        if loop.run_epoch(progress, task):  # an on_epoch_end listener stopped training
            loop.stats.stopped_early = True
            break
        if checkpoint is not None:
            checkpoint(loop.state_dict())
    if task is not None:
        progress.remove_task(task)
    return loop.finish()


class Loop:
    """The state of one ``train`` call: what is decided once (the task's loss, optimizer,
    schedule, data-order and augmentation generators, layout, masks, the listeners'
    plumbing), where it stands (step, epoch, samples), and one epoch of steps."""

    def __init__(self, model: nn.Module, x: torch.Tensor | Pixels, y: torch.Tensor, indices: torch.Tensor,
                 cfg: TrainConfig, *, epochs: float, seed: int, masks: Masks | None, listeners,
                 learned_mse: float | None):
        self.model, self.x, self.y, self.cfg = model, x, y, cfg
        self.device = next(model.parameters()).device
        self.indices = indices.to(torch.long)
        self.n = n = len(self.indices)
        if n == 0:
            raise PracError("cannot train on an empty subset; check the PrAC set (select.threshold) or the data")
        # the task, decided once: its loss and what a correct sample is
        self.regression = is_regression(y)
        self.threshold = learned_threshold(y, learned_mse)
        self.loss_fn = mse_loss if self.regression else F.cross_entropy
        self.total = steps_for(epochs, n, cfg.batch_size)
        self.batches = math.ceil(n / cfg.batch_size)  # per epoch
        self.opt = make_optimizer(model, cfg)
        # a constant lr needs no scheduler (its step wrapper and per-step lr writes cost ~2 %)
        constant = cfg.schedule == "constant" and int(cfg.warmup * self.total) == 0
        self.sched = None if constant else torch.optim.lr_scheduler.LambdaLR(self.opt, lr_factor(cfg, self.total))
        self.order_gen = torch.Generator().manual_seed(seed)
        self.aug_gen = torch.Generator().manual_seed(seed + 1_000_003)
        self.amp = amp_dtype(cfg.precision, self.device)
        self.channels_last = wants_channels_last(self.device, x)
        if self.channels_last:  # in place: the parameters stay the same objects (masks, optimizer)
            model.to(memory_format=torch.channels_last)
        apply_masks(model, masks)
        # weights and float masks made once (converting bool masks every step cost ~1/4 of a LeNet
        # epoch), re-applied in one foreach call; detached aliases so no no_grad block is entered per step
        params = prunable(model)
        self.masked_p = [params[k].detach() for k in masks] if masks else []
        self.masked_m = [m.to(params[k].device, params[k].dtype) for k, m in masks.items()] if masks else []
        self.world = distributed.world_size()
        net = distributed.wrap(model)  # DistributedDataParallel under torchrun; masks and listeners use the module
        # compiled per call; the cache is shared across calls and models of one architecture, so
        # only the first train() (and each new batch shape, e.g. a short last batch) compiles
        self.forward = torch.compile(net) if cfg.compile else net
        model.train()
        self.hooks = {h: [getattr(l, h) for l in listeners if hasattr(l, h)]
                      for h in ("on_epoch_start", "on_batch", "on_step", "on_epoch_end")}
        # listeners fed once per epoch from a buffer of predictions (see the module docstring); a
        # repeated index would reach them twice in one call, so then every listener goes per batch
        merged = self.world == 1 and len(torch.unique(self.indices)) == n
        self.per_epoch = [l.on_batch for l in listeners if hasattr(l, "on_batch") and merged and merges_batches(l)]
        self.hooks["on_batch"] = [l.on_batch for l in listeners
                                  if hasattr(l, "on_batch") and not (merged and merges_batches(l))]
        # per sample of an epoch: the predicted class, or for regression the squared error
        self.preds = torch.empty(n, dtype=torch.float32 if self.regression else torch.long,
                                 device=self.device) if self.per_epoch else None
        self.stateful = [l for l in listeners if hasattr(l, "state_dict")]
        self.logit_listeners = [l for l in listeners if hasattr(l, "on_logits")]
        self.stats = TrainStats()
        self.step, self.epoch = 0, 0
        self.start = time.perf_counter()

    def run_epoch(self, progress=None, task=None) -> bool:
        """One pass over a fresh permutation of the subset (or what is left of the steps),
        the per-epoch listeners fed, the loss checked for divergence. True when an
        ``on_epoch_end`` listener stops training."""
        # the step loop reads locals only (no attribute lookups per step)
        cfg, x, y, model, forward, opt, sched = self.cfg, self.x, self.y, self.model, self.forward, self.opt, self.sched
        world, total, device, amp = self.world, self.total, self.device, self.amp
        loss_fn, regression, threshold = self.loss_fn, self.regression, self.threshold
        masked_p, masked_m, preds, hooks = self.masked_p, self.masked_m, self.preds, self.hooks
        step = self.step
        for hook in hooks["on_epoch_start"]:
            hook(self.epoch)
        on_logits = [l.on_logits for l in self.logit_listeners if l.wants_logits(self.epoch)]
        perm = to_device(self.indices[torch.randperm(self.n, generator=self.order_gen)], device)
        losses = []  # summed once per epoch: one tensor operation per step less
        seen = 0     # samples of this epoch so far
        kept, predicted = [], 0  # logits not yet reduced to preds, and the samples that are
        for _ in range(self.batches):
            if step >= total:
                break
            idx = perm[seen:seen + cfg.batch_size]
            local = idx if world == 1 else distributed.shard(idx)  # this rank's share of the global batch
            xb, yb = batch(x, local), y[local]
            if cfg.augment and xb.dim() == 4:
                xb = augment(xb, self.aug_gen, len(idx))
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast(device, amp):
                logits = forward(xb)
                # under DDP: sum over the share x world / global size, so DDP's mean over ranks is the global mean
                loss = loss_fn(logits, yb) if world == 1 else loss_fn(logits, yb, reduction="sum") * world / len(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            # Re-zero pruned weights after the step. Their gradients are not masked: SGD and
            # Adam update every element on its own, so the kept weights come out bit-identical
            # (a test checks this against the loop that masks gradients too), while masked
            # gradients would leave exact zeros in Adam's second moment, whose sqrt runs ~10x
            # slower on CPU (0.76 ms vs 0.08 ms for a 300x784 tensor of zeros vs ones).
            if masked_p:
                torch._foreach_mul_(masked_p, masked_m)
            if sched is not None:
                sched.step()
            losses.append(loss.detach())
            if preds is not None:  # predictions in batches of steps, compared with the labels once an epoch
                if regression:  # the errors need this batch's targets: one small reduction per step
                    kept.append(squared_error(logits.detach(), yb))
                else:
                    kept.append(logits.detach())
                    if len(kept) * len(idx) >= ARGMAX_ROWS:
                        predicted = argmax_into(preds, predicted, kept)
            for hook in on_logits:
                hook(idx, logits.detach(), yb)
            if hooks["on_batch"]:
                out = logits.detach()
                ok = squared_error(out, yb) < threshold if regression else out.argmax(1) == yb
                if world > 1:  # the global batch's correctness, on every rank
                    ok = distributed.gather_strided(ok, len(idx))
                for hook in hooks["on_batch"]:
                    hook(idx, ok)
            step += 1
            seen += len(idx)
            for hook in hooks["on_step"]:
                hook(step, model)
            if task is not None and (step % 10 == 0 or step == total):
                progress.update(task, completed=step)
        self.step = step
        self.stats.samples += seen
        self.feed_epoch(perm[:seen], kept, predicted)
        loss_sum = distributed.all_reduce_sum(torch.stack(losses).sum())  # every rank takes the same decision
        if not torch.isfinite(loss_sum):
            raise PracError(f"training diverged (loss is {float(loss_sum)} in epoch {self.epoch}); lower train.lr")
        self.epoch += 1
        return any([bool(hook(self.epoch, model)) for hook in hooks["on_epoch_end"]])

    def feed_epoch(self, order: torch.Tensor, kept: list[torch.Tensor], predicted: int) -> None:
        """The per-epoch listeners get the epoch's samples (``order``) and their correctness,
        from the predictions buffered during the epoch (``kept``: not yet reduced)."""
        if not self.per_epoch:
            return
        seen, preds = len(order), self.preds
        if self.regression:
            torch.cat(kept, out=preds[:seen])
            kept.clear()
            ok = preds[:seen] < self.threshold
        else:
            argmax_into(preds, predicted, kept)
            ok = preds[:seen] == self.y[order]
        for hook in self.per_epoch:
            hook(order, ok)

    def state_dict(self) -> dict:
        """Everything needed to continue after this epoch (``load_state_dict``): weights,
        optimizer, scheduler, the data-order and augmentation generators, the global RNGs,
        the listeners' state, and the position."""
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": None if self.sched is None else self.sched.state_dict(),
                "order_gen": self.order_gen.get_state(), "aug_gen": self.aug_gen.get_state(), "rng": rng_state(),
                "listeners": [l.state_dict() for l in self.stateful], "step": self.step, "epoch": self.epoch,
                "samples": self.stats.samples, "seconds": time.perf_counter() - self.start}

    def load_state_dict(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        self.opt.load_state_dict(saved["optimizer"])
        if self.sched is not None:
            self.sched.load_state_dict(saved["scheduler"])
        self.order_gen.set_state(saved["order_gen"])
        self.aug_gen.set_state(saved["aug_gen"])
        set_rng_state(saved["rng"])
        for l, st in zip(self.stateful, saved["listeners"]):
            l.load_state_dict(st)
        self.step, self.epoch, self.stats.samples = saved["step"], saved["epoch"], saved["samples"]
        self.start -= saved["seconds"]

    def finish(self) -> TrainStats:
        distributed.sync_buffers(self.model)  # rank 0's BatchNorm statistics everywhere, so every rank evaluates alike
        st = self.stats
        st.steps, st.epochs, st.seconds = self.step, self.step / self.batches, time.perf_counter() - self.start
        return st
