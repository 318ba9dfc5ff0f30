"""``prac bench speed``: the engine (tracking + masks on) against a bare PyTorch loop.

Both loops train the same model on the same in-memory tensors with the same batch size,
optimizer, augmentation and fast path (``train.precision``, ``train.channels_last``,
``train.compile``, uint8 pixels on CUDA: on a GPU, bf16 autocast and channels-last), so
the ratio measures the engine's own work (tracking, masks, hooks). They alternate several
times in one process and the medians are reported, so machine noise hits both alike:
seconds per epoch and images per second of each, and their ratio. Also reported: the
tracker's bytes per sample (constant in the number of epochs) and the achieved GFLOP/s
against a 2048² matmul in the training precision, measured in the same process. On CUDA,
or with ``train.compile``, one untimed epoch of each loop goes first (cuDNN plans, pinned
buffers, compilation).
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from pipelines.common import dataset, device, new_model, on_device
from prac.config import Config
from prac.data.dataset import Pixels, batch
from prac.engine import amp_dtype, augment, autocast, make_optimizer, train, wants_channels_last
from prac.progress import say
from prac.prune import magnitude_masks
from prac.store import write_json
from prac.track import ForgettingTracker

REPEATS = 5


def bare_epoch(model, x, y, batch_size: int, cfg, gen: torch.Generator) -> float:
    """The plainest loop a PyTorch user writes over in-memory tensors, with the engine's
    fast path and augmentation (``cfg``) and nothing else."""
    dev = x.device
    amp, channels_last = amp_dtype(cfg.precision, dev), wants_channels_last(cfg.channels_last, dev, x)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if cfg.compile else model
    opt = make_optimizer(model, cfg)
    model.train()
    _sync(dev)
    start = time.perf_counter()
    perm = torch.randperm(len(y), generator=gen).to(dev)
    for i in range(0, len(y), batch_size):
        idx = perm[i:i + batch_size]
        xb = batch(x, idx)
        if cfg.augment and xb.dim() == 4:
            xb = augment(xb, gen)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(dev, amp):
            loss = F.cross_entropy(forward(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(dev)
    return time.perf_counter() - start


def _sync(dev) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(dev, n: int = 2048, reps: int = 10, dtype: torch.dtype = torch.float32) -> float:
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    a @ b
    _sync(dev)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(dev)
    return 2 * n ** 3 * reps / (time.perf_counter() - start) / 1e9


def step_flops(model, x, y, batch_size: int) -> int:
    m = copy.deepcopy(model)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(m(batch(x, slice(0, batch_size))), y[:batch_size]).backward()
    return counter.get_total_flops()


def fast_path(cfg, dev, x) -> dict:
    """What the fast path of ``cfg`` resolves to on ``dev`` for the inputs ``x``."""
    amp = amp_dtype(cfg.precision, dev)
    return {"precision": "bf16" if amp is not None else "fp32",
            "channels_last": wants_channels_last(cfg.channels_last, dev, x),
            "inputs": "uint8 pixels" if isinstance(x, Pixels) else "float32", "compile": cfg.compile}


def run_speed(cfg: Config, out, progress) -> dict:
    data = dataset(cfg.dataset)
    dev = device()
    t = on_device(data, dev)
    n, bs = data.train_size, cfg.train.batch_size
    model = new_model(cfg, data, dev)
    masks = magnitude_masks(model, None, 0.5, 0.25)  # a half-pruned net: the mask work is real
    tracker = ForgettingTracker(n, device=dev)
    bytes_per_epoch, engine, bare = [], [], []
    gen = torch.Generator().manual_seed(0)
    path = fast_path(cfg.train, dev, t["x_train"])
    if dev.type == "cuda" or cfg.train.compile:  # warm-up, untimed: cuDNN plans, pinned buffers, compilation
        train(copy.deepcopy(model), t["x_train"], t["y_train"], torch.arange(n), cfg.train, epochs=1, seed=REPEATS,
              masks=masks, listeners=[ForgettingTracker(n, device=dev)])
        bare_epoch(copy.deepcopy(model), t["x_train"], t["y_train"], bs, cfg.train, torch.Generator().manual_seed(1))
    for rep in range(REPEATS):
        m1, m2 = copy.deepcopy(model), copy.deepcopy(model)
        st = train(m1, t["x_train"], t["y_train"], torch.arange(n), cfg.train, epochs=1, seed=rep, masks=masks,
                   listeners=[tracker])
        _sync(dev)
        engine.append(st.seconds)
        bare.append(bare_epoch(m2, t["x_train"], t["y_train"], bs, cfg.train, gen))
        bytes_per_epoch.append(tracker.nbytes() / n)
        say(f"repeat {rep + 1}/{REPEATS}: engine {engine[-1]:.3f} s, bare {bare[-1]:.3f} s")
    ratios = [e / b for e, b in zip(engine, bare)]
    flops = step_flops(model, t["x_train"], t["y_train"], bs) * ((n + bs - 1) // bs)
    e_s, b_s = statistics.median(engine), statistics.median(bare)
    # the peak in the training precision on a GPU; a CPU's bf16 matmul can be slower than fp32 (no AMX): fp32
    peak_dtype = torch.bfloat16 if dev.type == "cuda" and path["precision"] == "bf16" else torch.float32
    result = {
        "dataset": data.kind, "model": cfg.model.name, "device": str(dev), "train_size": n, "batch_size": bs,
        "fast_path": path,
        "engine_seconds": engine, "bare_seconds": bare,
        "engine_seconds_per_epoch": e_s, "bare_seconds_per_epoch": b_s,
        "engine_vs_bare": statistics.median(ratios),
        "tracker_bytes_per_sample": bytes_per_epoch[-1],
        "tracker_bytes_per_sample_by_epoch": bytes_per_epoch,
        "gflops": flops / e_s / 1e9,
        "peak_gflops": matmul_peak(dev, dtype=peak_dtype),
        "peak_dtype": str(peak_dtype).removeprefix("torch."),
        "images_per_second": n / e_s,
        "bare_images_per_second": n / b_s,
    }
    desc = ", ".join([path["precision"], path["inputs"]] + ["channels-last"] * path["channels_last"]
                     + ["compiled"] * path["compile"])
    print(f"{data.kind} {cfg.model.name}, {n:,} samples per epoch, batch {bs}, {dev} ({desc}):")
    print(f"  engine (tracker + masks): {e_s:.3f} s per epoch, {result['images_per_second']:,.0f} images/s")
    print(f"  bare PyTorch loop:        {b_s:.3f} s per epoch, {result['bare_images_per_second']:,.0f} images/s")
    print(f"engine / bare loop: {result['engine_vs_bare']:.3f} (median of {REPEATS} alternating epochs)")
    print(f"tracker: {result['tracker_bytes_per_sample']:.0f} bytes per sample after each of {REPEATS} epochs: "
          f"{sorted(set(bytes_per_epoch))}")
    print(f"achieved {result['gflops']:.1f} GFLOP/s against a {result['peak_dtype']} matmul peak of "
          f"{result['peak_gflops']:.1f} GFLOP/s")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        write_json(Path(out) / "speed.json", result)
    return result
