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
    kind: str = field(default="digits", metadata={"help": f"one of {', '.join(DATASET_KINDS)}"})
    path: str | None = field(default=None, metadata={"help": "directory or file of the data (kind-specific default)"})
    name: str | None = field(default=None, metadata={"help": "Hugging Face dataset name (kind: hf)"})
    val_size: float = field(default=0.1, metadata={"help": "validation split held out of train: fraction (<1) or count"})
    split_seed: int = field(default=0, metadata={"help": "seed of the train/validation (and digits test) split"})
    train_limit: int | None = field(default=None, metadata={"help": "use only the first N training samples (quick runs)"})
    cache_dir: str | None = field(default=None, metadata={"help": "Hugging Face cache folder for hub downloads "
                                                                  "(default: the datasets library's own)"})

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


@dataclass(frozen=True)
class ModelConfig:
    name: str = field(default="lenet_300_100", metadata={"help": "architecture from the registry (prac.models)"})
    widths: tuple[int, ...] = field(default=(300, 100), metadata={"help": "hidden widths of model 'mlp'"})
    width: float = field(default=1.0, metadata={"help": "channel multiplier of the conv, vgg and resnet models "
                                                        "(0.25: a quarter of the channels)"})


@dataclass(frozen=True)
class TrainConfig:
    epochs: float = field(default=10, metadata={"help": "epochs of one full-data training run"})
    batch_size: int = field(default=32, metadata={"help": "samples per optimizer step"})
    lr: float = field(default=1.2e-3, metadata={"help": "peak learning rate"})
    optimizer: str = field(default="adam", metadata={"help": "adam or sgd (with momentum)"})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum"})
    weight_decay: float = field(default=0.0, metadata={"help": "L2 weight decay"})
    schedule: str = field(default="constant", metadata={"help": "constant, cosine or step"})
    milestones: tuple[float, ...] = field(default=(), metadata={"help": "step schedule: fractions of training where lr drops"})
    gamma: float = field(default=0.1, metadata={"help": "step schedule: lr factor at each milestone"})
    warmup: float = field(default=0.0, metadata={"help": "fraction of training with a linear lr warm-up"})
    augment: bool = field(default=False, metadata={"help": "random crop (pad 4) + horizontal flip, for images"})
    precision: str = field(default="auto", metadata={"help": "auto (bf16 autocast on CUDA, fp32 elsewhere), fp32 or bf16; "
                                                             "weights and optimizer stay fp32"})
    channels_last: str | bool = field(default="auto", metadata={"help": "channels-last layout for image models: auto "
                                                                        "(on CUDA only), true or false"})
    compile: bool = field(default=False, metadata={"help": "torch.compile the training forward; the first train() of a "
                                                           "shape pays a warm-up (tens of seconds for ResNet-20), so it "
                                                           "pays off on long GPU runs only"})
    eval_every: int | None = field(default=None, metadata={"help": "optimizer steps between the points of every "
                                                                "run's validation curve (loss, accuracy), which gives "
                                                                "the early-stop step; null: 20 points per run; 0: only "
                                                                "the end of each run. A fine-tuning search round is "
                                                                "evaluated at its budget checks only"})
    eval_test: bool = field(default=False, metadata={"help": "also record test accuracy at every curve point (prac bench "
                                                           "lth's accuracy-vs-step plots); otherwise the test split is "
                                                           "evaluated once per run, at the early-stop and final weights"})

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
        if not 0 < self.gamma <= 1:  # 0 would stop training at the first milestone, above 1 the lr grows
            raise PracError(f"train.gamma={self.gamma:g} must be in (0, 1], the factor by which the step schedule "
                            "lowers the lr at each milestone; use e.g. 0.1")
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
        if not (self.channels_last == "auto" or isinstance(self.channels_last, bool)):
            raise PracError(f"train.channels_last={self.channels_last!r} is unknown; use auto, true or false")


CRITERIA = ("magnitude", "same_sign", "increase", "midpoint", "product")  # prune.criterion (prac.prune.magnitude_masks)
DEFAULT_RATE = 0.2  # the LTH paper's 20 % of the remaining weights per round


