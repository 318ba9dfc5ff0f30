"""Turn per-seed ``bench lth`` results into ``lth.json``, ``lth.md`` and PNG plots.

``lth.json``: ``dense`` (the dense network's figures) and ``methods`` → method →
``rounds`` (per pruning round: weights remaining, then ``early_stop_test_acc``,
``early_stop_step`` and ``test_acc`` (final) as ``{"mean", "std", "values"}`` over seeds),
and ``curves``: the mean accuracy-vs-step curves of plot 3.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from pipelines.bench_report import plot_finish
from pipelines.bench_stats import stat
from prac.store import write_json

LABELS = {"iterative": "iterative pruning (full-data IMP)", "oneshot": "one-shot pruning",
          "reinit": "iterative masks, random re-init", "random_prune": "random pruning (same layer densities)",
          "prac": "PrAC IMP tickets"}
KEYS = ("early_stop_test_acc", "early_stop_step", "test_acc")
OVERLAPS = ("prac_iterative", "prac_oneshot", "iterative_oneshot")  # shared fraction of the first mask's weights
CURVE_DENSITIES = (1.0, 0.51, 0.21, 0.07, 0.036)  # the LTH paper's Figure 3 tickets


def figures_of(rows: list[dict]) -> dict:
    return {k: stat([x[k] for x in rows]) for k in KEYS if all(x.get(k) is not None for x in rows)}


def summarise(per_seed: list[dict], methods: list[str]) -> dict:
    methods_out = {}
    for m in methods:
        rows = []
        for i in range(min(len(s[m]) for s in per_seed)):
            xs = [s[m][i] for s in per_seed]
            if any(x.get("early_stop_step") is None for x in xs):  # not retrained (--eval-rounds)
                continue
            rows.append({"round": xs[0]["round"], "density": statistics.fmean(x["density"] for x in xs),
                         **figures_of(xs)})
        methods_out[m] = {"label": LABELS[m], "rounds": rows}
    out = {"dense": figures_of([s["dense"] for s in per_seed]), "methods": methods_out,
           "curves": curves(per_seed), "seconds": sum(s["seconds"] for s in per_seed)}
    if all("mask_overlap" in s for s in per_seed):
        out["mask_overlap"] = [{"round": rows[0]["round"], "density": rows[0]["density"],
                                **{k: stat([x[k] for x in rows]) for k in OVERLAPS}}
                               for rows in zip(*(s["mask_overlap"] for s in per_seed))]
    if all("prac_search_steps" in s for s in per_seed):
        out["prac_iteration_savings"] = 1 - statistics.fmean(s["prac_search_steps"] for s in per_seed) / \
            statistics.fmean(s["iterative_steps"] for s in per_seed)
    return out


def _mean_curve(runs: list[dict]) -> dict | None:
    """The seeds' mean curve (the same steps in every seed): test accuracy where recorded."""
    pts = [r.get("curve") or [] for r in runs]
    if not all(pts) or len({len(p) for p in pts}) != 1:
        return None
    metric = "test_acc" if all("test_acc" in p[0] for p in pts) else "val_acc"
    return {"metric": metric, "steps": [x["step"] for x in pts[0]],
            "mean": [statistics.fmean(p[i][metric] for p in pts) for i in range(len(pts[0]))]}


def curves(per_seed: list[dict]) -> list[dict]:
    """Plot 3's curves: the iterative tickets nearest ``CURVE_DENSITIES`` (100 %: the dense
    network) and their re-initialised twins."""
    out, taken = [], set()
    for d in CURVE_DENSITIES:
        if d == 1.0:
            c = _mean_curve([s["dense"] for s in per_seed])
            if c:
                out.append({"label": "dense (100 %)", "density": 1.0, "reinit": False, **c})
            continue
        for m in ("iterative", "reinit"):
            if m not in per_seed[0]:
                continue
            rows = [j for j, x in enumerate(per_seed[0][m]) if x.get("curve")]  # retrained (--eval-rounds)
            if not rows:
                continue
            i = min(rows, key=lambda j: abs(per_seed[0][m][j]["density"] - d))
            if (m, i) in taken:  # two target densities nearest the same round
                continue
            taken.add((m, i))
            c = _mean_curve([s[m][i] for s in per_seed])
            if c:
                dens = per_seed[0][m][i]["density"]
                out.append({"label": f"{100 * dens:.1f} %{' re-init' if m == 'reinit' else ''}", "density": dens,
                            "reinit": m == "reinit", **c})
    return out


def nearest(rows: list[dict], d: float) -> dict | None:
    return min(rows, key=lambda x: abs(x["density"] - d)) if rows else None


def _pct(s: dict | None) -> str:
    return "–" if not s else f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"


def _steps(s: dict | None) -> str:
    return "–" if not s else f"{s['mean']:,.0f} ± {s['std']:,.0f}"


