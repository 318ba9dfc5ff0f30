"""Which loader reads which ``dataset.kind``, and ``load_dataset``, the one entry point.

A loader takes the ``DatasetConfig`` and returns a ``Raw`` (prac.data.prepare); the shared
steps (validation split, train_limit, normalisation, fingerprint) happen in ``finish``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from prac.config.schema import ARRAYS_KIND, DatasetConfig
from prac.errors import PracError
from prac.data import cifar, digits, hf, idx, mnist1d, npz
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
    "mnist1d": mnist1d.load,
}

# These kinds read their original files when they are on disk; they go through Hugging Face
# when dataset.path is a save_to_disk folder, or when no dataset.path is given and there is
# no default folder on this machine (then hf.HUB_DEFAULTS names the copy; another hub copy
# is kind hf with dataset.path=owner/name). A dataset.path that does not exist stays an error:
# it is more likely a typo than a wish to download.
HUB_FALLBACK = ("cifar10", "cifar100", "mnist", "fashion_mnist")


def _not_on_disk(cfg: DatasetConfig) -> bool:
    default = idx.DEFAULT_DIRS.get(cfg.kind)
    return cfg.path is None and not (default and Path(default).is_dir())


def load_dataset(cfg: DatasetConfig) -> Dataset:
    """Load, split and normalise the data ``cfg`` names; bad input raises ``PracError``."""
    cfg.check()
    if cfg.kind == ARRAYS_KIND:
        raise PracError("dataset.kind=arrays names data that were handed to the Python API as arrays; pass them "
                        "to prac.build_prac / prac.find_ticket again, or set a dataset kind that prac can load")
    if cfg.kind in HUB_FALLBACK and (hf.is_saved_dir(cfg.path) or _not_on_disk(cfg)):
        raw = hf.load(cfg)
    else:
        raw = LOADERS[cfg.kind](cfg)
    return finish(raw, cfg)
