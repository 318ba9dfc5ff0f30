"""Per-seed planted-ticket results -> ``planted.json``, ``planted.md`` and PNG plots.

``planted.json``::

    {"tasks": {TASK: {"planted": {"density", "layer_densities", "edges", "regression", "noise_var"},
                      "methods": {METHOD: {DENSITY: {METRIC: {"mean", "std", "values"}, ...,
                                                    "layer_densities": {weight: mean}, "seeds": n}
                                                     or {"skipped": why}}},
                      "prac_vs_imp": {DENSITY: {...}}}},
     "recipe", "task_kwargs", "seeds", "densities", "methods", "results_key", "seconds", "hardware"}

DENSITY is ``"planted"`` (ρ*) or the target written as ``f"{d:g}"``; METRIC one of
``METRICS`` (accuracies and shares as fractions; ``collapsed`` is the share of seeds whose
mask leaves no input-output path). The weak and strong metrics are ``weak_test_acc`` /
``strong_test_acc`` on the classification task (circle) and ``weak_test_mse`` /
``strong_test_mse`` (mean squared error per entry, lower is better; ``noise_var`` is its
floor) on the regression tasks (helix, relu), where ``weak_test_learned`` is the share of
test samples learned (prac's "accuracy" for regression).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from pipelines.bench_stats import stat
from prac.store import write_json

LABELS = {"oracle": "oracle (planted mask)", "random": "random mask", "shuffled": "planted, shuffled per layer",
          "oneshot": "one-shot magnitude", "imp": "full-data IMP", "prac": "PrAC IMP",
          "random_subset": "random-subset IMP", "synflow": "SynFlow"}
METRICS = ("target_density", "density", "weak_test_acc", "weak_val_acc", "strong_test_acc", "edge_precision",
           "edge_recall", "chance_precision", "chance_recall", "unit_recall", "layer_density_l1", "collapsed",
           "outputs_reached", "effective_share", "search_steps", "search_seconds", "retrain_steps",
           "subset_fraction", "dense_test_acc",
           # regression tasks
           "weak_test_mse", "weak_val_mse", "strong_test_mse", "weak_test_learned", "weak_val_learned",
           "dense_test_mse")


def facts(task) -> dict:
    """What every seed of a task shares: the planted density, per layer, the edge count,
    and whether it is a regression task (with its noise variance, the MSE floor)."""
    return {"density": task.density, "layer_densities": task.layer_densities,
            "edges": sum(int(m.sum()) for m in task.mask.values()), "regression": task.regression,
            "noise_var": task.noise_std ** 2}


def weak_key(regression: bool) -> str:
    """The weak metric's key: test MSE for regression, test accuracy for classes."""
    return "weak_test_mse" if regression else "weak_test_acc"


def aggregate(runs: list[dict]) -> dict:
    """Mean, std and per-seed values of every metric the runs all have."""
    out = {m: stat([r[m] for r in runs]) for m in METRICS if all(m in r for r in runs)}
    out["layer_densities"] = {n: statistics.fmean(r["layer_densities"][n] for r in runs)
                              for n in runs[0]["layer_densities"]}
    out["seeds"] = len(runs)
    return out


def summarise(results: list[dict], skipped: dict, task_facts: dict) -> dict:
    tasks = {}
    for name, fact in task_facts.items():
        methods: dict = {}
        for r in results:
            if r["task"] == name:
                methods.setdefault(r["method"], {}).setdefault(r["label"], []).append(r)
        methods = {m: {label: aggregate(runs) for label, runs in by.items()} for m, by in methods.items()}
        for m, by in skipped.get(name, {}).items():
            for label, why in by.items():
                methods.setdefault(m, {})[label] = {"skipped": why}
        order = [m for m in LABELS if m in methods]
        tasks[name] = {"planted": fact, "methods": {m: methods[m] for m in order},
                       "prac_vs_imp": versus(methods.get("prac", {}), methods.get("imp", {}),
                                             fact.get("regression", False))}
    return {"tasks": tasks}


