"""Stage 1: dense training with the forgetting tracker (and the EL2N scores of its first
epochs, ``prac.select.el2n``), the prune-flip probe, the PrAC set.

    prac build-prac [--config configs/fashion_mnist_lenet.yaml] [--set key=value ...] [--out DIR]
    prac.build_prac(model_fn, x_train, y_train, x_test, y_test)          # the Python API

The result is cached under ``<out>/prac/<key>/``; the key hashes everything that
determines it, so running the same command again is a cache hit and trains nothing. The
dense run checkpoints every epoch to ``<out>/prac/.<key>.checkpoint.safetensors``: after a
crash or a kill, the same command continues from it and builds the same set, bit for bit.

Under ``torchrun --nproc_per_node=K -m prac build-prac`` the dense run is data-parallel:
the tracker and the probe see every sample as in one process, rank 0 publishes the entry,
the other ranks wait for it and load it. The key does not depend on K; ``meta.json``
records it as ``world_size``.
"""

from __future__ import annotations

import datetime
import time

import torch

from prac import paths
from prac.select import cache
from prac.train import distributed
from prac.train.checkpoint import load_checkpoint, remove_checkpoint
from prac.train.dense import dense_figures, dense_run
from prac.config import identity
from prac.config.schema import Config, to_dict
from prac.train.loop import TrainStats
from prac.errors import PracError
from prac.progress import say
from prac.select import prac_indices, predict, prune_flips
from prac.setup import Setup, state_of
from prac.train.task import class_counts
from prac.select.rules import looks_mislabelled
from prac.select.el2n import ErrorNorms, early_epochs
from prac.select.track import ForgettingTracker
from prac.store import pack


def probe_settings(cfg: Config) -> dict:
    """The pruning settings that shape the flip probe (and so the set), as the probe runs them."""
    p = cfg.prune
    return {"rate": p.round_rate, "out_rate": p.out_rate, "scope": p.scope, "rewind_step": p.rewind_step,
            "conv_rate": p.conv_rate}


def prac_key(setup: Setup) -> str:
    """The set's cache key (``prac.config.identity.set_key``): the data's content, the model,
    and the config keys declared part of the dense run or the set."""
    return identity.set_key(setup.cfg, setup.data.fingerprint, setup.model.id)


def build_set(setup: Setup, out=None, progress=None) -> cache.Entry:
    """The cached PrAC set of ``setup`` (built now if it is not cached yet)."""
    cfg, data = setup.cfg, setup.data
    key = prac_key(setup)
    path = paths.prac_dir(out, key)
    if distributed.main_says((path / cache.META).is_file()):
        say(f"PrAC set {key[:12]} is cached: nothing to train")
        return cache.load(path)
    paths.prac_root(out).mkdir(parents=True, exist_ok=True)  # fail early on an unwritable root
    # the dense run checkpoints every epoch beside the cache; the same command resumes it
    ckpt = paths.prac_root(out) / f".{key}.checkpoint.safetensors"
    saved = load_checkpoint(ckpt)
    if saved is not None:
        say(f"resuming the dense run of PrAC set {key[:12]} from epoch {saved['train']['epoch']}")

    t = setup.tensors()
    model = setup.new_model()
    init = state_of(model)
    tracker = ForgettingTracker(data.train_size, device=setup.device)
    errors = ErrorNorms(data.train_size, early_epochs(cfg.train.epochs), device=setup.device)
    stats, rewind, dense = dense_run(setup, model, t, [tracker, errors], init, ckpt, saved, progress)
    start = time.perf_counter() - stats.seconds
    # the dense network's logits on the training split: the probe's reference predictions
    logits = predict(model, t["x_train"], logits=True, precision=cfg.train.precision)
    p = cfg.prune
    flipped = prune_flips(model, None, t["x_train"], p.round_rate, p.out_rate, p.scope, reference=logits,
                          y=t["y_train"], learned_mse=setup.learned_mse, conv_rate=p.conv_rate,
                          precision=cfg.train.precision)
    index = prac_indices(tracker.forgetting_events.cpu(), tracker.never_learned.cpu(), flipped, cfg.select.threshold)
    seconds = time.perf_counter() - start
    if len(index) == 0:
        remove_checkpoint(ckpt)
        raise PracError("the PrAC set is empty (no sample was forgotten, never learned or flipped); "
                        "lower select.threshold or train fewer epochs")

    meta = describe(setup, key, tracker, flipped, index, stats, seconds, dense, logits)
    tstats = {"index": index, "forgetting_events": tracker.forgetting_events, "never_learned": tracker.never_learned,
              "prune_flipped": flipped, "presentations": tracker.presentations,
              "first_learned": tracker.first_learned, "el2n": errors.scores,
              **label_confidence(logits, t["y_train"], setup.regression)}
    weights = pack(init=init, rewind=rewind, trained=state_of(model))
    if distributed.is_main():
        cache.publish(path, {cache.STATS: tstats, cache.DENSE: weights}, meta)
        remove_checkpoint(ckpt)
    distributed.barrier()  # the other ranks read the entry rank 0 published
    entry = cache.load(path)
    n = data.train_size
    say(f"PrAC set: {len(index):,} of {n:,} samples ({100 * len(index) / n:.1f} %); dense test accuracy "
        f"{100 * meta['dense']['test_acc']:.2f} % after {stats.steps:,} steps in {seconds:.1f} s")
    return entry


