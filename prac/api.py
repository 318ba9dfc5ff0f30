"""The Python API: the command line's two stages as functions, for your own model and data.

    import prac
    pset = prac.build_prac(lambda: MyNet(), x_train, y_train, x_test, y_test, train__epochs=10)
    ticket = prac.find_ticket(lambda: MyNet(), x_train, y_train, x_test, y_test, prac_set=pset)
    net = ticket.model()                 # the retrained sparse network, pruned weights exactly 0
    ticket.export("ticket.safetensors")  # compact: surviving values + mask bits or indices
    again = prac.load_ticket("ticket.safetensors", model_fn=lambda: MyNet())

``model_fn`` is any zero-argument callable returning an ``nn.Module`` that maps a batch of
``x`` to class logits (prac seeds torch's RNG with ``seed`` before calling it). It prunes
every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` weight, the last Linear as the output layer at
half the rate; ``prunable=[names]`` chooses other parameters. Without ``model_fn`` the
config's registry model (``model.name``) is used, and without arrays the config's dataset.

``config`` is a YAML path, a dict of the dotted keys of ``--set`` (``{"train.lr": 1e-3}``)
or a ``prac.config.schema.Config``; keyword overrides spell the dot as a double underscore
(``train__lr=1e-3``). Both are checked like ``--set`` and raise ``prac.PracError``.
Artifacts go under ``out`` (default ``artifacts``), as with the command line: the same
arguments again are a cache hit.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from prac.select import cache
from prac.select.build import build_set as _build
from prac.config.schema import Config, ModelConfig, to_dict
from prac.config.load import _build as _from_plain, load_config
from prac.errors import PracError
from prac.models import build_model
from prac.models.base import PRUNABLE_ATTR
from prac.prune import density
from prac.search.loop import TICKET, TRAINED, run_search as _search
from prac.setup import Setup, from_arrays
from prac.store import load_tensors, read_json, unpack

ModelFn = Callable[[], nn.Module]


@dataclass
class PracSet:
    """A cached PrAC set: ``index`` (sorted int64 indices into the training split), its
    folder ``path``, cache ``key`` and ``meta`` (what built it, size, dense accuracy)."""
    key: str
    index: torch.Tensor
    path: Path
    meta: dict

    @classmethod
    def of(cls, entry: cache.Entry) -> "PracSet":
        return cls(entry.key, entry.stats()["index"], entry.path, entry.meta)

    def stats(self) -> dict[str, torch.Tensor]:
        """The per-sample statistics: forgetting_events, never_learned, prune_flipped, presentations, ..."""
        return cache.load(self.path).stats()

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return (f"PracSet(key={self.key[:12]}…, size={len(self)} of {self.meta['train_size']} "
                f"({100 * self.meta['prac_fraction']:.1f} %), model={self.meta['model']}, path={self.path})")


@dataclass
class Ticket:
    """A ticket: ``masks`` (parameter name -> bool tensor), the run's ``report`` (report.json)
    and folder ``run_dir`` (None for an exported file). ``model()`` rebuilds the network."""
    masks: dict[str, torch.Tensor]
    report: dict
    run_dir: Path | None
    network: dict
    trained: dict[str, torch.Tensor]
    rewind: dict[str, torch.Tensor] | None
    model_fn: ModelFn | None = field(default=None, repr=False)

    @property
    def density(self) -> float:
        return density(self.masks)

    def model(self, trained: bool = True) -> nn.Module:
        """The sparse network on the CPU in eval mode: after its full-data retrain
        (``trained=True``) or at its rewind weights (the ticket itself); pruned weights are
        exactly zero in both."""
        if trained:
            state = self.trained
        else:
            if self.rewind is None:
                raise PracError("this ticket was exported without its rewind weights; export it with rewind=True "
                                "(`prac export RUN --rewind`) or load it from its run folder")
            state = self.rewind
        net = network(self.network, self.model_fn)
        state = {k: (v * self.masks[k].to(v.dtype) if k in self.masks else v) for k, v in state.items()}
        net.load_state_dict(state)
        return net.eval()

    def preprocess(self, x) -> torch.Tensor:
        """Raw inputs (tensor or numpy array, in the layout given to prac: N×H×W or N×C×H×W
        images, N×D features) as the network takes them: float32, channels-first and
        standardised with the training split's statistics, as prac trained it."""
        x = torch.as_tensor(x).to(torch.float32)
        shape = tuple(self.network["input_shape"])
        if x.dim() == 3 and len(shape) == 3:
            x = x[:, None]
        elif x.dim() == 4 and len(shape) == 3 and tuple(x.shape[1:]) != shape and x.shape[-1] == shape[0]:
            x = x.permute(0, 3, 1, 2)          # N×H×W×C, as numpy and PIL store images
        if tuple(x.shape[1:]) != shape:
            raise PracError(f"inputs of shape {tuple(x.shape)} do not fit the network's samples of shape {shape}; "
                            "give them in the layout the training data had")
        mean, std = self.network.get("input_mean"), self.network.get("input_std")
        if mean is None:
            return x
        view = (1, -1, 1, 1) if x.dim() == 4 else (1, -1)
        return (x - torch.tensor(mean).view(view)) / torch.tensor(std).view(view)

    def export(self, path: str | Path, rewind: bool = False) -> dict:
        """Write the compact ticket file (``prac.export``); its sizes against a dense file."""
        from prac.export import write_export

        header = {"network": self.network, "ticket": self.report.get("ticket"), "dataset": self.report.get("dataset"),
                  "run": None if self.run_dir is None else Path(self.run_dir).name}
        return write_export(Path(path), trained=self.trained, masks=self.masks, header=header,
                            rewind=self.rewind if rewind else None)

    def __repr__(self) -> str:
        t = self.report.get("ticket") or {}
        acc = f", test accuracy {100 * t['test_acc']:.2f} %" if "test_acc" in t else ""
        return f"Ticket({self.network['model']}, {100 * self.density:.2f} % of weights{acc}, run_dir={self.run_dir})"