def versus(prac: dict, imp: dict, regression: bool = False) -> dict:
    """PrAC IMP against full-data IMP at each density both reached: weak and strong metric
    (accuracy difference PrAC minus IMP in pp; for regression the MSE ratio PrAC / IMP, below
    1 is better), edge recall difference, and the share of IMP's optimizer steps saved."""
    out = {}
    for label, p in prac.items():
        f = imp.get(label)
        if not f or "skipped" in p or "skipped" in f:
            continue
        if regression:
            metric = {"weak_mse_ratio": p["weak_test_mse"]["mean"] / f["weak_test_mse"]["mean"],
                      "strong_mse_ratio": p["strong_test_mse"]["mean"] / f["strong_test_mse"]["mean"]}
        else:
            metric = {"weak_pp": 100 * (p["weak_test_acc"]["mean"] - f["weak_test_acc"]["mean"]),
                      "strong_pp": 100 * (p["strong_test_acc"]["mean"] - f["strong_test_acc"]["mean"])}
        out[label] = {**metric,
                      "edge_recall_diff": p["edge_recall"]["mean"] - f["edge_recall"]["mean"],
                      "steps_saved": 1 - p["search_steps"]["mean"] / f["search_steps"]["mean"],
                      "wall_ratio": p["search_seconds"]["mean"] / f["search_seconds"]["mean"]}
    return out


# ---------------------------------------------------------------- markdown

def _pct(s: dict | None, digits: int = 1) -> str:
    if s is None:
        return "–"
    mean = f"{100 * s['mean']:.{digits}f}"
    return f"{mean} ± {100 * s['std']:.{digits}f}" if s["std"] else mean


def _num(s: dict | None, fmt: str = ",.0f") -> str:
    return "–" if s is None else format(s["mean"], fmt)


def _sci(s: dict | None) -> str:
    """An MSE, mean ± std over seeds, in scientific notation."""
    if s is None:
        return "–"
    return f"{s['mean']:.2e} ± {s['std']:.1e}" if s["std"] else f"{s['mean']:.2e}"


def _weak_strong(r: dict, regression: bool) -> str:
    """The weak and strong cells of a table row (and for regression the share learned)."""
    g = r.get
    if regression:
        return f"{_sci(g('weak_test_mse'))} | {_sci(g('strong_test_mse'))} | {_pct(g('weak_test_learned'))}"
    return f"{_pct(g('weak_test_acc'))} | {_pct(g('strong_test_acc'))}"


