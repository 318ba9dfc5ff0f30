"""``prac bench speed``: the engine (tracking + masks on) against a bare PyTorch loop.

Both loops train the same model on the same in-memory tensors with the same batch size
and optimizer; they alternate several times in one process and the median ratio of their
epoch times is reported, so machine noise hits both alike. Also reported: the tracker's
bytes per sample (constant in the number of epochs) and the achieved GFLOP/s against a
2048² float32 matmul measured in the same process.
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
from prac.engine import make_optimizer, train
from prac.progress import say
from prac.prune import magnitude_masks
from prac.store import write_json
from prac.track import ForgettingTracker

REPEATS = 5


def bare_epoch(model, x, y, batch_size: int, cfg, gen: torch.Generator) -> float:
    """The plainest loop a PyTorch user writes over in-memory tensors."""
    opt = make_optimizer(model, cfg)
    model.train()
    start = time.perf_counter()
    perm = torch.randperm(len(y), generator=gen).to(x.device)
    for i in range(0, len(y), batch_size):
        idx = perm[i:i + batch_size]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(x.device)
    return time.perf_counter() - start


def _sync(dev) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(dev, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
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
        F.cross_entropy(m(x[:batch_size]), y[:batch_size]).backward()
    return counter.get_total_flops()


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
    result = {
        "dataset": data.kind, "model": cfg.model.name, "device": str(dev), "train_size": n, "batch_size": bs,
        "engine_seconds": engine, "bare_seconds": bare,
        "engine_vs_bare": statistics.median(ratios),
        "tracker_bytes_per_sample": bytes_per_epoch[-1],
        "tracker_bytes_per_sample_by_epoch": bytes_per_epoch,
        "gflops": flops / statistics.median(engine) / 1e9,
        "peak_gflops": matmul_peak(dev),
        "images_per_second": n / statistics.median(engine),
    }
    print(f"engine / bare loop: {result['engine_vs_bare']:.3f} (median of {REPEATS}; engine "
          f"{statistics.median(engine):.3f} s, bare {statistics.median(bare):.3f} s per epoch of {n:,} samples, "
          f"batch {bs}, {dev})")
    print(f"tracker: {result['tracker_bytes_per_sample']:.0f} bytes per sample after each of {REPEATS} epochs: "
          f"{sorted(set(bytes_per_epoch))}")
    print(f"achieved {result['gflops']:.1f} GFLOP/s against a matmul peak of {result['peak_gflops']:.1f} GFLOP/s; "
          f"{result['images_per_second']:,.0f} images/s")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        write_json(Path(out) / "speed.json", result)
    return result
