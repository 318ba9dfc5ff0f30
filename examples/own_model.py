"""Find a lottery ticket of your own network, on your own arrays, from Python.

    python examples/own_model.py            # about 10 s on 2 CPU cores

A small CNN with a residual connection, defined here, on scikit-learn's bundled
handwritten digits (8×8 grey images, no download). prac builds the PrAC set, searches a
ticket by IMP on it, retrains the sparsest round that still matches the dense network on
the full data (``prune__validate="bisect"``), and the ticket is saved, exported and loaded
back.
"""

from __future__ import annotations

import sys

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import prac


class DigitsCNN(nn.Module):
    """conv 1→16, a residual conv 16→16 without bias, a linear head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1)
        self.res = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.head = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = torch.relu(h + self.res(h))
        return self.head(nn.functional.max_pool2d(h, 2).flatten(1))


def main(out: str = "artifacts", **overrides) -> prac.Ticket:
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(digits.images, digits.target, test_size=0.2,
                                                        random_state=0, stratify=digits.target)
    settings = {"train__epochs": 10, "prune__rounds": 10, "prune__validate": "bisect", **overrides}
    pset = prac.build_prac(DigitsCNN, x_train, y_train, x_test, y_test, out=out, **settings)
    print(pset)
    ticket = prac.find_ticket(DigitsCNN, x_train, y_train, x_test, y_test, prac_set=pset, out=out, **settings)
    print(ticket)
    t = ticket.report["ticket"]
    print(f"round {t['round']} of the search, {'winning' if t['winning'] else 'not winning'}; "
          f"{ticket.report['iteration_savings_end_to_end']:.1%} fewer steps than full-data IMP, validation included")

    net = ticket.model()                      # the retrained sparse network, pruned weights exactly zero
    with torch.no_grad():
        acc = (net(ticket.preprocess(x_test)).argmax(1) == torch.as_tensor(y_test)).float().mean()
    print(f"its test accuracy, computed here: {acc:.2%}")
    sizes = ticket.export(f"{out}/digits_cnn_ticket.safetensors")
    print(f"exported to {out}/digits_cnn_ticket.safetensors: {sizes}")
    again = prac.load_ticket(f"{out}/digits_cnn_ticket.safetensors", model_fn=DigitsCNN).model()
    x = ticket.preprocess(x_test)             # standardised as prac trained it
    with torch.no_grad():
        assert torch.equal(net(x), again(x)), "the exported ticket predicts what the run's network predicts"
    return ticket


if __name__ == "__main__":
    main(*sys.argv[1:2])