def markdown(s: dict) -> str:
    lines = ["# Planted tickets", "",
             f"Seeds {s['seeds']}; recipe {s['recipe']}; {s['hardware']}; {s['seconds']:.0f} s for this call "
             "(cached results are read, not rerun).", "",
             "Weak: the test metric after training the mask from its rewound (planted-host) weights on the full "
             "training split: accuracy (circle) or mean squared error per entry (helix, relu: lower is better, the "
             "noise variance is its floor; 'learned' is the share of test samples whose squared error is below "
             "select.learned_mse). Strong: the same metric of the untrained masked host after a per-class scale "
             "and shift (circle) or a per-output least-squares positive scale (regression) fitted on the training "
             "split. Precision / recall: of the planted edges, with the chance "
             "level of a random mask of the same per-layer densities in brackets. Units: planted units whose "
             "planted incoming edges are all kept. Collapsed: seeds whose mask leaves no input-output path. "
             "Steps: optimizer steps of the search (the dense build included), mean over seeds; ± is the "
             "std over seeds.", ""]
    for name, t in s["tasks"].items():
        f = t["planted"]
        regression = f.get("regression", False)
        lines += [f"## {name}", "",
                  f"Planted ticket: {f['edges']} edges, ρ* = {100 * f['density']:.3f} % of the weights; per layer "
                  + ", ".join(f"{k} {100 * v:.2f} %" for k, v in f["layer_densities"].items()) + "."]
        dense_key = "dense_test_mse" if regression else "dense_test_acc"
        dense = next((r[dense_key] for by in t["methods"].values() for r in by.values() if dense_key in r), None)
        if regression:
            lines.append(f"Regression; noise variance σ² = {f['noise_var']:.1e} (the test MSE's floor).")
            if dense:
                lines.append(f"Dense host trained with the recipe: test MSE {_sci(dense)} "
                             f"({dense['mean'] / f['noise_var']:.1f} σ²).")
            oracle = t["methods"].get("oracle", {}).get("planted")
            if oracle and "strong_test_mse" in oracle:
                lines.append(f"Oracle, calibrated strong ticket: test MSE {_sci(oracle['strong_test_mse'])} "
                             f"({oracle['strong_test_mse']['mean'] / f['noise_var']:.2f} σ²).")
        elif dense:  # every search of a seed shares its dense round
            lines.append(f"Dense host trained with the recipe: test accuracy {_pct(dense, 2)} %.")
        lines.append("")
        labels = list(dict.fromkeys(lab for by in t["methods"].values() for lab in by))
        for label in [x for x in s["densities"] if x in labels]:
            lines += [f"### target {'ρ* (planted)' if label == 'planted' else label}", "",
                      ("| method | density % | weak MSE | strong MSE | learned % " if regression else
                       "| method | density % | weak % | strong % ")
                      + "| edge precision % | edge recall % | units % | layer L1 | collapsed | steps | search s |",
                      "|---|---:|---:|---:|" + "---:|" * regression + "---:|---:|---:|---:|---:|---:|---:|"]
            notes = []
            for m, by in t["methods"].items():
                r = by.get(label)
                if r is None:
                    continue
                if "skipped" in r:
                    notes.append(f"{LABELS[m]}: {r['skipped']}.")
                    continue
                g = r.get
                lines.append(
                    f"| {LABELS[m]} | {100 * r['density']['mean']:.3f} | {_weak_strong(r, regression)} "
                    f"| {_pct(g('edge_precision'))} ({100 * r['chance_precision']['mean']:.2f}) "
                    f"| {_pct(g('edge_recall'))} ({100 * r['chance_recall']['mean']:.2f}) "
                    f"| {_pct(g('unit_recall'), 0)} | {_num(g('layer_density_l1'), '.3f')} "
                    f"| {round(r['collapsed']['mean'] * r['seeds'])}/{r['seeds']} | {_num(g('search_steps'))} "
                    f"| {_num(g('search_seconds'), '.1f')} |")
            lines += [""] + notes + ([""] if notes else [])
        if t["prac_vs_imp"]:
            lines += ["PrAC IMP against full-data IMP (" + ("MSE ratios PrAC / IMP, below 1 is better; edge recall "
                                                           "PrAC minus IMP):" if regression else "PrAC minus IMP):"), "",
                      ("| target | weak MSE ratio | strong MSE ratio " if regression else "| target | weak pp | strong pp ")
                      + "| edge recall pp | IMP steps saved % | wall ratio |",
                      "|---|---:|---:|---:|---:|---:|"]
            for label, v in t["prac_vs_imp"].items():
                metric = (f"{v['weak_mse_ratio']:.2f} | {v['strong_mse_ratio']:.2f}" if regression
                          else f"{v['weak_pp']:+.2f} | {v['strong_pp']:+.2f}")
                lines.append(f"| {label} | {metric} | {100 * v['edge_recall_diff']:+.1f} "
                             f"| {100 * v['steps_saved']:.1f} | {v['wall_ratio']:.2f} |")
            lines.append("")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- plots

def _points(by: dict, metric: str) -> list[tuple[float, float, float]]:
    pts = [(r["density"]["mean"], r[metric]["mean"], r[metric]["std"]) for r in by.values()
           if "skipped" not in r and metric in r]
    return sorted(pts)


def _log_density_axis(ax) -> None:
    import matplotlib.ticker

    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.set_xlabel("weights kept (%)")


