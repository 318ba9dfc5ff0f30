import os

import pytest
import torch

from prac.select.build import build_set
from prac.config.load import load_config
from prac.setup import from_config

os.environ.setdefault("PRAC_NO_PROGRESS", "1")
# One torch thread for the whole suite, the prac processes it starts included: its tensors are
# tiny, and a second thread only adds synchronisation, which a busy machine turns into waits
# (tests/search/test_search_loop.py beside two benchmarks on the 2-core VM: 40 s with one
# thread, 122 s with two; the tiny bench in tests/pipelines/test_bench.py: 19 s and 624 s).
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)


@pytest.fixture
def tiny_overrides():
    """A digits run small enough for the test suite: few epochs, few rounds."""
    return ["train.epochs=4", "prune.rounds=2", "dataset.train_limit=600"]


@pytest.fixture
def built(tmp_path, tiny_overrides):
    """A PrAC set of the tiny digits run: (config, cache entry, artifact root)."""
    cfg = load_config(None, tiny_overrides)
    return cfg, build_set(from_config(cfg), tmp_path), tmp_path
