"""``prac bench speed``: the engine (tracking + masks on) against a bare PyTorch loop, and a
ticket's sparse inference and file size.

Both loops train the same model on the same in-memory tensors with the same batch size,
optimizer, augmentation and fast path (``train.precision``, ``train.channels_last``,
``train.compile``, uint8 pixels on CUDA: on a GPU, bf16 autocast and channels-last), so
the ratio measures the engine's own work (tracking, masks, hooks). One untimed pair of
epochs goes first (allocator, cuDNN plans, pinned buffers, compilation), then pairs of one
engine epoch and one bare epoch, in alternating order so that drift and machine noise hit
both alike, until at least ``PAIRS_MIN`` pairs and ``BUDGET_S`` seconds (at most
``PAIRS_MAX`` pairs). The ratio reported is the median of the per-pair ratios, with their
quartiles and range: a busy machine shows up as spread, not as a shifted median. Also
reported: the tracker's bytes per sample (constant in the number of epochs) and the
achieved GFLOP/s against a 2048² matmul in the training precision.

The ticket part prunes the config's model (its initialisation) by magnitude at the
config's rate, round after round, to the density nearest ``TICKET_DENSITY`` (5.6 %, the
LTH paper's LeNet ticket), and times CPU inference (``torch.inference_mode``, median of
many interleaved repetitions) at batch 1 and 256 of the dense forward, of the forward with
every ``nn.Linear`` multiplying by a CSR matrix, and of the one with CSR only where it was
faster on that batch (``prac.export.sparse_linear_model``); and it writes the ticket with
``prac.export.write_export`` to compare its bytes with a dense safetensors file.
"""

from __future__ import annotations

import copy
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from prac.setup import from_config
from prac.config.schema import Config
from prac.data.dataset import Pixels, batch
from prac.train.augment import augment
from prac.train.loop import train
from prac.train.optim import make_optimizer
from prac.train.fastpath import amp_dtype, autocast, wants_channels_last
from prac.export import CSRLinear, sparse_linear_model, write_export
from prac.progress import say
from prac.prune import apply_masks, density, magnitude_masks
from prac.store import write_json
from prac.select.track import ForgettingTracker

PAIRS_MIN, PAIRS_MAX, BUDGET_S = 9, 61, 10.0  # engine/bare pairs: at least 9 and 10 s, at most 61
TICKET_DENSITY = 0.056
INFERENCE_BATCHES = (1, 256)
INFERENCE_REPS = {1: 400, 256: 60}  # per variant; interleaved, so noise hits all three alike


def bare_epoch(model, x, y, batch_size: int, cfg, gen: torch.Generator) -> float:
    """The plainest loop a PyTorch user writes over in-memory tensors, with the engine's
    fast path and augmentation (``cfg``) and nothing else."""
    dev = x.device
    amp, channels_last = amp_dtype(cfg.precision, dev), wants_channels_last(dev, x)
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
            "channels_last": wants_channels_last(dev, x),
            "inputs": "uint8 pixels" if isinstance(x, Pixels) else "float32", "compile": cfg.compile}


def spread(values: list[float]) -> dict:
    """Median, quartiles and range of ``values``."""
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "q1": q[0], "q3": q[2], "min": min(values), "max": max(values)}


def engine_vs_bare(cfg: Config, model, t: dict, dev) -> dict:
    """Alternating engine and bare epochs (module docstring): their seconds, per-pair ratios
    and the tracker's bytes per sample after each engine epoch."""
    n, bs = len(t["y_train"]), cfg.train.batch_size
    masks = magnitude_masks(model, None, 0.5, 0.25)  # a half-pruned net: the mask work is real
    tracker = ForgettingTracker(n, device=dev)
    gen = torch.Generator().manual_seed(0)

    def engine(seed: int, listener) -> float:
        st = train(copy.deepcopy(model), t["x_train"], t["y_train"], torch.arange(n), cfg.train, epochs=1, seed=seed,
                   masks=masks, listeners=[listener])
        _sync(dev)
        return st.seconds

    def bare() -> float:
        return bare_epoch(copy.deepcopy(model), t["x_train"], t["y_train"], bs, cfg.train, gen)

    engine(PAIRS_MAX, ForgettingTracker(n, device=dev))  # warm-up, untimed
    bare()
    eng, bar, per_sample = [], [], []
    start = time.perf_counter()
    while len(eng) < PAIRS_MIN or (time.perf_counter() - start < BUDGET_S and len(eng) < PAIRS_MAX):
        if len(eng) % 2:  # alternate which loop goes first
            bar.append(bare())
            eng.append(engine(len(eng), tracker))
        else:
            eng.append(engine(len(eng), tracker))
            bar.append(bare())
        per_sample.append(tracker.nbytes() / n)
        if len(eng) % 10 == 0:
            say(f"pair {len(eng)}: engine {eng[-1]:.3f} s, bare {bar[-1]:.3f} s")
    return {"engine": eng, "bare": bar, "ratios": [e / b for e, b in zip(eng, bar)], "bytes_per_sample": per_sample}


