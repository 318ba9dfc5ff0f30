"""Typed experiment configuration: the dataclasses, their checks, and their hash.

A config is a tree of frozen dataclasses (read from YAML and ``--set`` overrides by
``prac.config.load``); ``check`` turns a bad value into a one-line ``PracError``. The hash
of a config (``digest``) leaves out fields at their default, so a field added later with a
default does not change old keys (OpenLTH's rule).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from prac.errors import PracError

# the kind a config records for data handed to the Python API as arrays (never loaded from a config)
ARRAYS_KIND = "arrays"
DATASET_KINDS = ("digits", "fashion_mnist", "mnist", "cifar10", "cifar100", "tiny_imagenet", "npz", "hf",
                 "mnist1d")
# Upper bounds of numbers that would otherwise fail deep in a run, with a traceback. The
# weights and the optimizer state are float32, which ends at 3.4e38; torch refuses a step
# factor beyond it, and Adam's first step is lr / (1 - beta1) = 10 lr: 1e37 is the round
# number below a tenth of 3.4e38. (Any lr far above 1 diverges; training says so after an epoch.)
MAX_LR = 1e37
# A million epochs would not end in any reasonable time; 1e308 of them overflow the step count.
MAX_EPOCHS = 1e6
# sklearn's split and numpy take seeds in [0, 2**32); derived seeds (seed * 1009 + round) stay in 64 bits.
SEED_LIMIT = 2**32


@dataclass(frozen=True)
class DatasetConfig:
    kind: str = field(default="digits", metadata={"help": f"one of {', '.join(DATASET_KINDS)}", "role": "data"})
    path: str | None = field(default=None, metadata={
        "help": "directory or file of the data (kind-specific default); for hf a save_to_disk folder or a hub "
                "dataset name (owner/name)", "role": "data"})
    val_size: float = field(default=0.1, metadata={"help": "validation split held out of train: fraction (<1) or count",
                                                   "role": "data"})
    split_seed: int = field(default=0, metadata={"help": "seed of the train/validation (and digits test) split, the "
                                                         "label noise and the imbalance", "role": "data"})
    train_limit: int | None = field(default=None, metadata={"help": "use only the first N training samples (quick runs)",
                                                            "role": "data"})
    label_noise: float = field(default=0.0, metadata={"help": "fraction of training and validation labels flipped to "
                                                              "another class (test stays clean)", "role": "data"})
    imbalance: float = field(default=1.0, metadata={"help": "long-tailed training split: class c keeps "
                                                            "ratio^(-c/(K-1)) of its samples (1: off)", "role": "data"})

    def check(self) -> None:
        if self.kind not in DATASET_KINDS and self.kind != ARRAYS_KIND:
            raise PracError(f"dataset.kind '{self.kind}' is unknown; use one of: {', '.join(DATASET_KINDS)}")
        if not (0 < self.val_size < 1 or (self.val_size >= 1 and float(self.val_size).is_integer())):
            raise PracError(f"dataset.val_size={self.val_size} is invalid; use a fraction in (0, 1) or a whole count")
        if self.train_limit is not None and self.train_limit < 10:
            raise PracError(f"dataset.train_limit={self.train_limit} is too small; use at least 10 or leave it unset")
        if not 0 <= self.split_seed < SEED_LIMIT:
            raise PracError(f"dataset.split_seed={self.split_seed} is out of range; use a whole number from 0 to "
                            f"{SEED_LIMIT - 1}")
        if not 0 <= self.label_noise < 1:
            raise PracError(f"dataset.label_noise={self.label_noise} is out of range; use a fraction in [0, 1), "
                            "e.g. 0.2 (0: clean labels)")
        if not 1 <= self.imbalance < math.inf:
            raise PracError(f"dataset.imbalance={self.imbalance} is out of range; use a ratio >= 1, e.g. 10 "
                            "(1: balanced, as given)")


def key(default, help: str, role: str):
    """A settable config key: its default, one line of help, and its role in a run's identity
    (``prac.config.identity``): which cached artifact it belongs to."""
    return field(default=default, metadata={"help": help, "role": role})


@dataclass(frozen=True)
class ModelConfig:
    name: str = key("lenet_300_100", "architecture from the registry (prac.models)", "dense")
    widths: tuple[int, ...] = key((300, 100), "hidden widths of model 'mlp'", "dense")
    width: float = key(1.0, "channel multiplier of the conv, vgg and resnet models (0.25: a quarter of the channels)",
                       "dense")


@dataclass(frozen=True)
class TrainConfig:
    epochs: float = key(10, "epochs of one full-data training run", "dense")
    batch_size: int = key(32, "samples per optimizer step", "dense")
    lr: float = key(1.2e-3, "peak learning rate", "dense")
    optimizer: str = key("adam", "adam or sgd (with momentum)", "dense")
    momentum: float = key(0.9, "SGD momentum", "dense")
    weight_decay: float = key(0.0, "L2 weight decay", "dense")
    schedule: str = key("constant", "lr schedule: constant, cosine or step (x0.1 at each milestone)", "dense")
    milestones: tuple[float, ...] = key((), "step schedule: fractions of training where the lr drops tenfold", "dense")
    warmup: float = key(0.0, "fraction of training with a linear lr warm-up", "dense")
    augment: bool = key(False, "random crop (pad 4) + horizontal flip, for images", "dense")
    precision: str = key("auto", "auto (bf16 autocast on CUDA, fp32 elsewhere but the flip probe in bf16 on a CPU "
                                 "that computes it natively), fp32 or bf16; weights and optimizer stay fp32", "dense")
    compile: bool = key(False, "torch.compile the training forward (pays off on long GPU runs only)", "dense")
    eval_every: int | None = key(None, "optimizer steps between the points of a run's validation curve, which gives "
                                       "the early-stop step (null: 20 points per run; 0: the end only)", "dense")
    eval_test: bool = key(False, "also record test accuracy at every curve point (prac bench lth's plots)", "dense")

    def check(self) -> None:
        if self.epochs <= 0:
            raise PracError(f"train.epochs={self.epochs} must be positive; use e.g. train.epochs=10")
        if self.epochs > MAX_EPOCHS:
            raise PracError(f"train.epochs={self.epochs:g} is more than {MAX_EPOCHS:g} epochs, a run that never ends; "
                            "use e.g. train.epochs=10")
        if self.batch_size < 1:
            raise PracError(f"train.batch_size={self.batch_size} must be at least 1; use e.g. train.batch_size=32")
        if self.lr <= 0:
            raise PracError(f"train.lr={self.lr} must be positive; use e.g. train.lr=0.001")
        if self.lr > MAX_LR:
            raise PracError(f"train.lr={self.lr:g} is above {MAX_LR:g}, the most a float32 optimizer takes (Adam's "
                            "first step is 10 x lr, and float32 ends at 3.4e38); use e.g. train.lr=0.001")
        if not 0 <= self.momentum < 1:  # a buffer that never lets a gradient fade grows without bound
            raise PracError(f"train.momentum={self.momentum:g} must be a fraction in [0, 1); "
                            "use e.g. 0.9, or 0 for none")
        if not 0 <= self.weight_decay < 1:  # an L2 coefficient of 1 outweighs the loss: every weight goes to 0
            raise PracError(f"train.weight_decay={self.weight_decay:g} must be in [0, 1) (an L2 coefficient of 1 or "
                            "more outweighs the loss and pulls every weight to zero); use e.g. 1e-4, or 0 for none")
        if self.optimizer not in ("adam", "sgd"):
            raise PracError(f"train.optimizer '{self.optimizer}' is unknown; use adam or sgd")
        if self.schedule not in ("constant", "cosine", "step"):
            raise PracError(f"train.schedule '{self.schedule}' is unknown; use constant, cosine or step")
        if any(not 0 < m < 1 for m in self.milestones):
            raise PracError(f"train.milestones={list(self.milestones)} must be fractions of training in (0, 1); "
                            "use e.g. [0.5, 0.75]")
        if not 0 <= self.warmup < 1:
            raise PracError(f"train.warmup={self.warmup} must be a fraction in [0, 1); use e.g. 0.05, or 0 for none")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise PracError(f"train.precision '{self.precision}' is unknown; use auto, fp32 or bf16")
        if self.eval_every is not None and self.eval_every < 0:
            raise PracError(f"train.eval_every={self.eval_every} must be a step count >= 0; use e.g. 100, 0 (only the "
                            "end of each run), or leave it unset (20 points per run)")


DEFAULT_RATE = 0.2  # the LTH paper's 20 % of the remaining weights per round
SEARCHES = ("finetune", "rewind", "imp")  # prune.search: the policies of prac.search.policies
SELECTORS = ("prac", "random", "full", "forgetting", "el2n", "ccs", "prac_paper")  # select.method: prac.select.selectors.SELECTORS (a test ties them)


@dataclass(frozen=True)
class PruneConfig:
    rate: float | None = key(None, "fraction of remaining weights pruned per round (default 0.2; with target_density "
                                   "and no rate: 1 - target_density^(1/rounds))", "set")
    output_rate: float | None = key(None, "rate for the output layer (default: rate / 2)", "set")
    conv_rate: float | None = key(None, "rate for convolution kernels, layerwise scope only (default: rate; the LTH "
                                        "paper prunes Conv-2/4 at 0.1)", "set")
    rounds: int = key(13, "pruning rounds (13 at 20 % leaves 5.5 % of weights)", "search")
    target_density: float | None = key(None, "with rate: stop once at most this fraction of weights remains; "
                                             "without: reach it in rounds", "search")
    schedule: str = key("iterative", "iterative (prune a little each round) or oneshot (train once, prune straight "
                                     "to target_density, one round)", "search")
    scope: str = key("layerwise", "layerwise or global magnitude pruning", "set")
    rewind_step: int = key(0, "rewind to this optimizer step of the dense run (0: to initialisation)", "dense")
    search: str = key("finetune", "finetune: the shipped recipe (short fine-tuning rounds on a budget around the "
                                  "set); rewind: the PrAC paper's (retrain from the rewind point on the whole set, "
                                  "epochs scaled by its size); imp: plain full-data IMP (prac.search.policies)",
                      "search")
    search_budget: float = key(0.02, "finetune: steps of a search round as a fraction of a full-data round's (13 "
                                     "rounds at 0.02: about 90 % fewer steps than full IMP; 0.03 until "
                                     "SEARCH_VERSION 18)", "search")
    validate: str = key("last", "which tickets are retrained on the full data: last (the final round's) or bisect "
                                "(the sparsest round within tolerance of the dense network, ~log2(rounds)+1 retrains)",
                        "search")
    tolerance: float = key(0.5, "a winning ticket's retrained validation accuracy is at most this many points below "
                                "the dense network's (or one standard error, if larger)", "search")

    @property
    def round_rate(self) -> float:
        """The fraction of the remaining hidden weights each round prunes."""
        if self.rate is not None:
            return self.rate
        if self.target_density is None:
            return DEFAULT_RATE
        return 1 - self.target_density ** (1 / self.n_rounds)

    @property
    def out_rate(self) -> float:
        return self.round_rate / 2 if self.output_rate is None else self.output_rate

    @property
    def n_rounds(self) -> int:
        return 1 if self.schedule == "oneshot" else self.rounds

    def check(self) -> None:
        if self.rate is not None and not 0 < self.rate < 1:
            raise PracError(f"prune.rate={self.rate} must be a fraction in (0, 1); use e.g. 0.2 (a fifth of the weights per round)")
        if self.schedule not in ("iterative", "oneshot"):
            raise PracError(f"prune.schedule '{self.schedule}' is unknown; use iterative or oneshot")
        if self.schedule == "oneshot" and (self.target_density is None or self.rate is not None):
            raise PracError("prune.schedule=oneshot prunes straight to prune.target_density in one round; set "
                            "prune.target_density (e.g. 0.1) and leave prune.rate unset")
        if self.rounds < 1:
            raise PracError(f"prune.rounds={self.rounds} must be at least 1; use e.g. prune.rounds=13")
        if self.target_density is not None and not 0 < self.target_density < 1:
            raise PracError(f"prune.target_density={self.target_density} must be a fraction in (0, 1); "
                            "use e.g. 0.05 (stop at 5 % of the weights), or leave it unset")
        if not 0 <= self.out_rate < 1:
            raise PracError(f"prune.output_rate={self.output_rate} must be a fraction in [0, 1); use e.g. 0.1, or leave it unset")
        if self.scope not in ("layerwise", "global"):
            raise PracError(f"prune.scope '{self.scope}' is unknown; use layerwise or global")
        if self.conv_rate is not None and not 0 < self.conv_rate < 1:
            raise PracError(f"prune.conv_rate={self.conv_rate} must be a fraction in (0, 1); use e.g. 0.1, or leave it "
                            "unset (conv layers at prune.rate)")
        if self.conv_rate is not None and self.scope == "global":
            raise PracError("prune.conv_rate sets a rate per layer, but prune.scope=global ranks all hidden weights "
                            "together; use prune.scope=layerwise, or leave prune.conv_rate unset")
        if self.search not in SEARCHES:
            raise PracError(f"prune.search '{self.search}' is unknown; use {', '.join(SEARCHES)}")
        if not 0 < self.search_budget <= 1:
            raise PracError(f"prune.search_budget={self.search_budget} must be a fraction in (0, 1] of a full-data "
                            "round; use e.g. 0.02")
        if self.validate not in ("last", "bisect"):
            raise PracError(f"prune.validate '{self.validate}' is unknown; use last or bisect")
        if not 0 <= self.tolerance <= 100:
            raise PracError(f"prune.tolerance={self.tolerance} must be percentage points in [0, 100]; use e.g. 0.5")
        if self.rewind_step < 0:
            raise PracError(f"prune.rewind_step={self.rewind_step} must be >= 0; use 0 to rewind to initialisation")


@dataclass(frozen=True)
class SelectConfig:
    method: str = key("prac", "which samples the search trains on: prac (the PrAC set less the samples the dense "
                              "run never learned, mostly mislabelled ones under label noise, and a class-balanced "
                              "budget around it), prac_paper (the paper's PrAC set, never-learned samples "
                              "included), random (a random subset of the same size), full (every sample), "
                              "forgetting (without the flip probe), el2n (largest early error norm) or ccs "
                              "(coverage-centric)",
                      "search")
    threshold: int = key(0, "hard-to-memorize: forgetting events > threshold (or never learned)", "set")
    learned_mse: float | None = key(None, "regression (float targets) only: a sample is learned while its squared "
                                          "error is below this (null: 1 % of the targets' variance)", "set")

    def check(self) -> None:
        if self.method not in SELECTORS:
            raise PracError(f"select.method '{self.method}' is unknown; use one of {', '.join(SELECTORS)}")
        if self.threshold < 0:
            raise PracError(f"select.threshold={self.threshold} must be >= 0; use 0 (forgotten at least once) or more")
        if self.learned_mse is not None and not (self.learned_mse > 0 and math.isfinite(self.learned_mse)):
            raise PracError(f"select.learned_mse={self.learned_mse} must be a squared error > 0; use e.g. 9e-4 "
                            "(3 noise stds of 0.01), or null for 1 % of the targets' variance")


@dataclass(frozen=True)
class Config:
    seed: int = key(0, "seed of initialisation, data order and subset draws", "dense")
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    select: SelectConfig = field(default_factory=SelectConfig)

    def check(self) -> "Config":
        if not 0 <= self.seed < SEED_LIMIT:
            raise PracError(f"seed={self.seed} is out of range; use a whole number from 0 to {SEED_LIMIT - 1}")
        for group in (self.dataset, self.train, self.prune, self.select):
            group.check()
        return self


def to_dict(cfg) -> dict:
    """Plain-data form of a config (tuples as lists), for JSON and YAML."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def non_default(cfg) -> dict:
    """A dataclass's fields that differ from their defaults (nested dataclasses likewise)."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            sub = non_default(value)
            if sub:
                out[f.name] = sub
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if value != default:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def digest(*parts) -> str:
    """sha256 of the canonical JSON of ``parts``; dataclasses contribute their non-default fields."""
    canon = [non_default(p) if dataclasses.is_dataclass(p) else p for p in parts]
    return hashlib.sha256(json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def describe_keys(cls=Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, help) for every settable key, for ``--help`` and the README."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if dataclasses.is_dataclass(default):
            rows += describe_keys(type(default), f"{prefix}{f.name}.")
        else:
            rows.append((f"{prefix}{f.name}", repr(default), f.metadata.get("help", "")))
    return rows
