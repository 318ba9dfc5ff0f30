"""What a stage needs besides its config: the data, the device, and how to build the network.

Two ways in, one code path after: the command line names a registry model and a dataset
kind in the config (``from_config``); the Python API hands over a user's ``model_fn`` and
arrays (``from_arrays``). Both give a ``Setup``, and ``prac.select.build`` / ``prac.search.loop`` only
ever see that.

Under torchrun every rank runs the whole stage (see ``prac.train.distributed``): each on its own
GPU (``cuda:LOCAL_RANK``), all with the same data and initial weights.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from prac.train import distributed
from prac.config.schema import ARRAYS_KIND, Config, DatasetConfig, digest, to_dict
from prac.data import Dataset, load_dataset
from prac.data.dataset import Pixels
from prac.data.npz import to_layout
from prac.data.prepare import Raw, finish
from prac.train.task import default_learned_mse, is_regression
from prac.errors import PracError
from prac.models import build_model
from prac.models.base import PRUNABLE_ATTR, output_name, prunable



def device() -> torch.device:
    if torch.cuda.is_available() and distributed.active():
        return torch.device("cuda", distributed.local_rank())
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.lru_cache(maxsize=2)
def dataset(cfg: DatasetConfig) -> Dataset:
    """The dataset, loaded once per process (a benchmark asks for it many times)."""
    return load_dataset(cfg)


@dataclass(frozen=True)
class ModelSpec:
    """How to build the network: a registry model named by the config, or a user's ``model_fn``.

    ``id`` names the architecture and its initialisation for cache keys and reuse checks:
    for a registry model the hash of its config (the seed is hashed beside it), for a user's
    model the hash of its structure (module tree, parameter names, shapes, dtypes) and of its
    initial weights at the run's seed, so two different models never share a cache entry."""
    name: str
    id: str
    make: Callable[[], nn.Module]
    user: bool = False
    prunable: tuple[str, ...] | None = None

    def build(self, seed: int, dev: torch.device) -> nn.Module:
        """A fresh network, initialised from ``seed``, on ``dev``."""
        torch.manual_seed(seed)
        model = self.make()
        if self.prunable is not None:
            setattr(model, PRUNABLE_ATTR, self.prunable)
        return model.to(dev)


@dataclass
class Setup:
    cfg: Config
    data: Dataset
    model: ModelSpec
    device: torch.device

    def new_model(self, seed: int | None = None) -> nn.Module:
        """The network with its initialisation fixed by ``seed`` (default: cfg.seed)."""
        return self.model.build(self.cfg.seed if seed is None else seed, self.device)

    def tensors(self) -> dict[str, torch.Tensor | Pixels]:
        return on_device(self.data, self.device)

    @property
    def regression(self) -> bool:
        """Float targets: a regression task (``prac.train.loop``)."""
        return is_regression(self.data.y_train)

    @functools.cached_property
    def learned_mse(self) -> float | None:
        """The squared error below which a regression sample counts as learned, resolved
        once for every split: ``select.learned_mse``, or 1 % of the training targets'
        variance (``prac.train.task.default_learned_mse``); None for class labels. Pass it as
        ``learned_mse=`` to ``train``, ``evaluate`` and ``select.prune_flips``."""
        if not self.regression:
            return None
        given = self.cfg.select.learned_mse
        return default_learned_mse(self.data.y_train) if given is None else float(given)

    def header(self) -> dict:
        """What a saved ticket needs to rebuild its network (``prac.api.load_ticket``)."""
        return {"model": self.model.name, "model_id": self.model.id, "user_model": self.model.user,
                "model_config": to_dict(self.cfg.model), "input_shape": list(self.data.input_shape),
                "num_classes": self.data.num_classes, "prunable": list(self.model.prunable or ()) or None,
                # the standardisation prac applied to the inputs (per channel, or per feature)
                "input_mean": None if self.data.mean is None else self.data.mean.flatten().tolist(),
                "input_std": None if self.data.std is None else self.data.std.flatten().tolist()}


