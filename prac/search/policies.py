"""Search policies (``prune.search``): how a ticket search's rounds prune and train. A
registry of typed settings, as OpenLTH gives each pruning strategy its own hyperparameters:
a policy's settings are not config keys, so options of one never appear as keys of another,
and an ablation is a new entry here, not a new knob in the loop.

    finetune   the shipped recipe: every round keeps the trained weights and prunes by
               magnitude, as full-data IMP does (same-sign magnitude until SEARCH_VERSION
               14; docs/recipe.md compares them). While pruning the dense network costs
               its validation accuracy at most 3 points, a round trains nothing (one-shot
               masks of the dense weights, docs/recipe.md); from the first round that costs
               more, every round trains a step budget (``prune.search_budget`` of a full
               round) on a class-balanced budget around the PrAC set, up to 3 more budgets
               while validation falls short and still rises, with a small weight decay and
               an lr that lets one budget reach 4x the dense run's mean move (docs/trust.md
               measured each of these); the flip probe refreshes the set after every trained
               round on a random half of the split (predicting only the samples whose flip
               can change it: ``prac.search.loop.reprobe``).
    rewind     the PrAC paper's search: every round rewinds and retrains on the whole set
               for train.epochs x |set| / N epochs (dynamic iterations) by magnitude, the
               probe's flips added to the set every round (union).
    imp        plain full-data IMP: every round rewinds and trains the full split for
               train.epochs by magnitude; no budget, no probe. Its report's savings are 0.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    name: str
    rewinds: bool               # a round trains from the rewind weights (else it keeps the trained ones)
    criterion: str              # prac.prune.CRITERIA
    budget: bool                # a round spends prune.search_budget of a full round (else scaled epochs)
    extend: int = 0             # extra budgets while validation is below the previous round's
    plateau: bool = False       # ... and stop extending when a budget bought nothing
    weight_decay: float | None = None  # fine-tuning rounds' L2 in place of train.weight_decay
    reach: float | None = None  # fine-tuning lr: one budget reaches this x the dense run's mean move (Adam)
    reprobe: str = "none"       # none | union | refresh: how the flip probe refines the PrAC set each round
    probe_fraction: float = 1.0  # the share of the split each round's probe predicts
    full_data: bool = False     # every round trains on the full split, whatever select.method says
    oneshot_drop: float | None = None  # pp: rounds train nothing while pruning the dense network costs less

    @property
    def trains_last(self) -> bool:
        """Whether the last round trains: a fine-tuning round's mask is its ticket, retrained on
        the full data anyway, so training it would serve nothing; a rewound round is a ticket."""
        return self.rewinds


POLICIES: dict[str, Policy] = {p.name: p for p in (
    Policy("finetune", rewinds=False, criterion="magnitude", budget=True, extend=3, plateau=True,
           weight_decay=0.003, reach=4.0, reprobe="refresh", probe_fraction=0.5, oneshot_drop=3.0),
    Policy("rewind", rewinds=True, criterion="magnitude", budget=False, reprobe="union"),
    Policy("imp", rewinds=True, criterion="magnitude", budget=False, full_data=True),
)}


def policy(name: str) -> Policy:
    return POLICIES[name]  # prune.search is checked against the registry's names when the config is read
