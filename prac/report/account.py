"""Run reports: the savings account (a search's stage 4, ``account_for``) and
``report.json`` / ``report.md``."""

from __future__ import annotations

import datetime
import typing
from pathlib import Path

from prac.train import distributed
from prac.config.schema import to_dict
from prac.progress import say
from prac.store import atomic_write, write_json

if typing.TYPE_CHECKING:
    from prac.select import cache
    from prac.search.loop import Run


def savings(charged: int, steps_pruned_rounds: int, baseline_total: int, baseline_dense: int,
            steps_retrain: int) -> dict:
    """Iteration savings of one run against full-data IMP to the same sparsity.

    ``iteration_savings`` counts every optimizer step the run needed, the PrAC set's dense
    build included, as the PrAC paper does; the figure for the pruned rounds alone (no dense
    round on either side), and the end-to-end figure that adds the final full-data retrain
    of the ticket, are given beside it."""
    return {
        "iteration_savings": 1 - charged / baseline_total,
        "iteration_savings_without_dense": 1 - steps_pruned_rounds / max(1, baseline_total - baseline_dense),
        "iteration_savings_end_to_end": 1 - (charged + steps_retrain) / baseline_total,
    }


# Compute in forward-equivalents (one sample through the network once): a training sample
# costs three (forward, and a backward of about two forwards: the usual 2N vs 6N FLOP rule),
# a prediction or evaluation one.
TRAIN_FORWARDS = 3


def forwards(train_samples: int, predicted: int = 0) -> int:
    """Forward-equivalents of training on ``train_samples`` sample-gradients and predicting
    ``predicted`` samples (evaluations, flip probes)."""
    return TRAIN_FORWARDS * train_samples + predicted


def account(rounds: list[dict], *, reused: bool, build: dict, charge_build: bool, full_round: int,
            full_round_forwards: int, retrains: list[dict]) -> dict:
    """The cost of a search against full-data IMP to the same sparsity (the dense round and
    as many full-data rounds, each evaluated once), in optimizer steps and in
    forward-equivalents (``forwards``: every pass counts, flip probes and evaluations too).
    The PrAC set's build (its dense run and probe, ``build``) is charged once: it is round 0
    when the run reuses it, and is added on top when round 0 trained another architecture.
    ``retrains`` are the validation retrains, every one of them."""
    dense_steps = rounds[0]["steps"]
    steps_total = sum(x["steps"] for x in rounds)
    baseline_total = full_round * len(rounds)
    own_steps = steps_total - (dense_steps if reused else 0)
    charged = own_steps + (build["steps"] if charge_build else 0)
    retrain_steps = sum(r["steps"] for r in retrains)
    # compute: round 0 reused *is* the build, so it is not counted twice
    own_fw = sum(x["forwards"] for x in rounds[(1 if reused else 0):])
    charged_fw = own_fw + (build["forwards"] if charge_build else 0)
    baseline_fw = full_round_forwards * len(rounds)
    retrain_fw = sum(r["forwards"] for r in retrains)
    return {"steps_total": steps_total, "dense_steps": dense_steps, "retrain_steps": retrain_steps,
            "dense_reused": reused, "build_steps": build["steps"], "own_steps": own_steps, "charged_steps": charged,
            "baseline_steps_total": baseline_total, "baseline_dense_steps": full_round,
            **savings(charged, steps_total - dense_steps, baseline_total, full_round, retrain_steps),
            "compute": {"unit": "forward-equivalents (a training sample counts 3, a prediction 1)",
                        "build": build["forwards"], "own": own_fw, "charged": charged_fw, "retrains": retrain_fw,
                        "baseline": baseline_fw},
            "iteration_savings_compute": 1 - charged_fw / baseline_fw,
            "iteration_savings_compute_end_to_end": 1 - (charged_fw + retrain_fw) / baseline_fw}