def registry_spec(cfg: Config, input_shape: tuple[int, ...], num_classes: int) -> ModelSpec:
    return ModelSpec(name=cfg.model.name, id=digest("model", cfg.model),
                     make=lambda: build_model(cfg.model, input_shape, num_classes))


def from_config(cfg: Config) -> Setup:
    """The command line's setup: the dataset and registry model that ``cfg`` names."""
    data = dataset(cfg.dataset)
    floats_for_registry(data, cfg)
    return Setup(cfg, data, registry_spec(cfg, data.input_shape, data.num_classes), device())


def from_arrays(cfg: Config, model_fn: Callable[[], nn.Module] | None, arrays, prunable_names=None,
                preprocess="standardise") -> Setup:
    """The Python API's setup. ``arrays`` is (x_train, y_train, x_test, y_test) or None (the
    config's dataset); ``model_fn`` None means the config's registry model; ``preprocess``
    see ``arrays_dataset`` (arrays only)."""
    if arrays is not None:  # the config records where the data came from
        cfg = dataclasses.replace(cfg, dataset=dataclasses.replace(cfg.dataset, kind=ARRAYS_KIND, path=None))
    elif preprocess != "standardise":
        raise PracError("preprocess= applies to arrays given to prac; pass x_train, y_train, x_test, y_test too, "
                        "or leave preprocess out for the config's dataset")
    data = dataset(cfg.dataset) if arrays is None else arrays_dataset(cfg.dataset, *arrays, preprocess=preprocess)
    if model_fn is None:
        if prunable_names is not None:
            raise PracError("prunable= names the weights of a model of your own; pass model_fn too, "
                            "or leave prunable out for a registry model")
        floats_for_registry(data, cfg)
        spec = registry_spec(cfg, data.input_shape, data.num_classes)
    else:
        spec = user_spec(model_fn, cfg.seed, data, prunable_names)
    return Setup(cfg, data, spec, device())


# ---------------------------------------------------------------- a user's data

def floats_for_registry(data: Dataset, cfg: Config) -> None:
    """Refuse integer inputs (token ids, kept as int64) for a registry model: those take floats."""
    if not data.x_train.is_floating_point():
        raise PracError(f"the data's inputs are integers ({data.x_train.dtype}, kept as given: token ids), and the "
                        f"registry model {cfg.model.name} takes floats; store the inputs as floats (x.astype(np.float32)) "
                        "to have them standardised, or pass a model_fn that embeds the ids")


