"""Forgetting tracker (Toneva et al., ICLR 2019): per-sample statistics in O(N) memory.

The engine calls ``update(indices, correct)`` once per training batch with the prediction
of the training forward pass itself, so tracking costs no extra forward pass. Updates are
vectorised over the batch (indices are unique within a batch) and stay on the tensors'
device: no per-sample Python and no host synchronisation.

"Correct" is whatever the engine reports per sample: the predicted class equals the label,
or for regression targets the sample is *learned* (its squared error, averaged over the
outputs, is below the learned threshold; ``prac.train.loop``). A forgetting event is then a
learned sample whose error rises above the threshold at its next presentation, and
"never learned" a sample that was never fitted that closely.
"""

from __future__ import annotations

import torch


class ForgettingTracker:
    """Counts, for each of ``num_samples`` training samples:

    - ``forgetting_events``: transitions correct -> incorrect between two consecutive
      presentations of the sample;
    - ``never_learned``: the sample was never correct (classified right, or learned) (derived);
    - ``first_learned``: the epoch at which it was first correct (-1: never);
    - ``presentations``: how often the sample was seen.
    """

    # its update is per sample and every sample comes once per epoch, so the engine may hand
    # it a whole epoch's batches in one call (prac.train.loop: one update instead of one per step)
    merge_batches = True

    def __init__(self, num_samples: int, device: torch.device | str = "cpu"):
        self.num_samples = num_samples
        self.prev_correct = torch.zeros(num_samples, dtype=torch.bool, device=device)
        self.ever_correct = torch.zeros(num_samples, dtype=torch.bool, device=device)
        self.forgetting_events = torch.zeros(num_samples, dtype=torch.int32, device=device)
        self.first_learned = torch.full((num_samples,), -1, dtype=torch.int32, device=device)
        self.presentations = torch.zeros(num_samples, dtype=torch.int32, device=device)
        self.epoch = 0

    @property
    def never_learned(self) -> torch.Tensor:
        return ~self.ever_correct

    @torch.no_grad()
    def update(self, indices: torch.Tensor, correct: torch.Tensor) -> None:
        indices = indices.to(self.prev_correct.device, torch.long)
        correct = correct.to(self.prev_correct.device, torch.bool)
        if indices.shape != correct.shape or indices.dim() != 1:
            raise ValueError("update() takes a 1-D index tensor and a bool tensor of the same length")
        seen_before = self.presentations[indices] > 0
        forgot = seen_before & self.prev_correct[indices] & ~correct
        self.forgetting_events[indices] += forgot.to(torch.int32)
        newly = correct & ~self.ever_correct[indices]
        self.first_learned[indices] = self.first_learned[indices].masked_fill(newly, self.epoch)
        self.ever_correct[indices] |= correct
        self.prev_correct[indices] = correct
        self.presentations[indices] += 1

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def nbytes(self) -> int:
        return sum(t.element_size() * t.numel() for t in self._tensors().values())

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {"prev_correct": self.prev_correct, "ever_correct": self.ever_correct,
                "forgetting_events": self.forgetting_events, "first_learned": self.first_learned,
                "presentations": self.presentations}

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {k: v.clone() for k, v in self._tensors().items()}
        state["epoch"] = torch.tensor(self.epoch)
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for k, v in self._tensors().items():
            src = state[k]
            if src.shape != v.shape:
                raise ValueError(f"tracker state '{k}' has {src.numel()} samples, expected {v.numel()}")
            v.copy_(src.to(v.device, v.dtype))
        self.epoch = int(state["epoch"])


    # engine listener protocol: the tracker listens to every training batch
    def on_epoch_start(self, epoch: int) -> None:
        self.start_epoch(epoch)

    def on_batch(self, indices: torch.Tensor, correct: torch.Tensor) -> None:
        self.update(indices, correct)
