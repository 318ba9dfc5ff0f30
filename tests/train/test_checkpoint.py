"""Checkpoints: exact round trips, damaged files refused by name, and an engine run resumed
from an epoch checkpoint that ends bit-identical to the uninterrupted run."""

import random

import numpy as np
import pytest
import torch

from prac.train.checkpoint import load_checkpoint, remove_checkpoint, rng_state, save_checkpoint, set_rng_state
from prac.config.schema import TrainConfig
from prac.train.loop import train
from prac.errors import PracError
from prac.select.track import ForgettingTracker


def test_round_trip_keeps_types_keys_and_bits(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {"opt": opt.state_dict(), "masks": {"w": torch.tensor([True, False])}, "round": 3, "lr": 1 / 3,
             "rounds": [{"acc": 0.5, "stopped": False}], "none": None, "pair": (1, "a")}
    save_checkpoint(tmp_path / "c.safetensors", state)
    back = load_checkpoint(tmp_path / "c.safetensors")
    assert back["round"] == 3 and back["lr"] == 1 / 3 and back["pair"] == (1, "a") and back["none"] is None
    assert back["rounds"] == state["rounds"] and back["masks"]["w"].dtype == torch.bool
    assert set(back["opt"]["state"]) == {0, 1}           # int parameter keys survive JSON
    assert back["opt"]["param_groups"][0]["betas"] == (0.9, 0.999)
    for k, v in state["opt"]["state"][0].items():
        assert torch.equal(back["opt"]["state"][0][k], v)


def test_missing_is_none_and_damage_is_refused_by_name(tmp_path):
    path = tmp_path / "c.safetensors"
    assert load_checkpoint(path) is None
    save_checkpoint(path, {"w": torch.arange(1000, dtype=torch.float32)})
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF                                    # one flipped byte in the tensor body
    path.write_bytes(bytes(data))
    with pytest.raises(PracError, match=r"c\.safetensors is corrupt \(checksum"):
        load_checkpoint(path)
    path.write_bytes(bytes(data[:50]))                   # truncated
    with pytest.raises(PracError, match="unreadable"):
        load_checkpoint(path)
    (tmp_path / ".c.safetensors.x1.tmp").write_bytes(b"partial")
    remove_checkpoint(path)
    assert list(tmp_path.iterdir()) == []


def test_global_rng_states_round_trip(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    save_checkpoint(tmp_path / "r.safetensors", {"rng": rng_state()})
    expect = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(load_checkpoint(tmp_path / "r.safetensors")["rng"])
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expect[0], got[0]) and np.array_equal(expect[1], got[1]) and expect[2] == got[2]


@pytest.mark.parametrize("cfg", [TrainConfig(batch_size=16, lr=0.01),
                                 TrainConfig(batch_size=16, optimizer="sgd", lr=0.05, weight_decay=1e-3,
                                             schedule="cosine", warmup=0.2, augment=True)])
def test_engine_resumed_from_an_epoch_checkpoint_ends_bit_identical(tmp_path, cfg):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(200, 1, 6, 6, generator=g), torch.randint(0, 3, (200,), generator=g)
    idx = torch.arange(150)

    def fresh():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))

    masks = {"1.weight": torch.rand(16, 36, generator=g) > 0.5, "3.weight": torch.ones(3, 16, dtype=torch.bool)}
    ref, ref_tracker = fresh(), ForgettingTracker(200)
    saved = {}
    train(ref, x, y, idx, cfg, epochs=3.5, seed=7, masks=masks, listeners=[ref_tracker],
          checkpoint=lambda s: saved.setdefault(s["epoch"], save_checkpoint(tmp_path / f"e{s['epoch']}", s)))
    assert sorted(saved) == [1, 2, 3, 4]      # the last, half epoch too
    for epoch in (1, 3, 4):  # as if killed during epoch 2, during the last half epoch, or after it
        model, tracker = fresh(), ForgettingTracker(200)
        st = train(model, x, y, idx, cfg, epochs=3.5, seed=7, masks=masks, listeners=[tracker],
                   resume=load_checkpoint(tmp_path / f"e{epoch}"))
        assert st.steps == 35
        for a, b in zip(ref.state_dict().values(), model.state_dict().values()):
            assert torch.equal(a, b)
        for k, v in ref_tracker.state_dict().items():
            assert torch.equal(v, tracker.state_dict()[k]), k


def test_a_diverged_run_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y = torch.randn(64, 5), torch.randint(0, 2, (64,))
    model = torch.nn.Linear(5, 2)

    class Poison:  # a weight turns NaN in the middle of epoch 3, as an exploding update would
        def on_step(self, step, m):
            if step == 2 * 8 + 3:
                with torch.no_grad():
                    m.weight[0, 0] = float("nan")

    path = tmp_path / "c.safetensors"
    with pytest.raises(PracError, match=r"training diverged \(loss is nan in epoch 2\); lower train.lr"):
        train(model, x, y, torch.arange(64), TrainConfig(batch_size=8), epochs=5, seed=0, listeners=[Poison()],
              checkpoint=lambda s: save_checkpoint(path, s))
    good = load_checkpoint(path)
    assert good["epoch"] == 2 and all(torch.isfinite(v).all() for v in good["model"].values())
