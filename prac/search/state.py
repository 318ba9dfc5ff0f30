"""A ticket search's state, typed: what a round hands the next, and what a killed run needs
to continue exactly where it was. It checkpoints itself (``save``/``load``) into one
safetensors file (``prac.train.checkpoint``), after every round, epoch and retrain."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from prac.train.checkpoint import load_checkpoint, save_checkpoint

Weights = dict[str, torch.Tensor]


@dataclass
class Inflight:
    """A training that was under way when the run was killed (consumed once on resume)."""
    train: dict                            # the engine's state (prac.train.loop)
    round_masks: Weights | None = None     # inside a search round: its masks
    retraining: int | None = None          # inside a validation retrain: its round
    chunk: int = 0                         # inside an extended round: which budget
    chunk_stats: dict | None = None        # ... the figures of the budgets before it
    chunk_val: float | None = None         # ... the validation accuracy after the last of them


@dataclass
class SearchState:
    done: int = -1                         # the last finished round (-1: not even round 0)
    elapsed: float = 0.0                   # wall seconds spent before this process
    init: Weights = field(default_factory=dict)
    rewind: Weights = field(default_factory=dict)
    model: Weights = field(default_factory=dict)  # the weights the next round starts from
    masks: Weights = field(default_factory=dict)
    history: Weights = field(default_factory=dict)  # every round's masks: round<r>.<name>
    subset: torch.Tensor | None = None     # the next round's training samples
    rounds: list[dict] = field(default_factory=list)
    retrained: dict[str, dict] = field(default_factory=dict)  # round -> its full-data retrain
    reused: bool = False                   # round 0 is the set's cached dense run
    reference: dict | None = None          # ... or this architecture's dense reference: key, steps, forwards, seconds
    finetune_lr: float | None = None       # the fine-tuning rounds' peak lr (the policy's reach)
    round0_seconds: float = 0.0
    search_seconds: float = 0.0
    search_done: bool = False
    inflight: Inflight | None = None

    def save(self, path: Path, elapsed: float, inflight: Inflight | None = None) -> None:
        plain = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        plain.update(elapsed=elapsed, inflight=None if inflight is None else dataclasses.asdict(inflight))
        save_checkpoint(path, plain)

    @classmethod
    def load(cls, path: Path) -> "SearchState | None":
        saved = load_checkpoint(path)
        if saved is None:
            return None
        inflight = saved.pop("inflight", None)
        return cls(**saved, inflight=None if inflight is None else Inflight(**inflight))

    def take_inflight(self) -> Inflight | None:
        inflight, self.inflight = self.inflight, None
        return inflight
