"""What names a ticket search's run folder, and therefore which cached run serves a
configuration: the search code's version, the model, the dense training and the prune and
select settings. When a setting is added or a default moves, the name spells out what the
run computes, so a run cached under older code or defaults is never served for newer ones,
and a run that computes what it did before keeps its name and its cache.
"""

from __future__ import annotations

import dataclasses
import typing

from prac.config.schema import PruneConfig, SelectConfig, digest, non_default

if typing.TYPE_CHECKING:
    from prac.setup import Setup

# Bumped whenever the search's code changes what a configuration computes, so that a
# cached run from older code is never served as this code's result.
SEARCH_VERSION = 9  # 9: a fine-tuning search's last round is not trained (8: validation curves in every round)


def search_version(p: PruneConfig) -> int:
    """The search code's version for a run: a rewinding search (full-data IMP among them)
    computes what version 8 did, so it keeps its name and its cached runs."""
    return SEARCH_VERSION if p.search == "finetune" else 8


def run_name(setup: Setup, prac_key: str) -> str:
    cfg = setup.cfg
    model = {"user_model": setup.model.id} if setup.model.user else cfg.model
    h = digest("ticket", search_version(cfg.prune), prac_key, model, cfg.train, *named_prune(cfg.prune, cfg.train.optimizer),
               *named_select(cfg.select), cfg.seed)
    return f"{setup.model.name}-{cfg.select.subset}-{h[:12]}"


def named_prune(p, optimizer: str = "adam") -> list:
    """The prune settings that name a run. The search's defaults moved after version 8 (pace
    fixed with one extra budget and magnitude pruning, then three extra budgets and the
    same-sign criterion), so a run's digest spells those settings out: a run cached under
    the old defaults is never served for the new ones. Plain IMP by magnitude, and a fixed
    pace without ``search_cap``, compute what they did before those fields existed and keep
    their names (and their cached runs); the adaptive pace was capped at 1 before.
    ``search_plateau`` appears in a name only when it is on (and a round can be extended),
    whatever its default: a run without it computes what runs did before it existed."""
    default = PruneConfig()
    if p.search_budget is None and p.criterion == "magnitude":  # no budget: no cap either
        return [spelled_prune(dataclasses.replace(p, criterion=default.criterion, search_cap=default.search_cap), optimizer)]
    named = {"pace": p.search_pace, "extend": p.search_extend, "criterion": p.criterion}
    if p.search_pace == "adaptive" or p.search_cap is not None:  # a fixed pace without a cap computes what it did
        named["cap"] = p.search_cap
    return [spelled_prune(dataclasses.replace(p, search_cap=default.search_cap), optimizer), named]


def named_select(s: SelectConfig) -> list:
    """The select settings that name a run. ``probe_fraction``'s default moved from 1 to 0.5,
    so a run spells it out when its flip probe runs and samples (the probe of every sample
    computes what it did before the field existed, and keeps its name and cached run); a run
    that never probes (a random subset, full data, ``reprobe=none``) ignores it."""
    probes = s.reprobe != "none" and s.subset == "prac"
    base = [dataclasses.replace(s, probe_fraction=SelectConfig().probe_fraction)]  # not among its non-defaults
    return base + [{"probe_fraction": s.probe_fraction}] if probes and s.probe_fraction < 1 else base


def spelled_prune(p: PruneConfig, optimizer: str) -> dict:
    """``p``'s non-default fields, with ``search_plateau`` only when it is on and can extend a
    round (with ``search_extend=0``, plain IMP among them, it changes nothing), and
    ``search_weight_decay`` only when it is not 0 and rounds fine-tune (a rewinding search
    never uses it; a run without it computes what runs did before it existed), and
    ``search_reach`` only when it sets the lr (``reaches``)."""
    default = PruneConfig()
    out = non_default(dataclasses.replace(p, search_plateau=default.search_plateau,
                                          search_weight_decay=default.search_weight_decay,
                                          search_reach=default.search_reach))
    if p.search_plateau and p.search_extend > 0:
        out["search_plateau"] = True
    if p.search == "finetune" and p.search_weight_decay:
        out["search_weight_decay"] = p.search_weight_decay
    if reaches(p, optimizer):
        out["search_reach"] = p.search_reach
    return out


def reaches(p: PruneConfig, optimizer: str) -> bool:
    """Whether ``prune.search_reach`` can set the fine-tuning rounds' lr (``prac.search.loop.Run.reach_lr``):
    a run where it cannot computes what runs did before it existed, and keeps their name."""
    return (p.search_reach is not None and p.search_lr is None and p.search == "finetune"
            and p.search_budget is not None and optimizer == "adam")



# Settings added after runs were started, with the value a run.json without them ran on
# (not today's default): a resumed run continues what it was doing, under its own name.
ADDED_SINCE = {"select": {"probe_fraction": 1.0}, "prune": {"search_weight_decay": 0.0, "search_reach": None}}


def as_started(config: dict) -> dict:
    """A run.json's config with every setting it predates set to what it ran on."""
    return {**config, **{group: {**fields, **config.get(group, {})} for group, fields in ADDED_SINCE.items()}}