def ticket_masks(cfg: Config, model):
    """Magnitude masks pruned round by round at the config's rate; the round whose density
    is nearest ``TICKET_DENSITY``."""
    masks, prev = None, None
    while masks is None or density(masks) > TICKET_DENSITY:
        p = cfg.prune
        prev, masks = masks, magnitude_masks(model, masks, p.round_rate, p.out_rate, p.scope, p.conv_rate)
    if prev is not None and density(prev) - TICKET_DENSITY < TICKET_DENSITY - density(masks):
        return prev
    return masks


def interleaved_seconds(models: dict, x, reps: int) -> dict[str, list[float]]:
    """Seconds of ``reps`` forwards of ``x`` by each model, taken in turns (each model first
    in turn, after one untimed round), so that noise and cache order hit all alike."""
    times: dict[str, list[float]] = {k: [] for k in models}
    order = list(models)
    for f in models.values():
        f(x)
    for rep in range(reps):
        for k in order[rep % len(order):] + order[:rep % len(order)]:
            start = time.perf_counter()
            models[k](x)
            times[k].append(time.perf_counter() - start)
    return times


@torch.inference_mode()
def inference(cfg: Config, model, x) -> dict:
    """The ticket's CPU inference times and file size (module docstring)."""
    ticket = copy.deepcopy(model).cpu().eval()
    masks = ticket_masks(cfg, ticket)
    apply_masks(ticket, masks)
    with tempfile.TemporaryDirectory() as tmp:
        size = write_export(Path(tmp) / "ticket.safetensors", trained=ticket.state_dict(), masks=masks,
                            header={"model": cfg.model.name, "prunable": list(masks)})
    everywhere = sparse_linear_model(ticket)
    result = {"density": density(masks), "export_bytes": size["bytes"], "dense_bytes": size["dense_bytes"],
              "export_vs_dense": size["bytes"] / size["dense_bytes"], "mask_encoding": size["layers"],
              "weights": "magnitude-pruned initialisation", "threads": torch.get_num_threads(), "batches": {}}
    for b in INFERENCE_BATCHES:
        xb = batch(x, slice(0, b)).cpu()
        where_faster = sparse_linear_model(ticket, example=xb)
        variants = {"dense": ticket, "csr": everywhere, "csr_where_faster": where_faster}
        times = interleaved_seconds(variants, xb, INFERENCE_REPS[b])
        med = {k: statistics.median(v) for k, v in times.items()}
        result["batches"][str(b)] = {
            **{f"{k}_ms": 1e3 * v for k, v in med.items()},
            **{f"{k}_ms_q1_q3": [1e3 * spread(v)["q1"], 1e3 * spread(v)["q3"]] for k, v in times.items()},
            "csr_vs_dense": med["csr"] / med["dense"],
            "csr_where_faster_vs_dense": med["csr_where_faster"] / med["dense"],
            "csr_layers_where_faster": [n for n, m in where_faster.named_modules() if isinstance(m, CSRLinear)],
            "reps": INFERENCE_REPS[b]}
    return result


