"""The dense reference of a search that reuses a PrAC set built with another architecture.

A ticket is winning when it matches the dense network of its own architecture trained as a
dense network is: on the full training split for ``train.epochs``. A set's build holds that
network for the architecture it was built with; for any other, it is trained here once and
cached under ``<root>/dense/<key>/`` by the key of the dense run it is
(``prac.config.identity.dense_key``), or taken from any cached set whose build trained it.
It is the search's round 0: the first round's masks come from it (docs/transfer.md measures
this against the subset-trained round 0 it replaced), and its steps are charged to the run.
"""

from __future__ import annotations

import datetime

from prac import paths
from prac.config import identity
from prac.config.load import load_config
from prac.config.schema import to_dict
from prac.progress import say
from prac.select import cache
from prac.setup import Setup, state_of
from prac.store import pack
from prac.train import distributed
from prac.train.checkpoint import load_checkpoint, remove_checkpoint
from prac.train.dense import dense_figures, dense_run

KIND = "dense reference"


def reference_key(setup: Setup) -> str:
    return identity.dense_key(setup.cfg, setup.data.fingerprint, setup.model.id)


def dense_reference(setup: Setup, out, progress=None) -> cache.Entry:
    """The cached dense network of ``setup`` (trained now if no cache holds it): an entry
    whose ``dense()`` holds init, rewind and trained weights and whose ``meta["dense"]`` its
    figures, like a set's."""
    key = reference_key(setup)
    path = paths.dense_dir(out, key)
    if distributed.main_says((path / cache.META).is_file()):
        return cache.load(path)
    built = set_holding(setup, out, key)
    if distributed.main_says(built is not None):
        say(f"dense reference of {setup.model.name}: the dense run of PrAC set {built.key[:12]}")
        return built
    return train_reference(setup, out, key, path, progress)


def set_holding(setup: Setup, out, key: str) -> cache.Entry | None:
    """A cached PrAC set whose build trained the dense run ``key`` (same data, network and
    dense recipe), or None."""
    for entry in cache.entries(out):
        meta = entry.meta
        if (identity.stale_set(meta) is None and meta["model_id"] == setup.model.id
                and meta["fingerprint"] == setup.data.fingerprint
                and identity.dense_key(load_config(None, [], base=meta["config"]), meta["fingerprint"],
                                       meta["model_id"]) == key):
            return entry
    return None


def train_reference(setup: Setup, out, key: str, path, progress=None) -> cache.Entry:
    """Train the dense reference ``key`` on the full split and cache it (atomically; its
    training checkpoints every epoch beside the cache and the same command continues it)."""
    cfg = setup.cfg
    paths.dense_root(out).mkdir(parents=True, exist_ok=True)
    ckpt = paths.dense_root(out) / f".{key}.checkpoint.safetensors"
    saved = load_checkpoint(ckpt)
    say(f"dense reference of {setup.model.name} ({cfg.train.epochs:g} epochs on the full split, seed {cfg.seed}): "
        + ("training it once, cached as dense/" if saved is None else
           f"resuming it from epoch {saved['train']['epoch']}, dense/") + key[:12])
    model = setup.new_model()
    init = state_of(model)
    stats, rewind, dense = dense_run(setup, model, setup.tensors(), [], init, ckpt, saved, progress,
                                     label=f"dense reference {setup.model.name}")
    seconds = stats.seconds  # every session of its training, a resumed one's included
    meta = {"key": key, "kind": KIND,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "dataset": setup.data.kind, "fingerprint": setup.data.fingerprint, "model": setup.model.name,
            "model_id": setup.model.id, "build_version": identity.BUILD_VERSION, "seed": cfg.seed,
            "config": to_dict(cfg), "world_size": distributed.world_size(), "train_size": setup.data.train_size,
            "dense": dense_figures(stats, seconds, dense, cfg.prune.rewind_step)}
    if distributed.is_main():
        cache.publish(path, {cache.DENSE: pack(init=init, rewind=rewind, trained=state_of(model))}, meta)
        remove_checkpoint(ckpt)
    distributed.barrier()  # the other ranks read the entry rank 0 published
    entry = cache.load(path)
    say(f"dense reference of {setup.model.name}: val {100 * meta['dense']['val_acc']:.2f} %, "
        f"test {100 * meta['dense']['test_acc']:.2f} % after {stats.steps:,} steps in {seconds:.1f} s")
    return entry