@dataclass(frozen=True)
class PruneConfig:
    rate: float | None = field(default=None, metadata={"help": "fraction of remaining weights pruned per round (default "
                                                              "0.2; with target_density and no rate: 1 - "
                                                              "target_density^(1/rounds), the LTH paper's rule)"})
    output_rate: float | None = field(default=None, metadata={"help": "rate for the output layer (default: rate / 2)"})
    conv_rate: float | None = field(default=None, metadata={"help": "rate for convolution kernels, layerwise scope only "
                                                                   "(default: rate; the LTH paper prunes Conv-2/4 at "
                                                                   "0.1 and Conv-6 at 0.15, their FC layers at 0.2)"})
    rounds: int = field(default=13, metadata={"help": "pruning rounds (13 at 20 % leaves 5.5 % of weights)"})
    target_density: float | None = field(default=None, metadata={"help": "with rate: stop once at most this fraction of "
                                                                        "weights remains; without: reach it in rounds"})
    schedule: str = field(default="iterative", metadata={"help": "iterative (prune a little each round) or oneshot (train "
                                                                "once, prune straight to target_density, one round)"})
    scope: str = field(default="layerwise", metadata={"help": "layerwise or global magnitude pruning"})
    criterion: str = field(default="same_sign", metadata={"help": "which weights the search prunes: magnitude; same_sign "
                                                                 "(magnitude among weights whose sign matches the rewind "
                                                                 "weights'); increase (|w| - |w_rewind|); midpoint, "
                                                                 "product (ablations, docs/trust.md)"})
    rewind_step: int = field(default=0, metadata={"help": "rewind to this optimizer step (0: to initialisation)"})
    search: str = field(default="finetune", metadata={"help": "finetune: keep training the pruned net each round (the ticket is "
                                                             "still mask + rewind weights); rewind: retrain from the rewind point"})
    search_epochs: float | None = field(default=None, metadata={"help": "epochs per search round before subset scaling (default: train.epochs)"})
    search_budget: float | None = field(default=0.03, metadata={"help": "optimizer steps of each search round as a "
                                                                     "fraction of a full-data round's (13 rounds at "
                                                                     "0.03: 90 % fewer steps than full IMP, the dense "
                                                                     "round included); null: search_epochs x |set|/N "
                                                                     "epochs (the PrAC paper's dynamic iterations)"})
    search_pace: str = field(default="fixed", metadata={"help": "fixed: one budget per round, plus up to "
                                                                "search_extend more while validation falls short; "
                                                                "adaptive: quarter budgets until validation is within "
                                                                "prune.tolerance of the previous round's"})
    search_extend: int = field(default=3, metadata={"help": "a search round spends at most 1 + this many step budgets, "
                                                           "the extra ones while its validation accuracy is more "
                                                           "than prune.tolerance below the previous round's and "
                                                           "search_cap allows (0: exactly one budget)"})
    search_plateau: bool = field(default=True, metadata={"help": "also stop extending a round when an extra "
                                                                 "budget left its validation accuracy no higher "
                                                                 "than the budget before it: a round that is not "
                                                                 "recovering stops paying for budgets (false: "
                                                                 "extend until recovered or search_extend is spent)"})
    search_cap: float | None = field(default=None, metadata={"help": "spend at most this many times rounds x budget "
                                                                    "steps in the search: extra budgets come out of "
                                                                    "what the cap leaves (null: no cap; needs "
                                                                    "search_budget; docs/reference.md)"})
    late_rewind: float | None = field(default=None, metadata={"help": "rounds that prune to this fraction of the "
                                                                     "weights or fewer rewind to the rewind weights "
                                                                     "and train late_budget of a full round, once "
                                                                     "(null: every round follows prune.search)"})
    late_budget: float = field(default=0.25, metadata={"help": "optimizer steps of a late_rewind round as a fraction "
                                                            "of a full-data round's"})
    partial_rewind: float = field(default=0.0, metadata={"help": "at the start of each fine-tuning round, move the "
                                                               "weights this fraction of the way back to the rewind "
                                                               "weights (0: off; 1: as search=rewind; an ablation)"})
    distill: float = field(default=0.0, metadata={"help": "weight of the dense network's soft targets (its logits, "
                                                        "cached with the PrAC set) in the search rounds' loss: 0 "
                                                        "trains on the labels only, 1 on the soft targets only"})
    search_lr: float | None = field(default=None, metadata={"help": "peak lr of the search rounds (default: train.lr; see search_reach)"})
    search_schedule: str | None = field(default=None, metadata={"help": "lr schedule of the search rounds (default: train.schedule)"})
    search_weight_decay: float = field(default=0.003, metadata={"help": "L2 weight decay of the fine-tuning search "
                                                                      "rounds in place of train.weight_decay (0: off)"})
    search_reach: float | None = field(default=4.0, metadata={"help": "with Adam, fine-tuning rounds' peak lr >= this x "
                                                                     "the mean distance round 0 moved a weight / a "
                                                                     "budget's steps (null: off; docs/reference.md)"})
    early_bird: bool = field(default=False, metadata={"help": "stop a round when the mask stops changing"})
    eb_eps: float = field(default=0.08, metadata={"help": "early-bird: mask Hamming distance threshold"})
    eb_patience: int = field(default=5, metadata={"help": "early-bird: epochs below eps before stopping"})
    validate: str = field(default="last", metadata={"help": "which tickets are retrained on the full data: last (the final "
                                                           "round's; one retrain) or bisect (bisection over the rounds "
                                                           "for the sparsest one within prune.tolerance of the dense "
                                                           "network's validation accuracy; ~log2(rounds)+1 retrains)"})
    tolerance: float = field(default=0.5, metadata={"help": "a winning ticket's retrained validation accuracy is at most "
                                                           "this many percentage points below the dense network's (or "
                                                           "one standard error of that accuracy, if larger)"})

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
        if self.criterion not in CRITERIA:
            raise PracError(f"prune.criterion '{self.criterion}' is unknown; use one of {', '.join(CRITERIA)}")
        if self.search not in ("rewind", "finetune"):
            raise PracError(f"prune.search '{self.search}' is unknown; use rewind or finetune")
        if self.search_schedule not in (None, "constant", "cosine", "step"):
            raise PracError(f"prune.search_schedule '{self.search_schedule}' is unknown; use constant, cosine or step")
        if self.search_pace not in ("adaptive", "fixed"):
            raise PracError(f"prune.search_pace '{self.search_pace}' is unknown; use adaptive or fixed")
        if self.search_cap is not None and not 1 <= self.search_cap <= 100:
            raise PracError(f"prune.search_cap={self.search_cap} must be in [1, 100] (times rounds x budget); "
                            "use e.g. 2, or null for no cap")
        if not 0 <= self.search_extend <= 100:
            raise PracError(f"prune.search_extend={self.search_extend} must be a count in [0, 100]; use e.g. 3, or 0")
        if not 0 <= self.distill <= 1:
            raise PracError(f"prune.distill={self.distill} must be a weight in [0, 1]; use e.g. 0.5, or 0 for none")
        if self.late_rewind is not None and not 0 < self.late_rewind < 1:
            raise PracError(f"prune.late_rewind={self.late_rewind} must be a fraction in (0, 1) of the weights; "
                            "null turns late rewinding off")
        if not 0 < self.late_budget <= 1:
            raise PracError(f"prune.late_budget={self.late_budget} must be a fraction in (0, 1] of a full-data round")
        if not 0 <= self.partial_rewind <= 1:
            raise PracError(f"prune.partial_rewind={self.partial_rewind} must be a fraction in [0, 1]; use e.g. 0.5, or 0")
        if self.search_budget is not None and not 0 < self.search_budget <= 1:
            raise PracError(f"prune.search_budget={self.search_budget} must be a fraction in (0, 1] of a full-data "
                            "round; use e.g. 0.03")
        if self.search_reach is not None and not 0 < self.search_reach <= 100:
            raise PracError(f"prune.search_reach={self.search_reach:g} must be in (0, 100]; use e.g. 4, or null for train.lr")
        if not 0 <= self.search_weight_decay < 1:
            raise PracError(f"prune.search_weight_decay={self.search_weight_decay:g} must be in [0, 1); use e.g. 0.003")
        if self.search_lr is not None and self.search_lr <= 0:
            raise PracError(f"prune.search_lr={self.search_lr} must be positive; use e.g. 0.001, or leave it unset")
        if self.search_lr is not None and self.search_lr > MAX_LR:
            raise PracError(f"prune.search_lr={self.search_lr:g} is above {MAX_LR:g}, the most a float32 optimizer "
                            "takes (Adam's first step is 10 x lr, and float32 ends at 3.4e38); use e.g. 0.001, "
                            "or leave it unset")
        if self.search_epochs is not None and not 0 < self.search_epochs <= MAX_EPOCHS:
            raise PracError(f"prune.search_epochs={self.search_epochs:g} must be positive and at most {MAX_EPOCHS:g}; "
                            "use e.g. 6, or leave it unset (train.epochs)")
        if self.validate not in ("last", "bisect"):
            raise PracError(f"prune.validate '{self.validate}' is unknown; use last or bisect")
        if not 0 <= self.tolerance <= 100:
            raise PracError(f"prune.tolerance={self.tolerance} must be percentage points in [0, 100]; use e.g. 0.5")
        if self.rewind_step < 0:
            raise PracError(f"prune.rewind_step={self.rewind_step} must be >= 0; use 0 to rewind to initialisation")


