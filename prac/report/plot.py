"""A run's plot: ``plot_run(report, path)`` draws what ``report.json`` holds as one PNG.

Three panels: validation and test accuracy of every round's ticket against its density
(log scale; the retrained ticket and the dense network marked), the optimizer steps each
round spent, and the PrAC set's composition within the training split (when the report
carries ``composition``). matplotlib is imported inside the function (Agg, no display), so
importing this module costs nothing.
"""

from __future__ import annotations

import io
from pathlib import Path

# stacked-bar parts of the training split, in order, with their labels and colours
PARTS = (("hard_only", "hard to memorize only", "#d62728"), ("flipped_only", "flipped when pruned only", "#1f77b4"),
         ("both", "both", "#9467bd"), ("rest", "rest of the split", "#d9d9d9"))


def composition_parts(report: dict) -> list[tuple[str, int, str]] | None:
    """(label, count, colour) of the training split's parts, or None when the report has no
    ``composition``. ``rest`` is the split minus the set unless the composition gives it."""
    comp = report.get("composition")
    if not comp:
        return None
    counts = {k: int(comp.get(k) or 0) for k, _, _ in PARTS[:3]}
    train = comp.get("train_size", report.get("train_size"))
    rest = comp.get("rest", None if train is None else int(train) - sum(counts.values()))
    counts["rest"] = max(0, int(rest or 0))
    return [(label, counts[k], colour) for k, label, colour in PARTS]


def plot_run(report: dict, path: Path) -> None:
    """Write the run's three-panel PNG to ``path`` (atomically: a kill leaves the old file or none)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rounds = sorted(report.get("rounds") or [], key=lambda r: r.get("round", 0))
    parts = composition_parts(report)
    panels = 3 if parts else 2
    fig = Figure(figsize=(5.2 * panels, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels)
    title = f"{report.get('dataset', '?')} · {report.get('model', '?')}"
    if report.get("iteration_savings") is not None:
        title += f" · {100 * report['iteration_savings']:.1f} % fewer steps than full-data IMP"
    fig.suptitle(title, fontsize=11)

    acc = axes[0]
    for key, label, style in (("val_acc", "validation", "o-"), ("test_acc", "test", "s--")):
        points = [(r["density"], 100 * r[key]) for r in rounds if r.get(key) is not None and r.get("density")]
        if points:
            acc.plot(*zip(*points), style, markersize=4, label=f"{label}, each round's ticket")
    ticket = report.get("ticket") or {}
    if ticket.get("density") and ticket.get("test_acc") is not None:
        acc.plot([ticket["density"]], [100 * ticket["test_acc"]], "*", color="black", markersize=12,
                 label=f"ticket retrained on full data (round {ticket.get('round', '?')}), test")
    if report.get("dense_test_acc") is not None:
        acc.axhline(100 * report["dense_test_acc"], color="grey", linewidth=0.8, linestyle=":", label="dense, test")
    acc.set_xscale("log")
    acc.invert_xaxis()  # pruning goes right: from all the weights to the sparse ticket
    acc.set_xlabel("fraction of weights left (log)")
    acc.set_ylabel("accuracy %")
    acc.set_title("accuracy per round", fontsize=10)
    acc.grid(True, which="both", alpha=0.3)
    if acc.get_legend_handles_labels()[0]:
        acc.legend(fontsize=7, loc="best")

    steps = axes[1]
    numbers = [r.get("round", i) for i, r in enumerate(rounds)]
    steps.bar(numbers, [r.get("steps", 0) for r in rounds], color=["#7f7f7f"] + ["#2ca02c"] * (len(rounds) - 1))
    steps.set_xlabel("round (0: the dense run)")
    steps.set_ylabel("optimizer steps")
    total = report.get("steps_total")
    base = report.get("baseline_steps_total")
    steps.set_title("steps per round" + (f" ({total:,} in all; full-data IMP {base:,})" if total and base else ""),
                    fontsize=10)
    steps.grid(True, axis="y", alpha=0.3)

    if parts:
        comp = axes[2]
        left, whole = 0, sum(n for _, n, _ in parts) or 1
        for label, n, colour in parts:
            comp.barh([0], [n], left=left, color=colour, label=f"{label}: {n:,} ({100 * n / whole:.1f} %)")
            left += n
        comp.set_yticks([])
        comp.set_xlim(0, whole)
        comp.set_xlabel("training samples")
        size = report.get("prac_size")
        comp.set_title("the PrAC set in the training split" + (f" ({size:,} samples)" if size is not None else ""),
                       fontsize=10)
        comp.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, frameon=False)

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    from prac.store import atomic_write

    atomic_write(Path(path), buf.getvalue())
