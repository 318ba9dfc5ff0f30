"""Whether a cached PrAC set can serve a ticket search, and what it lends it.

A set fixes its selection (threshold, probe) for every search on the same data; for its
own architecture its dense run is the search's round 0, so seed and training must be the
set's too; for another architecture it lends its subset and the dense network's logits
(distillation's soft targets). Everything here is checked before a run writes anything.
"""

from __future__ import annotations

import torch

from prac.select import cache
from prac.config.load import load_config
from prac.errors import PracError
from prac.select import predict
from prac.setup import Setup


def same_architecture(setup: Setup, meta: dict) -> bool:
    """Whether the set was built with this run's network (registry config or user model)."""
    if setup.model.user or meta.get("user_model"):
        return meta.get("model_id") == setup.model.id
    # rebuilt through the schema, so a field added since (at its default) does not count as a change
    return load_config(None, [], base=meta["config"]).model == setup.cfg.model


def own_dense_round(setup: Setup, meta: dict) -> bool:
    """Whether a run of the set's architecture trains its own dense round 0 instead of taking
    the set's: full-data IMP (the whole split, ``select.dense_fraction=1``) beside a set whose
    dense run was shortened. Its rounds are the baseline, so they start from the full run."""
    cfg = setup.cfg
    built = load_config(None, [], base=meta["config"]).select.dense_fraction
    return (built != 1 and cfg.select.dense_fraction == 1 and cfg.select.subset == "full"
            and same_architecture(setup, meta))


def reuse_problem(setup: Setup, meta: dict) -> str | None:
    """Why ``setup`` cannot use the set ``meta`` describes, or None. The set fixes its
    selection (threshold, probe) for every search; with the same architecture its dense
    run *is* round 0, so training and seed must be the set's too (a changed seed would get
    masks from a network trained with another seed, or an untrained one)."""
    cfg = setup.cfg
    built = load_config(None, [], base=meta["config"])
    fixed = {"select.threshold": (built.select.threshold, cfg.select.threshold),
             "prune.rate": (built.prune.round_rate, cfg.prune.round_rate), "prune.output_rate": (built.prune.out_rate, cfg.prune.out_rate),
             "prune.scope": (built.prune.scope, cfg.prune.scope),
             "prune.conv_rate": (built.prune.conv_rate, cfg.prune.conv_rate)}
    for k, (theirs, mine) in fixed.items():
        if theirs != mine:
            return (f"PrAC set {meta['key'][:12]} was selected with {k}={theirs} and this run asks {k}={mine}, which "
                    f"the cached set cannot honour; keep {k}={theirs}, or drop --prac (prac_set=) to build a set "
                    "with the new value")
    if not same_architecture(setup, meta):
        return None  # another architecture: its round 0 trains on the subset (transfer)
    changed = [k for k, a, b in (("seed", built.seed, cfg.seed), ("train.*", built.train, cfg.train),
                                 ("prune.rewind_step", built.prune.rewind_step, cfg.prune.rewind_step),
                                 ("select.dense_fraction", built.select.dense_fraction, cfg.select.dense_fraction))
               if a != b
               # full-data IMP beside a shortened dense run trains its own round 0, the build's otherwise
               and not (k == "select.dense_fraction" and own_dense_round(setup, meta))]
    if changed:
        return (f"PrAC set {meta['key'][:12]} holds the dense run of seed={built.seed} with its own training recipe, "
                f"and this run changes {', '.join(changed)}; the set's dense run is round 0 of every search with "
                "this architecture, so to sweep seeds or recipes build one set per setting (drop --prac, or "
                "prac_set=) or run `prac bench --seeds K`")
    return None


def check_same_data(entry: cache.Entry, fingerprint: str) -> None:
    if entry.meta["fingerprint"] != fingerprint:
        raise PracError(f"PrAC set {entry.key[:12]} was built on data with fingerprint {entry.meta['fingerprint'][:12]} "
                        f"({entry.meta['dataset']}) but this run's data has fingerprint {fingerprint[:12]}; "
                        "use the dataset settings it was built with, or build a PrAC set for this data")


def teacher_logits(setup: Setup, entry: cache.Entry, stats: dict, t: dict) -> torch.Tensor:
    """The dense network's logits on the training split (prune.distill's soft targets):
    cached with the set, or, for a set built before they were, predicted once by its cached
    dense weights when this run has the set's architecture."""
    if "dense_logits" in stats:
        return stats["dense_logits"]
    if not same_architecture(setup, entry.meta):
        raise PracError(f"PrAC set {entry.key[:12]} was built before prac cached the dense network's logits, which "
                        "prune.distill needs for another architecture; remove it (`prac cache rm`) and build it again")
    dense = setup.new_model()
    dense.load_state_dict({k[8:]: v for k, v in entry.dense().items() if k.startswith("trained.")})
    return predict(dense, t["x_train"], logits=True)