def amortised_savings(build_steps: int, uses: list[dict]) -> dict:
    """Savings of every run that used one PrAC set, its build counted once: the set's reason
    to be cached (a set built with one architecture serves others)."""
    own = sum(u["own_steps"] for u in uses)
    baseline = sum(u["baseline_steps_total"] for u in uses)
    return {"runs": len(uses), "models": sorted({u["model"] for u in uses}), "steps": build_steps + own,
            "baseline_steps": baseline, "iteration_savings": 1 - (build_steps + own) / max(1, baseline)}


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def markdown(r: dict) -> str:
    lines = [
        f"# Ticket search: {r['model']} on {r['dataset']}",
        "",
        f"- subset: {r['subset']} — {r.get('subset_size', r['prac_size']):,} of {r['train_size']:,} training samples "
        f"({100 * r.get('subset_size', r['prac_size']) / r['train_size']:.1f} %); PrAC set {r['prac_key'][:12]} "
        f"({r['prac_size']:,} samples) built with {r['source_model']}",
        f"- dense network: test accuracy {_pct(r['dense_test_acc'])} %{short_dense(r)}",
        ticket_line(r),
        f"- optimizer steps of the search: {r['steps_total']:,} (round 0 {r['dense_steps']:,}{round0_note(r)}) against "
        f"{r['baseline_steps_total']:,} for full-data IMP to the same sparsity",
        f"- iteration savings: {100 * r['iteration_savings']:.1f} % (without the dense round "
        f"{100 * r['iteration_savings_without_dense']:.1f} %; with the {len(r['candidates'])} validation "
        f"retrain{'s' if len(r['candidates']) != 1 else ''} of {r['retrain_steps']:,} steps "
        f"{100 * r['iteration_savings_end_to_end']:.1f} %)",
        *([f"- amortised over the {a['runs']} runs that used this PrAC set ({', '.join(a['models'])}), its build "
           f"counted once: {a['steps']:,} steps against {a['baseline_steps']:,}, savings "
           f"{100 * a['iteration_savings']:.1f} %"] if (a := r.get("amortised")) else []),
        f"- wall time: {r['wall_seconds']:.1f} s (this run)"
        + (f" + {r['dense_seconds']:.1f} s (the PrAC set's dense build)"
           if build_charged(r["dense_reused"], r["subset"]) else ""),
        "",
        "| round | weights left % | val acc % | test acc % | steps | early-stop step | test acc there % | subset size |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["rounds"]:
        stop = x.get("early_stop_step")
        lines.append(f"| {x['round']} | {100 * x['density']:.2f} | {_pct(x['val_acc'])} | {_pct(x['test_acc'])} "
                     f"| {x['steps']:,} | {'–' if stop is None else format(stop, ',')} "
                     f"| {_pct(x.get('early_stop_test_acc'))} | {x.get('subset_size', '')} |")
    if any(x["round"] > 0 and x["steps"] == 0 for x in r["rounds"]):
        lines += ["", "A search round of 0 steps was pruned and not trained: the last round of a fine-tuning "
                      "search, whose mask (fixed by the round before) is the ticket; its accuracies are the "
                      "pruned network's."]
    lines += ["", f"Tickets retrained on the full training split (prune.validate={r['config']['prune']['validate']}), "
                  "in the order they were retrained:", "",
              "| round | weights left % | val acc % | test acc % | steps | early-stop step | test acc there % |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for c in r["candidates"]:
        lines.append(f"| {c['round']} | {100 * c['density']:.2f} | {_pct(c['val_acc'])} | {_pct(c['test_acc'])} "
                     f"| {c['steps']:,} | {c.get('early_stop_step', '–')} | {_pct(c.get('early_stop_test_acc'))} |")
    return "\n".join(lines) + "\n"


def build_charged(reused: bool, subset: str) -> bool:
    """Whether a search is charged the set's build (its steps, forwards and time): round 0
    reused it, or the search trains on the PrAC set it selected."""
    return reused or subset == "prac"


def round0_note(r: dict) -> str:
    """Where round 0's steps come from when it is not the set's dense run (another
    architecture, or full-data IMP beside a shortened dense run)."""
    if r["dense_reused"]:
        return ""
    where = "on the full split" if r["subset"] == "full" else "on the subset"
    charged = build_charged(r["dense_reused"], r["subset"])
    return f", {where}; " + (f"plus the build {r['build_steps']:,}" if charged else "the set's build is not charged")


def short_dense(r: dict) -> str:
    """A warning after the dense line when the build's dense run was shortened: the winning
    test compares with it, and a ticket's retrain runs all of train.epochs."""
    f = r["config"]["select"].get("dense_fraction", 1.0)  # reports written before the field existed
    if f == 1 or not r["dense_reused"]:
        return ""
    return (f", after {f:g} of train.epochs (select.dense_fraction): an undertrained reference, while every "
            "ticket is retrained for all of them")


def ticket_line(r: dict) -> str:
    t, tol = r["ticket"], f"{r['config']['prune']['tolerance']} pp (or a standard error, if larger)"
    verdict = (f"a winning ticket: validation accuracy within {tol} of the dense network's" if t["winning"] else
               f"NOT a winning ticket: validation accuracy more than {tol} below the dense network's "
               f"({_pct(t['val_acc'])} vs {_pct(r['dense_val_acc'])} %)")
    return (f"- ticket: round {t['round']} ({100 * t['density']:.2f} % of weights), retrained on the full training "
            f"split: test accuracy {_pct(t['test_acc'])} %; {verdict}")


def write_report(run_dir: Path, report: dict) -> None:
    atomic_write(run_dir / "report.md", markdown(report).encode())
    write_json(run_dir / "report.json", report)  # last: its presence marks a finished run


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


def build_forwards(run: Run) -> int:
    """The set's build in forward-equivalents: its dense training, its flip probe and its
    evaluation (recorded by sets built since the account counted compute)."""
    d = run.entry.meta["dense"]
    return d.get("forwards") or forwards(d["samples"], 2 * run.entry.meta["train_size"] + len(run.t["y_val"])
                                         + len(run.t["y_test"]))


def account_for(run: Run, chosen: dict) -> dict:
    """``report.json``: the rounds, the chosen ticket, and the account against full-data IMP."""
    cfg, state, entry, setup = run.cfg, run.state, run.entry, run.setup
    rounds = state["rounds"]
    full_round = run.full_round
    cost = account(rounds, reused=state["reused"],
                   build={"steps": entry.meta["dense"]["steps"], "forwards": build_forwards(run)},
                   charge_build=build_charged(state["reused"], cfg.select.subset), full_round=full_round,
                   full_round_forwards=forwards(min(full_round * cfg.train.batch_size, round(cfg.train.epochs * run.n)),
                                                run.curve_cost(full_round)),
                   retrains=chosen["candidates"])
    amortised = None
    if cfg.select.subset == "prac":
        amortised = amortise(entry, run.rdir.name, {"run": run.rdir.name, "model": setup.model.name,
                                                    "own_steps": cost["own_steps"],
                                                    "baseline_steps_total": cost["baseline_steps_total"]})
    return {
        "dataset": setup.data.kind, "model": setup.model.name, "source_model": entry.meta["model"],
        "prac_key": entry.key, "subset": cfg.select.subset, "seed": cfg.seed,
        "prac_size": entry.meta["prac_size"], "subset_size": len(run.initial), "train_size": run.n,
        "dense_test_acc": rounds[0]["test_acc"], "dense_val_acc": rounds[0]["val_acc"],
        "final_density": chosen["density"], "ticket_test_acc": chosen["test_acc"],
        "ticket": {k: v for k, v in chosen.items() if k != "candidates"},
        "candidates": chosen["candidates"],
        "rounds": rounds,
        **cost,
        "amortised": amortised,
        "sample_gradients": sum(x["samples"] for x in rounds),
        "finetune_lr": state.get("finetune_lr"),  # the fine-tuning rounds' peak lr (prune.search_reach)
        "search_seconds": state["search_seconds"], "round0_seconds": state["round0_seconds"],
        "dense_seconds": entry.meta["dense"]["seconds"],
        "retrain_seconds": sum(c["seconds"] for c in chosen["candidates"]),
        "wall_seconds": run.elapsed(),
        "config": to_dict(cfg),
        "network": setup.header(),
        "world_size": distributed.world_size(),
    }