# ---------------------------------------------------------------- the two stages

def build_prac(model_fn: ModelFn | None = None, x_train=None, y_train=None, x_test=None, y_test=None, *,
               config: str | Path | dict | Config | None = None, out: str | Path | None = None,
               prunable: list[str] | None = None, progress: bool = False,
               preprocess: str | Callable = "standardise", **overrides: Any) -> PracSet:
    """Train the dense network with the forgetting tracker, probe it by pruning and cache the
    PrAC set (``prac build-prac``); a cache hit when nothing changed. ``preprocess`` (arrays
    only): "standardise" (floats and uint8 pixels; integer ids stay int64), "none" (x as
    given) or a function applied to each x array first (``prac.setup.arrays_dataset``)."""
    setup = _setup(model_fn, (x_train, y_train, x_test, y_test), config, overrides, prunable, preprocess=preprocess)
    with _bars(progress) as bars:
        return PracSet.of(_build(setup, out, bars))


def find_ticket(model_fn: ModelFn | None = None, x_train=None, y_train=None, x_test=None, y_test=None, *,
                prac_set: PracSet | str | Path | None = None, config: str | Path | dict | Config | None = None,
                out: str | Path | None = None, prunable: list[str] | None = None, progress: bool = False,
                preprocess: str | Callable = "standardise", **overrides: Any) -> Ticket:
    """Search a ticket by IMP on the PrAC set, validate it on the full data and account for
    the compute (``prac find-ticket``). ``prac_set``: a ``PracSet``, a key (or unique prefix)
    under ``out``, or a ``prac/<key>`` folder; None builds (or reuses) the set of this config
    first. With a set, its own config is the base that ``config`` and overrides change.
    ``preprocess`` as in ``build_prac``: give the same as when the set was built."""
    entry = None
    base = None
    if prac_set is not None:
        entry = cache.load(prac_set.path) if isinstance(prac_set, PracSet) else cache.resolve(out, str(prac_set))
        base = entry.check_current().meta["config"]
    setup = _setup(model_fn, (x_train, y_train, x_test, y_test), config, overrides, prunable, base, preprocess)
    with _bars(progress) as bars:
        if entry is None:
            entry = _build(setup, out, bars)
        report = _search(setup, entry, out, bars)
    return load_ticket(report["run_dir"], model_fn)