def describe(setup: Setup, key: str, tracker: ForgettingTracker, flipped: torch.Tensor, index: torch.Tensor,
             stats: TrainStats, seconds: float, dense: dict, logits: torch.Tensor) -> dict:
    """``meta.json`` of a PrAC set: what built it, its size and composition, the dense run."""
    cfg, data = setup.cfg, setup.data
    n = data.train_size
    hard = (tracker.forgetting_events.cpu() > cfg.select.threshold) | tracker.never_learned.cpu()
    y = data.y_train
    return {
        "key": key,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dataset": data.kind,
        "fingerprint": data.fingerprint,
        "model": setup.model.name,
        "model_id": setup.model.id,
        "build_version": identity.BUILD_VERSION,
        "user_model": setup.model.user,
        "seed": cfg.seed,
        "threshold": cfg.select.threshold,
        "probe": probe_settings(cfg),
        "config": to_dict(cfg),
        "world_size": distributed.world_size(),
        "train_size": n,
        "prac_size": len(index),
        "prac_fraction": len(index) / n,
        "composition": {"hard_only": int((hard & ~flipped).sum()), "flipped_only": int((flipped & ~hard).sum()),
                        "both": int((hard & flipped).sum()), **profile(setup, tracker, flipped, index, logits)},
        # regression targets count as one class
        "class_counts": class_counts(y, data.num_classes),
        "prac_class_counts": class_counts(y[index], data.num_classes),
        # the flip probe predicts the training split twice (dense and pruned)
        "dense": dense_figures(stats, seconds, dense, cfg.prune.rewind_step, predicted=2 * n),
    }


def label_confidence(logits: torch.Tensor, y: torch.Tensor, regression: bool) -> dict[str, torch.Tensor]:
    """What the trained dense network says of each training label: ``label_prob``, the
    probability it gives the label, and ``other_prob``, the largest it gives another class
    (regression: 1 and 0, no label to doubt)."""
    if regression:
        return {"label_prob": torch.ones(len(y)), "other_prob": torch.zeros(len(y))}
    p = torch.softmax(logits.float(), 1).cpu()
    y = y.cpu()[:, None]
    return {"label_prob": p.gather(1, y).squeeze(1), "other_prob": p.scatter(1, y, 0.0).max(1).values}


def profile(setup: Setup, tracker: ForgettingTracker, flipped: torch.Tensor, index: torch.Tensor,
            logits: torch.Tensor) -> dict:
    """What the set is made of, for the report: members never learned, forgotten, flipped by
    the probe; those the trained dense network confidently assigns to another class (an
    estimate of the mislabelled, Paul et al. 2021: the hardest tail is partly mislabelled);
    and, when ``dataset.label_noise`` flipped labels, how many members truly carry one."""
    y, noisy = setup.data.y_train, setup.data.noisy
    out = {"never_learned": int(tracker.never_learned.cpu()[index].sum()),
           "forgotten": int((tracker.forgetting_events.cpu()[index] > setup.cfg.select.threshold).sum()),
           "flipped": int(flipped[index].sum()), "looks_mislabelled": None, "flipped_labels": None}
    if not setup.regression:
        out["looks_mislabelled"] = int(looks_mislabelled(label_confidence(logits, y, False))[index].sum())
    if noisy is not None:
        out["flipped_labels"] = int(noisy[index].sum())
    return out
