"""Whether a cached PrAC set can serve a ticket search (``prac.config.identity`` says which
keys must agree). Everything here is checked before a run writes anything."""

from __future__ import annotations

from prac.config import identity
from prac.config.load import load_config
from prac.errors import PracError
from prac.select import cache
from prac.setup import Setup


def same_architecture(setup: Setup, meta: dict) -> bool:
    """Whether the set was built with this run's network (its registry config, or a user's
    model: structure, initial weights and prunable names)."""
    return meta["model_id"] == setup.model.id


def reuse_problem(setup: Setup, entry: cache.Entry) -> str | None:
    """Why ``setup`` cannot use the set ``entry``, or None (``prac.config.identity.reuse_problem``)."""
    entry.check_current()
    if entry.meta["fingerprint"] != setup.data.fingerprint:
        return (f"PrAC set {entry.key[:12]} was built on data with fingerprint {entry.meta['fingerprint'][:12]} "
                f"({entry.meta['dataset']}) but this run's data has fingerprint {setup.data.fingerprint[:12]}; "
                "use the dataset settings it was built with, or build a PrAC set for this data")
    built = load_config(None, [], base=entry.meta["config"])
    return identity.reuse_problem(built, setup.cfg, same_architecture(setup, entry.meta), entry.key)


def check_reuse(setup: Setup, entry: cache.Entry) -> None:
    problem = reuse_problem(setup, entry)
    if problem:
        raise PracError(problem)
