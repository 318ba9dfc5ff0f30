import os

import pytest
import torch

from prac.select.build import build_set
from prac.config.load import load_config
from prac.setup import from_config

os.environ.setdefault("PRAC_NO_PROGRESS", "1")
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture
def tiny_overrides():
    """A digits run small enough for the test suite: few epochs, few rounds."""
    return ["train.epochs=4", "prune.rounds=2", "dataset.train_limit=600"]


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny tensors: on the shared 2-core machines a second
    thread costs far more per operation than it gains."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def built(tmp_path, tiny_overrides):
    """A PrAC set of the tiny digits run: (config, cache entry, artifact root)."""
    cfg = load_config(None, tiny_overrides)
    return cfg, build_set(from_config(cfg), tmp_path), tmp_path
