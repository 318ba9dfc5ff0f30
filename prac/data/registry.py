"""Which loader reads which ``dataset.kind``, and ``load_dataset``, the one entry point.

A loader takes the ``DatasetConfig`` and returns a ``Raw`` (prac.data.prepare); the shared
steps (validation split, train_limit, normalisation, fingerprint) happen in ``finish``.
"""

from __future__ import annotations

from typing import Callable

from prac.config import DatasetConfig
from prac.data import cifar, digits, hf, idx, npz
from prac.data.dataset import Dataset
from prac.data.prepare import Raw, finish

LOADERS: dict[str, Callable[[DatasetConfig], Raw]] = {
    "digits": digits.load,
    "fashion_mnist": idx.load,
    "mnist": idx.load,
    "cifar10": cifar.load,
    "cifar100": cifar.load,
    "npz": npz.load,
    "tiny_imagenet": hf.load,
    "hf": hf.load,
}

# These kinds read their original files by default; they go through Hugging Face only when
# asked explicitly (dataset.name, e.g. uoft-cs/cifar10, ylecun/mnist,
# zalando-datasets/fashion_mnist) or when dataset.path is a save_to_disk folder.
HUB_FALLBACK = ("cifar10", "cifar100", "mnist", "fashion_mnist")


def load_dataset(cfg: DatasetConfig) -> Dataset:
    """Load, split and normalise the data ``cfg`` names; bad input raises ``PracError``."""
    cfg.check()
    if cfg.kind in HUB_FALLBACK and (cfg.name or hf.is_saved_dir(cfg.path)):
        raw = hf.load(cfg)
    else:
        raw = LOADERS[cfg.kind](cfg)
    return finish(raw, cfg)
