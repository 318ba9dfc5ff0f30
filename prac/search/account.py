"""Stage 4 of a search: ``report.json`` from the run's rounds, its chosen ticket and the
account against full-data IMP (``prac.report.account``), with the set's build amortised
over every run that used it."""

from __future__ import annotations

import datetime

from prac.config.schema import to_dict
from prac.progress import say
from prac.report.account import account, amortised_savings, build_charged
from prac.train.loop import forwards
from prac.search.run import Run
from prac.select import cache
from prac.train import distributed


def amortise(entry: cache.Entry, run: str, use: dict) -> dict | None:
    """Record this run as a use of the set; the savings of every recorded use together,
    with the set's build counted once."""
    try:
        if distributed.is_main():  # under torchrun one record, not one per rank
            entry.record_use(run, {**use, "created": datetime.datetime.now(datetime.timezone.utc).isoformat()})
    except OSError as e:  # a read-only shared cache: the run itself is still valid
        say(f"[yellow]could not record the use of PrAC set {entry.key[:12]} ({e.strerror}); "
            "no amortised savings[/yellow]")
        return None
    return amortised_savings(entry.meta["dense"]["steps"], entry.uses())


def account_for(run: Run, chosen: dict) -> dict:
    """``report.json``: the rounds, the chosen ticket, and the account against full-data IMP."""
    cfg, state, entry, setup, plan = run.cfg, run.state, run.entry, run.setup, run.plan
    rounds, subset = state.rounds, run.selector.name
    charged = build_charged(state.reused, subset)
    cost = account(rounds, reused=state.reused, reference=state.reference,
                   build={k: entry.meta["dense"][k] for k in ("steps", "forwards")},
                   charge_build=charged, full_round=plan.full_round,
                   full_round_forwards=forwards(min(plan.full_round * plan.batch, round(plan.epochs * plan.n)),
                                                run.curve_cost(plan.full_round)),
                   retrains=chosen["candidates"])
    barred = run.selector.barred(run.stats)  # what the selector never trains on (prac.select.selectors)
    amortised = None
    if subset == "prac":
        amortised = amortise(entry, run.rdir.name, {"run": run.rdir.name, "model": setup.model.name,
                                                    "own_steps": cost["own_steps"], "reference": state.reference,
                                                    "baseline_steps_total": cost["baseline_steps_total"]})
    return {
        "dataset": setup.data.kind, "model": setup.model.name, "source_model": entry.meta["model"],
        "prac_key": entry.key, "subset": subset, "search": run.policy.name, "seed": cfg.seed,
        "prac_size": entry.meta["prac_size"], "subset_size": len(run.initial), "train_size": plan.n,
        "composition": entry.meta.get("composition"),
        "barred": 0 if barred is None else int(barred[run.stats["index"]].sum()),  # the set's members left out
        "dense_test_acc": rounds[0]["test_acc"], "dense_val_acc": rounds[0]["val_acc"],
        "final_density": chosen["density"], "ticket_test_acc": chosen["test_acc"],
        "ticket": {k: v for k, v in chosen.items() if k != "candidates"},
        "candidates": chosen["candidates"],
        "rounds": rounds,
        **cost,
        "amortised": amortised,
        "sample_gradients": sum(x["samples"] for x in rounds),
        "finetune_lr": state.finetune_lr,  # the fine-tuning rounds' peak lr (the policy's reach)
        "search_seconds": state.search_seconds, "round0_seconds": state.round0_seconds,
        "dense_seconds": entry.meta["dense"]["seconds"],
        "retrain_seconds": sum(c["seconds"] for c in chosen["candidates"]),
        "wall_seconds": run.elapsed(),
        "config": to_dict(cfg),
        "network": setup.header(),
        "world_size": distributed.world_size(),
    }