def headline(s: dict) -> str:
    it, dense = s["methods"].get("iterative"), s["dense"]
    r = nearest(it["rounds"], 0.21) if it else None
    if r is None or "early_stop_step" not in dense:
        return "bench lth: no iterative tickets to compare"
    earlier = 1 - r["early_stop_step"]["mean"] / dense["early_stop_step"]["mean"]
    parts = [f"at {100 * r['density']:.1f} % of weights, iterative tickets stop early at step "
             f"{r['early_stop_step']['mean']:,.0f} vs the dense network's {dense['early_stop_step']['mean']:,.0f} "
             f"({100 * abs(earlier):.0f} % {'earlier' if earlier >= 0 else 'later'}), test accuracy there {_pct(r['early_stop_test_acc'])} % "
             f"(dense {_pct(dense['early_stop_test_acc'])} %)"]
    for m, v in s["methods"].items():
        if m != "iterative" and (x := nearest(v["rounds"], r["density"])) and abs(x["density"] - r["density"]) < 0.02:
            parts.append(f"{m} {_pct(x['early_stop_test_acc'])} % at step {x['early_stop_step']['mean']:,.0f}")
    return "; ".join(parts)


def markdown(s: dict) -> str:
    ms, dense = s["methods"], s["dense"]
    lines = [f"# Lottery ticket experiments: {s['config']['model']['name']} on {s['config']['dataset']['kind']}", "",
             f"Seeds {s['seeds']}; {s['hardware']}; {s['seconds'] / 60:.1f} min in this invocation (pieces "
             "cached by an earlier one cost nothing here).", "",
             f"- dense network: test accuracy at early stop {_pct(dense.get('early_stop_test_acc'))} %, early-stop "
             f"step {_steps(dense.get('early_stop_step'))}, final test accuracy {_pct(dense.get('test_acc'))} %",
             f"- {headline(s)}", ""]
    if "prac_iteration_savings" in s:
        lines += [f"- PrAC IMP's search took {100 * s['prac_iteration_savings']:.1f} % fewer optimizer steps than "
                  "iterative pruning's rounds (its tickets' full-data retrains not counted)", ""]
    for title, key, fmt in (("Test accuracy at the early-stop step (%)", "early_stop_test_acc", _pct),
                            ("Early-stop step (minimum validation loss)", "early_stop_step", _steps),
                            ("Final test accuracy (%)", "test_acc", _pct)):
        names = list(ms)
        lines += [f"## {title}", "", "| weights left % | " + " | ".join(names) + " |",
                  "|---:|" + "---:|" * len(names)]
        for r in ms.get("iterative", next(iter(ms.values())))["rounds"]:
            cells = []
            for m in names:
                x = next((y for y in ms[m]["rounds"] if y["round"] == r["round"]), None)
                cells.append(fmt(x.get(key)) if x else "–")
            lines.append(f"| {100 * r['density']:.1f} | " + " | ".join(cells) + " |")
        lines.append("")
    if "mask_overlap" in s:
        lines += ["## Which pruning the PrAC search's masks resemble", "",
                  "Fraction of the first ticket's kept weights that the second keeps too (same per-layer densities).",
                  "", "| weights left % | PrAC ∩ iterative | PrAC ∩ one-shot | iterative ∩ one-shot |",
                  "|---:|---:|---:|---:|"]
        for r in s["mask_overlap"]:
            lines.append(f"| {100 * r['density']:.1f} | " + " | ".join(_pct(r[k]) for k in OVERLAPS) + " |")
        lines.append("")
    return "\n".join(lines)


def min_density(s: dict) -> float:
    return min((r["density"] for v in s["methods"].values() for r in v["rounds"]), default=1.0)


def plots(odir: Path, s: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    dense = s["dense"]
    for key, scale, ylabel, name in (("early_stop_test_acc", 100, "test accuracy at early stop (%)",
                                      "lth_accuracy.png"),
                                     ("early_stop_step", 1, "early-stop step (min. validation loss)",
                                      "lth_early_stop.png")):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        if key in dense:
            m, sd = dense[key]["mean"] * scale, dense[key]["std"] * scale
            ax.axhspan(m - sd, m + sd, color="grey", alpha=0.25, label="dense network (± std)")
            ax.axhline(m, color="grey", lw=0.8)
        for v in s["methods"].values():
            r = [x for x in v["rounds"] if key in x]
            ax.errorbar([100 * x["density"] for x in r], [scale * x[key]["mean"] for x in r],
                        yerr=[scale * x[key]["std"] for x in r], marker="o", ms=3, capsize=2, label=v["label"])
        ax.set_xscale("log")
        ax.set_xticks([t for t in (100, 50, 20, 10, 5, 2, 1) if t >= 100 * min_density(s) * 0.8])
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.invert_xaxis()
        plot_finish(fig, ax, "weights remaining (%)", ylabel, odir / name)
    if s["curves"]:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        colour = {}  # a re-initialised twin takes its ticket's colour, dashed
        for c in s["curves"]:
            d = round(c["density"], 3)
            style = {"ls": "--", "color": colour.get(d)} if c["reinit"] else {}
            line, = ax.plot(c["steps"], [100 * v for v in c["mean"]], label=c["label"], **style)
            colour.setdefault(d, line.get_color())
        metric = "test" if s["curves"][0]["metric"] == "test_acc" else "validation"
        plot_finish(fig, ax, "training step", f"{metric} accuracy (%)", odir / "lth_curves.png")


def write(odir: Path, s: dict) -> None:
    plots(odir, s)
    (odir / "lth.md").write_text(markdown(s))
    write_json(odir / "lth.json", s)
