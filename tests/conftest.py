import os

import pytest
import torch

os.environ.setdefault("PRAC_NO_PROGRESS", "1")
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture
def tiny_overrides():
    """A digits run small enough for the test suite: few epochs, few rounds."""
    return ["train.epochs=4", "prune.rounds=2", "dataset.train_limit=600"]
