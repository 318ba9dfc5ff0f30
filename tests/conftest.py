import os

import pytest
import torch

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
