"""Helpers shared by the stages: device choice, memoised data, model construction.

Under torchrun every rank runs the whole stage (see ``prac.distributed``): each on its own
GPU (``cuda:LOCAL_RANK``), all with the same data and initial weights."""

from __future__ import annotations

import functools

import torch

from prac import distributed
from prac.config import Config, DatasetConfig
from prac.data import Dataset, load_dataset
from prac.data.dataset import Pixels
from prac.models import build_model


def device() -> torch.device:
    if torch.cuda.is_available() and distributed.active():
        return torch.device("cuda", distributed.local_rank())
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.lru_cache(maxsize=2)
def dataset(cfg: DatasetConfig) -> Dataset:
    """The dataset, loaded once per process (a benchmark asks for it many times)."""
    return load_dataset(cfg)


def on_device(data: Dataset, dev: torch.device, pixels: bool | None = None) -> dict[str, torch.Tensor | Pixels]:
    """The six splits on ``dev``. With ``pixels`` (default: on CUDA) images whose source was
    uint8 stay uint8 there (``Pixels``, 4× less memory) and are normalised per batch by
    ``prac.data.dataset.batch``; the labels, and every other kind of data, are tensors as they
    are. CPU keeps today's float tensors: same values, but no memory to save there (the
    ``Dataset`` holds the floats anyway) and a normalisation per batch to pay."""
    if pixels is None:
        pixels = torch.device(dev).type == "cuda"
    out: dict[str, torch.Tensor | Pixels] = {}
    for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        px = data.as_pixels(k, dev) if pixels and k.startswith("x") else None
        out[k] = getattr(data, k).to(dev) if px is None else px
    return out


def new_model(cfg: Config, data: Dataset, dev: torch.device, seed: int | None = None) -> torch.nn.Module:
    """The model of ``cfg`` with its initialisation fixed by ``seed`` (default: cfg.seed)."""
    torch.manual_seed(cfg.seed if seed is None else seed)
    return build_model(cfg.model, data.input_shape, data.num_classes).to(dev)


def state_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Snapshot:
    """Engine listener that keeps the weights after optimizer step ``step`` (rewind point)."""

    def __init__(self, step: int):
        self.step = step
        self.state: dict[str, torch.Tensor] | None = None

    def on_step(self, step: int, model: torch.nn.Module) -> None:
        if step == self.step:
            self.state = state_of(model)

    def state_dict(self) -> dict:
        return {"state": self.state}

    def load_state_dict(self, saved: dict) -> None:
        self.state = saved["state"]