def load_ticket(path: str | Path, model_fn: ModelFn | None = None) -> Ticket:
    """A ticket from a finished run folder (``runs/<run>``) or a file of ``prac export``.
    A registry model rebuilds itself from the saved header; a model of your own needs its
    ``model_fn``."""
    path = Path(path)
    if path.is_dir():
        if not (path / "report.json").is_file():
            raise PracError(f"{path} is not a finished prac run (no report.json); give a runs/<run> folder whose "
                            "find-ticket finished, or an exported ticket file")
        report = read_json(path / "report.json")
        ticket = load_tensors(path / TICKET)
        masks = unpack(ticket, "mask")
        rewind = unpack(ticket, "rewind")
        if not (path / TRAINED).is_file():
            raise PracError(f"{path} was written by an older prac without the trained ticket ({TRAINED}); "
                            "run find-ticket again to get it")
        t = Ticket(masks, report, path, report["network"], load_tensors(path / TRAINED), rewind, model_fn)
    elif path.is_file():
        from prac.export import read_export

        ex = read_export(path)
        report = {"ticket": ex.header.get("ticket"), "dataset": ex.header.get("dataset")}
        t = Ticket(ex.masks, report, None, ex.header["network"], ex.trained, ex.rewind, model_fn)
    else:
        raise PracError(f"{path} does not exist; give a runs/<run> folder or a file written by `prac export`")
    # a missing or mismatched model_fn is refused now, not on first use
    _check_fits(network(t.network, model_fn), t.trained, f"the ticket in {path}")
    return t


# ---------------------------------------------------------------- helpers

def network(header: dict, model_fn: ModelFn | None) -> nn.Module:
    """An untrained network of the architecture ``header`` names (see ``Setup.header``)."""
    if header.get("user_model"):
        if model_fn is None:
            raise PracError(f"this ticket is of a model of your own ({header['model']}); pass the same "
                            "model_fn=... that found it")
        net = model_fn()
        if not isinstance(net, nn.Module):
            raise PracError(f"model_fn returned a {type(net).__name__}, not an nn.Module; return the network itself")
    else:
        cfg = _from_plain(ModelConfig, header["model_config"])
        net = build_model(cfg, tuple(header["input_shape"]), header["num_classes"])
    if header.get("prunable"):
        setattr(net, PRUNABLE_ATTR, tuple(header["prunable"]))
    return net


def _check_fits(net: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    mine = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in state.items()}
    if mine != theirs:
        diff = sorted(set(mine.items()) ^ set(theirs.items()))[:3]
        raise PracError(f"model_fn's network does not match {what} (differs at {diff}); pass the model_fn that "
                        "found the ticket")


def _config(config, overrides: dict, base: dict | None) -> Config:
    values = {k.replace("__", "."): v for k, v in overrides.items()}
    if isinstance(config, Config):  # complete already: it replaces a set's config
        return load_config(None, base=to_dict(config), values=values)
    if isinstance(config, dict):
        return load_config(None, base=base, values={**config, **values})
    if config is not None and not isinstance(config, (str, os.PathLike)):
        raise PracError(f"config is a {type(config).__name__}; pass a YAML path, a dict of dotted keys "
                        "({'train.lr': 0.001}) or a prac.config.schema.Config")
    return load_config(config, base=base, values=values)


def _setup(model_fn, arrays, config, overrides, prunable, base=None, preprocess="standardise") -> Setup:
    given = [a is not None for a in arrays]
    if any(given) and not all(given):
        raise PracError("pass all four of x_train, y_train, x_test, y_test, or none (the config's dataset)")
    return from_arrays(_config(config, overrides, base), model_fn, arrays if all(given) else None, prunable,
                       preprocess)


def _bars(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from prac.progress import progress_bars

    return progress_bars(True)