@dataclass(frozen=True)
class SelectConfig:
    threshold: int = field(default=0, metadata={"help": "hard-to-memorize: forgetting events > threshold (or never learned)"})
    subset: str = field(default="prac", metadata={"help": "prac, random (same size as the PrAC set) or full"})
    size: str = field(default="budget", metadata={"help": "all: train on the whole PrAC set; budget: on as many samples "
                                                       "as one pass of a round's steps (prune.search_budget) visits, "
                                                       "class-balanced: the PrAC set stratified by hardness when larger, "
                                                       "topped up with random samples when smaller"})
    scale_epochs: bool = field(default=True, metadata={"help": "scale search epochs by |subset| / N (dynamic iterations)"})
    reprobe: str = field(default="refresh", metadata={"help": "repeat the flip probe on the current ticket every round: none; "
                                                          "union (add its flips, cumulative, as the paper's code); "
                                                          "refresh (hard-to-memorize + the latest flips only)"})
    probe_fraction: float = field(default=0.5, metadata={"help": "the share of the training split each round's "
                                                               "flip probe predicts (select.reprobe): a fresh random "
                                                               "sample every round; 1: all of it. Tickets tie from "
                                                               "0.25 to 1; a smaller share costs less time and a "
                                                               "few more steps (docs/trust.md)"})
    dense_fraction: float = field(default=1.0, metadata={"help": "share of train.epochs the build's dense run "
                                                              "trains (below 1: an undertrained reference)"})
    learned_mse: float | None = field(default=None, metadata={"help": "regression (float targets) only: a sample is "
                                                                      "learned (correct) while its squared error, mean "
                                                                      "over outputs, is below this; set it a few times "
                                                                      "the noise variance; null: 1 % of the training "
                                                                      "targets' variance"})

    def check(self) -> None:
        if self.threshold < 0:
            raise PracError(f"select.threshold={self.threshold} must be >= 0; use 0 (forgotten at least once) or more")
        if self.learned_mse is not None and not (self.learned_mse > 0 and math.isfinite(self.learned_mse)):
            raise PracError(f"select.learned_mse={self.learned_mse} must be a squared error > 0; use e.g. 9e-4 "
                            "(3 noise stds of 0.01), or null for 1 % of the targets' variance")
        if not 0 < self.probe_fraction <= 1:
            raise PracError(f"select.probe_fraction={self.probe_fraction} must be a fraction in (0, 1]; use e.g. "
                            "0.25 (a quarter of the training split per round), or 1 for all of it")
        if not 0 < self.dense_fraction <= 1:
            raise PracError(f"select.dense_fraction={self.dense_fraction} must be a fraction in (0, 1] of train.epochs; "
                            "use e.g. 0.5, or 1 for the full dense run")
        if self.reprobe not in ("none", "union", "refresh"):
            raise PracError(f"select.reprobe '{self.reprobe}' is unknown; use none, union or refresh")
        if self.size not in ("all", "budget"):
            raise PracError(f"select.size '{self.size}' is unknown; use all or budget")
        if self.subset not in ("prac", "random", "full"):
            raise PracError(f"select.subset '{self.subset}' is unknown; use prac, random or full")


@dataclass(frozen=True)
class Config:
    seed: int = field(default=0, metadata={"help": "seed of initialisation, data order and subset draws"})
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
        if self.select.size == "budget" and self.prune.search_budget is None:
            raise PracError("select.size=budget sizes the subset by a round's step budget; set prune.search_budget "
                            "(e.g. 0.03), or use select.size=all")
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
