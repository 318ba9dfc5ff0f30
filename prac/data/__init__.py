"""Datasets as in-memory CPU tensors, split, normalised and fingerprinted.

``load_dataset(cfg)`` is the entry point; ``LOADERS`` maps each ``dataset.kind`` to the
module that reads it (digits, idx, npz, cifar, hf). See ``prepare`` for the shared rules.
"""

from prac.data.dataset import Dataset
from prac.data.registry import LOADERS, load_dataset

__all__ = ["Dataset", "LOADERS", "load_dataset"]
