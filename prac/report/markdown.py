"""``report.md``, the page a user reads, and the writing of a run's report files."""

from __future__ import annotations

from pathlib import Path

from prac.report.account import build_charged
from prac.report.plot import plot_run
from prac.search.policies import POLICIES
from prac.store import atomic_write, write_json


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def markdown(r: dict) -> str:
    lines = [
        f"# Ticket search: {r['model']} on {r['dataset']}",
        "",
        f"- subset: {r['subset']} — {r.get('subset_size', r['prac_size']):,} of {r['train_size']:,} training samples "
        f"({100 * r.get('subset_size', r['prac_size']) / r['train_size']:.1f} %); PrAC set {r['prac_key'][:12]} "
        f"({r['prac_size']:,} samples) built with {r['source_model']}",
        f"- dense network: test accuracy {_pct(r['dense_test_acc'])} %",
        *set_lines(r),
        ticket_line(r),
        f"- optimizer steps of the search: {r['steps_total']:,} (round 0 {r['dense_steps']:,}{round0_note(r)}) against "
        f"{r['baseline_steps_total']:,} for full-data IMP to the same sparsity",
        f"- iteration savings: {100 * r['iteration_savings']:.1f} % (without the dense round "
        f"{100 * r['iteration_savings_without_dense']:.1f} %; with the {len(r['candidates'])} validation "
        f"retrain{'s' if len(r['candidates']) != 1 else ''} of {r['retrain_steps']:,} steps "
        f"{100 * r['iteration_savings_end_to_end']:.1f} %)",
        *([f"- amortised over the {a['runs']} run{'s' * (a['runs'] != 1)} that used this PrAC set ({', '.join(a['models'])}), its build "
           f"counted once: {a['steps']:,} steps against {a['baseline_steps']:,}, savings "
           f"{100 * a['iteration_savings']:.1f} %"] if (a := r.get("amortised")) else []),
        f"- wall time: {r['wall_seconds']:.1f} s (this run)"
        + (f" + {r['dense_seconds']:.1f} s (the PrAC set's dense build)"
           if build_charged(r["dense_reused"], r["subset"]) else "")
        + (f"; the dense reference trained in {ref['seconds']:.1f} s" if (ref := r.get("reference")) else ""),
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
        drop = POLICIES[r["search"]].oneshot_drop
        lines += ["", "A search round of 0 steps was pruned and not trained; its accuracies are the pruned "
                      "network's. The last round of a fine-tuning search: its mask (fixed by the round before) "
                      "is the ticket."
                  + ("" if drop is None else " An earlier one: a one-shot round, the dense network pruned further "
                     f"while that cost its validation accuracy at most {drop:g} points (docs/recipe.md).")]
    lines += ["", f"Tickets retrained on the full training split (prune.validate={r['config']['prune']['validate']}), "
                  "in the order they were retrained:", "",
              "| round | weights left % | val acc % | test acc % | steps | early-stop step | test acc there % |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for c in r["candidates"]:
        lines.append(f"| {c['round']} | {100 * c['density']:.2f} | {_pct(c['val_acc'])} | {_pct(c['test_acc'])} "
                     f"| {c['steps']:,} | {c.get('early_stop_step', '–')} | {_pct(c.get('early_stop_test_acc'))} |")
    return "\n".join(lines) + "\n"


def round0_note(r: dict) -> str:
    """Where round 0's steps come from when it is not the set's dense run: this
    architecture's dense reference (``prac.search.reference``), charged to the run."""
    ref = r.get("reference")
    if not ref:
        return ""
    charged = build_charged(r["dense_reused"], r["subset"])
    return (f", the dense reference {ref['key'][:12]} of {r['model']} on the full split; "
            + (f"plus the set's build {r['build_steps']:,}" if charged else "the set's build is not charged"))


def set_lines(r: dict) -> list[str]:
    """What the PrAC set is made of, and whether the search's subset is mostly the set or a
    random class-balanced budget around it (a set far smaller than a round's budget)."""
    c = r.get("composition") or {}
    if "never_learned" not in c:
        return []
    size = r["prac_size"]
    lines = [f"- the set: {size:,} samples, {100 * size / r['train_size']:.1f} % of the split; {c['never_learned']:,} "
             f"never learned, {c['forgotten']:,} forgotten, {c['flipped']:,} flipped by the pruning probe"
             + ("" if c["looks_mislabelled"] is None else
                f"; {c['looks_mislabelled']:,} look mislabelled (the dense network gives them another class with "
                "p >= 0.9)")
             + ("" if c["flipped_labels"] is None else f"; {c['flipped_labels']:,} carry a label flipped by "
                "dataset.label_noise")]
    barred = r.get("barred") or 0  # the set's members the selector never trains on (account_for)
    if barred:
        lines.append(f"- the search leaves out the {barred:,} never-learned samples, which under label noise are "
                     "mostly mislabelled (docs/selection.md; select.method=prac_paper keeps them)")
    if r["subset"] in ("prac", "prac_paper") and size - barred < r.get("subset_size", size) / 2:
        lines.append(f"- the set is too small to fill a round's budget: the search trains mostly on a random "
                     f"class-balanced subset around it ({size - barred:,} of {r['subset_size']:,} samples are the set's)")
    return lines


UNKNOWN = "winning unknown: the dense network is at chance, so matching it says nothing"


def ticket_line(r: dict) -> str:
    t, tol = r["ticket"], f"{r['config']['prune']['tolerance']} pp (or a standard error, if larger)"
    verdict = (UNKNOWN if t["winning"] is None else
               f"a winning ticket: validation accuracy within {tol} of the dense network's" if t["winning"] else
               f"NOT a winning ticket: validation accuracy more than {tol} below the dense network's "
               f"({_pct(t['val_acc'])} vs {_pct(r['dense_val_acc'])} %)")
    return (f"- ticket: round {t['round']} ({100 * t['density']:.2f} % of weights), retrained on the full training "
            f"split: test accuracy {_pct(t['test_acc'])} %; {verdict}")


def write_report(run_dir: Path, report: dict) -> None:
    atomic_write(run_dir / "report.md", markdown(report).encode())
    plot_run(report, run_dir / "report.png")
    write_json(run_dir / "report.json", report)  # last: its presence marks a finished run