def plots(out: Path, s: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, t in s["tasks"].items():
        ms = {m: by for m, by in t["methods"].items() if any("skipped" not in r for r in by.values())}
        colors = {m: f"C{i}" for i, m in enumerate(LABELS)}
        rho = 100 * t["planted"]["density"]

        regression = t["planted"].get("regression", False)
        scale = 1 if regression else 100  # MSE as it is, accuracy in %
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for m, by in ms.items():
            pts = _points(by, weak_key(regression))
            if m == "oracle":
                for x, y, _ in pts:
                    ax.axhline(scale * y, color=colors[m], ls="--", lw=1, label=f"{LABELS[m]} (at ρ*)")
                continue
            ax.errorbar([100 * x for x, _, _ in pts], [scale * y for _, y, _ in pts],
                        yerr=[scale * e for _, _, e in pts], marker="o", ms=4, capsize=2, color=colors[m],
                        label=LABELS[m])
        ax.axvline(rho, color="grey", lw=0.8, ls=":")
        _log_density_axis(ax)
        if regression:
            ax.axhline(t["planted"]["noise_var"], color="black", lw=0.8, ls="-.", label="noise variance σ²")
            ax.set_yscale("log")
            ax.set_ylabel("weak ticket: test MSE after training (lower is better)")
        else:
            ax.set_ylabel("weak ticket: test accuracy (%) after training")
        ax.set_title(f"{name}: weak ticket vs density (ρ* dotted)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(out / f"planted_weak_{name}.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for m, by in ms.items():
            pts = _points(by, "edge_recall")
            chance = _points(by, "chance_recall")
            ax.errorbar([100 * x for x, _, _ in pts], [100 * y for _, y, _ in pts], yerr=[100 * e for _, _, e in pts],
                        marker="o", ms=4, capsize=2, color=colors[m], label=LABELS[m])
            ax.plot([100 * x for x, _, _ in chance], [100 * y for _, y, _ in chance], ls="--", lw=1,
                    color=colors[m], marker="x", ms=4)
        ax.axvline(rho, color="grey", lw=0.8, ls=":")
        _log_density_axis(ax)
        ax.set_ylabel("planted edges kept (%): recall; dashed: chance")
        ax.set_title(f"{name}: edge recall vs density (dashed: random mask of the same per-layer densities)")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(out / f"planted_recall_{name}.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)

        labels = [lab for lab in s["densities"] if any(lab in by and "skipped" not in by[lab] for by in ms.values())]
        layers = list(t["planted"]["layer_densities"])
        fig, axes = plt.subplots(1, max(1, len(labels)), figsize=(4.2 * max(1, len(labels)), 4), squeeze=False)
        for ax, lab in zip(axes[0], labels):
            shown = [m for m, by in ms.items() if lab in by and "skipped" not in by[lab] and m != "oracle"]
            width = 0.8 / max(1, len(shown))
            for j, m in enumerate(shown):
                ax.bar([i + (j - (len(shown) - 1) / 2) * width for i in range(len(layers))],
                       [100 * ms[m][lab]["layer_densities"][n] for n in layers], width, color=colors[m],
                       label=LABELS[m])
            ax.scatter(range(len(layers)), [100 * t["planted"]["layer_densities"][n] for n in layers], marker="_",
                       s=600, color="black", zorder=3, label="planted")
            ax.set_xticks(range(len(layers)), [n.replace(".weight", "") for n in layers], fontsize=7)
            ax.set_yscale("log")
            ax.set_title(f"target {'ρ*' if lab == 'planted' else lab}", fontsize=9)
            ax.set_ylabel("weights kept in the layer (%)")
        axes[0][0].legend(fontsize=6)
        fig.suptitle(f"{name}: per-layer density of the masks (black: the planted ticket's)", fontsize=9)
        fig.tight_layout()
        written.append(out / f"planted_layers_{name}.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    return written


def write(out: Path, s: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plots(out, s)
    (out / "planted.md").write_text(markdown(s))
    write_json(out / "planted.json", s)