def run_speed(cfg: Config, out, progress) -> dict:
    setup = from_config(cfg)
    data, dev = setup.data, setup.device
    t = setup.tensors()
    n, bs = data.train_size, cfg.train.batch_size
    model = setup.new_model()
    path = fast_path(cfg.train, dev, t["x_train"])
    load_before = os.getloadavg()[0]
    m = engine_vs_bare(cfg, model, t, dev)
    ratio = spread(m["ratios"])
    flops = step_flops(model, t["x_train"], t["y_train"], bs) * ((n + bs - 1) // bs)
    e_s, b_s = statistics.median(m["engine"]), statistics.median(m["bare"])
    # the peak in the training precision on a GPU; a CPU's bf16 matmul can be slower than fp32 (no AMX): fp32
    peak_dtype = torch.bfloat16 if dev.type == "cuda" and path["precision"] == "bf16" else torch.float32
    result = {
        "dataset": data.kind, "model": cfg.model.name, "device": str(dev), "train_size": n, "batch_size": bs,
        "fast_path": path, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        # other processes' load: above the CPU count, torch's threads wait on each other and both loops slow down
        "load_average": [load_before, os.getloadavg()[0]],
        "engine_seconds": m["engine"], "bare_seconds": m["bare"], "pair_ratios": m["ratios"],
        "engine_seconds_per_epoch": e_s, "bare_seconds_per_epoch": b_s,
        "engine_vs_bare": ratio["median"],
        "engine_vs_bare_spread": ratio,
        "pairs": len(m["ratios"]),
        "tracker_bytes_per_sample": m["bytes_per_sample"][-1],
        "tracker_bytes_per_sample_by_epoch": m["bytes_per_sample"],
        "gflops": flops / e_s / 1e9,
        "peak_gflops": matmul_peak(dev, dtype=peak_dtype),
        "peak_dtype": str(peak_dtype).removeprefix("torch."),
        "images_per_second": n / e_s,
        "bare_images_per_second": n / b_s,
        "ticket": inference(cfg, model, t["x_train"]),
    }
    desc = ", ".join([path["precision"], path["inputs"]] + ["channels-last"] * path["channels_last"]
                     + ["compiled"] * path["compile"])
    print(f"{data.kind} {cfg.model.name}, {n:,} samples per epoch, batch {bs}, {dev} ({desc}):")
    print(f"  engine (tracker + masks): {e_s:.3f} s per epoch, {result['images_per_second']:,.0f} images/s")
    print(f"  bare PyTorch loop:        {b_s:.3f} s per epoch, {result['bare_images_per_second']:,.0f} images/s")
    print(f"engine / bare loop: {ratio['median']:.3f} (median of {result['pairs']} alternating pairs; "
          f"quartiles {ratio['q1']:.3f}-{ratio['q3']:.3f}, range {ratio['min']:.3f}-{ratio['max']:.3f})")
    print(f"tracker: {result['tracker_bytes_per_sample']:.0f} bytes per sample after each of {result['pairs']} "
          f"epochs: {sorted(set(m['bytes_per_sample']))}")
    print(f"achieved {result['gflops']:.1f} GFLOP/s against a {result['peak_dtype']} matmul peak of "
          f"{result['peak_gflops']:.1f} GFLOP/s")
    # more runnable threads than cores (ours included), or pairs that disagree: the machine is busy
    if max(result["load_average"]) > (os.cpu_count() or 1) + 0.5 or ratio["q3"] - ratio["q1"] > 0.1:
        print(f"warning: load average {max(result['load_average']):.1f} on {os.cpu_count()} CPUs, ratio quartiles "
              f"{ratio['q3'] - ratio['q1']:.2f} apart: other processes compete for the cores and the timings are "
              "unreliable; rerun on a quiet machine (OMP_NUM_THREADS=1 suffers least from a busy one)")
    tk = result["ticket"]
    print(f"ticket at {100 * tk['density']:.1f} % of weights: export {tk['export_bytes']:,} bytes vs dense "
          f"safetensors {tk['dense_bytes']:,} ({100 * tk['export_vs_dense']:.1f} %)")
    for b, r in tk["batches"].items():
        print(f"  CPU inference, batch {b:>3}: dense {r['dense_ms']:.3f} ms, CSR {r['csr_ms']:.3f} ms "
              f"({r['csr_vs_dense']:.2f}x), CSR where faster {r['csr_where_faster_ms']:.3f} ms "
              f"({r['csr_where_faster_vs_dense']:.2f}x; {', '.join(r['csr_layers_where_faster']) or 'no layer'})")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        write_json(Path(out) / "speed.json", result)
    return result
