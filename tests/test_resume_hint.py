"""An interrupted command names the checkpoint it leaves: the newest checkpoint file it saved
or resumed from that is still on disk, and the command that continues it."""

import os
import subprocess
import sys

import pytest
import torch

from prac.train import checkpoint
from prac.train.checkpoint import load_checkpoint, remove_checkpoint, resume_hint, save_checkpoint

NOTHING = "nothing was checkpointed yet; the same command starts over"


@pytest.fixture
def fresh(monkeypatch):
    """The module as a new process finds it: nothing saved or loaded yet."""
    monkeypatch.setattr(checkpoint, "_live", {})
    monkeypatch.setattr(checkpoint, "latest", None)


def test_a_loaded_checkpoint_is_named_until_removed(tmp_path, fresh):
    run = tmp_path / "runs" / "r"
    path = run / "checkpoint.safetensors"
    save_checkpoint(path, {"w": torch.ones(2)})
    checkpoint._live.clear()  # a new process: the file is there, this process has not touched it
    assert resume_hint() == NOTHING
    assert load_checkpoint(path) is not None  # a resumed command, interrupted before its next save
    assert resume_hint() == f"its checkpoint is {path}; continue with `prac find-ticket --resume {run}`"
    assert resume_hint("bench") == f"its checkpoint is {path}; the same command continues from it"
    other = tmp_path / "prac" / ".abc.checkpoint.safetensors"  # a later one saved and removed: the first still stands
    save_checkpoint(other, {"w": torch.zeros(1)})
    assert resume_hint() == f"its checkpoint is {other}; the same command continues from it"
    remove_checkpoint(other)
    assert str(path) in resume_hint()
    path.unlink()  # gone from disk by other means: not named
    assert resume_hint() == NOTHING
    assert load_checkpoint(path) is None and resume_hint() == NOTHING


DRIVER = """
import sys
from pathlib import Path
import prac.train.checkpoint as ckpt
n, calls, original = int(sys.argv[1]), [0], ckpt.save_checkpoint
def save(path, state):  # Ctrl-C at the n-th save of a run folder's checkpoint
    if Path(path).name == "checkpoint.safetensors":
        calls[0] += 1
        if calls[0] == n:
            raise KeyboardInterrupt
    return original(path, state)
ckpt.save_checkpoint = save
sys.argv = ["prac", *sys.argv[2:]]
from prac.cli import main
main()
"""


def test_ctrl_c_in_a_resumed_run_names_its_checkpoint(tmp_path):
    env = {**os.environ, "PRAC_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    args = ["find-ticket", "-q", "--out", str(tmp_path), "--set", "train.epochs=3", "--set", "prune.rounds=2",
            "--set", "dataset.train_limit=300"]

    def interrupted(n, *argv):
        res = subprocess.run([sys.executable, "-c", DRIVER, str(n), *argv], capture_output=True, text=True, env=env,
                             timeout=300)
        assert res.returncode == 130, res.stderr[-800:]
        return res.stderr.strip().splitlines()[-1]

    first = interrupted(3, *args)
    [run] = list((tmp_path / "runs").iterdir())
    assert (run / "checkpoint.safetensors").is_file()
    expected = f"interrupted; its checkpoint is {run / 'checkpoint.safetensors'}; continue with " \
               f"`prac find-ticket --resume {run}`"
    assert first == expected
    # resumed, and interrupted before it saved anything itself: the checkpoint it resumed from is named
    assert interrupted(1, "find-ticket", "-q", "--resume", str(run)) == expected