def _numpy(a, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    if isinstance(a, np.ndarray):
        return a
    raise PracError(f"{name} is a {type(a).__name__}; pass a torch tensor or a numpy array")


PREPROCESS = ("standardise", "none")


def arrays_dataset(cfg: DatasetConfig, x_train, y_train, x_test, y_test, preprocess="standardise") -> Dataset:
    """Arrays checked like an npz file (images N×C×H×W or N×H×W, flat N×D; integer labels),
    split, normalised and fingerprinted like every other dataset. A float ``y_train`` (N or
    N×k) makes a regression task: its targets, and ``y_test``'s, are kept as float32 N×k.

    ``preprocess``: "standardise" (floats and uint8 pixels standardised with the training
    split's statistics; other integer dtypes, e.g. token ids, kept as int64), "none" (x as
    given: float32 if floating, int64 if integer), or a function applied first to each x
    array (numpy in, numpy out), whose output is then standardised by the same rules."""
    source = "the arrays given to prac"
    if not (callable(preprocess) or (isinstance(preprocess, str) and preprocess in PREPROCESS)):
        raise PracError(f"preprocess={preprocess!r} is unknown; use 'standardise', 'none' or a function from one "
                        "numpy array of inputs to another")
    xs = {}
    for name, a in (("x_train", x_train), ("x_test", x_test)):
        a = _numpy(a, name)
        if callable(preprocess):
            try:
                a = preprocess(a)
            except Exception as e:  # the user's function: say which array it failed on
                raise PracError(f"preprocess failed on {name} of shape {a.shape} ({type(e).__name__}: "
                                f"{str(e).splitlines()[0] if str(e) else ''}); make it take one numpy array") from None
            a = _numpy(a, f"preprocess({name})")
        # N×H×W is grey images; N×C×H×W stays as it is (a tensor from PyTorch is channels-first)
        xs[name] = a[:, None] if a.ndim == 3 else a if a.ndim == 4 else to_layout(a, source, name)
    y_train = _numpy(y_train, "y_train")
    raw = Raw(xs["x_train"], y_train, xs["x_test"], _numpy(y_test, "y_test"), source=source, kind=ARRAYS_KIND,
              regression=y_train.dtype.kind == "f", standardise=preprocess != "none")
    return finish(raw, cfg)


# ---------------------------------------------------------------- a user's model

def _sanitised(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40] or "model"


def model_id(model: nn.Module) -> str:
    """sha256 of a module's structure and weights: its ``repr`` (the module tree and layer
    settings), every state entry's name, dtype and shape, and the bytes of each."""
    h = hashlib.sha256(repr(model).encode())
    for k, v in model.state_dict().items():
        t = v.detach().cpu().contiguous()
        h.update(f"|{k}:{t.dtype}:{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def user_spec(model_fn: Callable[[], nn.Module], seed: int, data: Dataset, prunable_names=None) -> ModelSpec:
    """A ``ModelSpec`` for a zero-argument callable returning an ``nn.Module`` that maps a batch
    of ``x`` to class logits, checked once on a small batch."""
    if not callable(model_fn):
        raise PracError(f"model_fn must be a zero-argument callable returning an nn.Module, not a "
                        f"{type(model_fn).__name__}; pass e.g. lambda: MyNet()")
    torch.manual_seed(seed)
    model = model_fn()
    if not isinstance(model, nn.Module):
        raise PracError(f"model_fn returned a {type(model).__name__}, not an nn.Module; return the network itself")
    names = None if prunable_names is None else tuple(prunable_names)
    if names is not None:
        setattr(model, PRUNABLE_ATTR, names)
    params = dict(model.named_parameters())
    if names is not None:
        wrong = [n for n in names if n not in params]
        if wrong or not names:
            raise PracError(f"prunable names {wrong or '[]'} are not parameters of {type(model).__name__}; "
                            f"choose from {', '.join(params)}")
    if not prunable(model):
        raise PracError(f"{type(model).__name__} has no nn.Linear or nn.Conv weight to prune; "
                        "pass prunable=[parameter names]")
    output_name(model)  # refuses a network without an output layer
    with torch.no_grad():
        model.eval()
        try:
            out = model(data.x_train[:2])
        except Exception as e:  # the user's forward: say what it was given
            raise PracError(f"{type(model).__name__} failed on a batch of shape {tuple(data.x_train[:2].shape)} "
                            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); make model_fn's "
                            "network take the data's layout") from None
    if not (isinstance(out, torch.Tensor) and out.shape == (2, data.num_classes)):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        k = data.num_classes
        if is_regression(data.y_train):  # float targets: one output per target column
            raise PracError(f"{type(model).__name__} maps a batch of 2 to {shape}, not to 2×{k} outputs (float y_train "
                            f"is {k} regression target{'s' * (k > 1)} per sample); give it {k} output{'s' * (k > 1)}, or pass "
                            "integer class labels")
        raise PracError(f"{type(model).__name__} maps a batch of 2 to {shape}, not to 2×{k} class "
                        f"logits; give it {k} outputs")
    # the prunable names change what a search computes: they are part of the model's identity
    ident = model_id(model) if names is None else digest("model", model_id(model), list(names))
    return ModelSpec(name=_sanitised(type(model).__name__), id=ident, make=model_fn, user=True,
                     prunable=names)


# ---------------------------------------------------------------- device tensors and weights

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


def state_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Snapshot:
    """Engine listener that keeps the weights after optimizer step ``step`` (rewind point)."""

    def __init__(self, step: int):
        self.step = step
        self.state: dict[str, torch.Tensor] | None = None

    def on_step(self, step: int, model: nn.Module) -> None:
        if step == self.step:
            self.state = state_of(model)

    def state_dict(self) -> dict:
        return {"state": self.state}

    def load_state_dict(self, saved: dict) -> None:
        self.state = saved["state"]
