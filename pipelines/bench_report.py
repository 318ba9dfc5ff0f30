"""Turn per-seed benchmark results into ``bench.json``, ``bench.md`` and PNG plots."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import statistics
from pathlib import Path

import scipy.stats
import torch

from prac.train import distributed
from prac.progress import say
from prac.store import write_json

LABELS = {"full": "full-data IMP", "prac": "PrAC IMP", "random": "random subset IMP",
          "matched": "full-data IMP, compute-matched", "reinit": "PrAC mask, random re-init",
          "transfer": "PrAC IMP with the source model's set", "forgetting": "forgetting-set IMP",
          "el2n": "EL2N subset IMP", "ccs": "coverage-centric subset IMP",
          "prac_paper": "PrAC IMP, the paper's set (never-learned samples kept)"}


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def stat(xs: list[float]) -> dict:
    """Mean, sample std (0 for one seed) and the per-seed values."""
    xs = [float(x) for x in xs]
    mean, std = _mean_std(xs)
    return {"mean": mean, "std": std, "values": xs}


def difference(xs: list[float], ys: list[float]) -> dict:
    """``xs`` minus ``ys``, paired by seed (both in percentage points): the mean difference,
    its std over seeds, and a 95 % Student-t interval of the mean. Pairing removes what both
    runs of a seed share (the dense network, the initial weights, the split), so it is the
    sharper test of whether two methods differ. ``verdict``: "ahead" or "behind" when the
    interval excludes 0, "inside the noise" when it holds it; "one seed" when there is no
    interval, and "two seeds: no verdict" with two, whose std is one difference of two
    numbers (accuracies are counts of samples, so two seeds often differ by exactly the same
    amount, and the interval collapses to a point)."""
    d = [x - y for x, y in zip(xs, ys, strict=True)]
    mean, std = _mean_std(d)
    if len(d) < 2:
        return {"mean": mean, "std": std, "ci95": None, "values": d, "verdict": "one seed"}
    half = float(scipy.stats.t.ppf(0.975, len(d) - 1)) * std / math.sqrt(len(d))
    lo, hi = mean - half, mean + half
    verdict = ("two seeds: no verdict" if len(d) == 2 else
               "ahead" if lo > 0 else "behind" if hi < 0 else "inside the noise")
    return {"mean": mean, "std": std, "ci95": [lo, hi], "values": d, "verdict": verdict}


def round_difference(a: dict, b: dict, split: str) -> dict | None:
    """Summarised round ``a`` minus round ``b`` on ``split`` ("test" or "val") accuracy,
    paired by seed, in pp (``difference``); None where either lacks per-seed values."""
    xs, ys = a.get(f"{split}_acc_values"), b.get(f"{split}_acc_values")
    return None if xs is None or ys is None else difference([100 * x for x in xs], [100 * y for y in ys])


def paired(methods: dict, a: str, b: str) -> list[dict]:
    """Method ``a`` minus method ``b`` (summarised) at every round both retrained on every
    seed: test and validation accuracy, pp (``round_difference``)."""
    out = []
    for ra, rb in list(zip(methods[a]["rounds"], methods[b]["rounds"]))[1:]:
        test = round_difference(ra, rb, "test")
        if test is None:
            continue
        row = {"round": ra["round"], "density": ra["density"], "test_pp": test}
        if (val := round_difference(ra, rb, "val")) is not None:
            row["val_pp"] = val
        out.append(row)
    return out


def gap(methods: dict, a: str, b: str, i: int) -> float | None:
    """Percentage points by which method ``a`` trails ``b`` in round ``i`` (test, mean over seeds)."""
    x, y = methods[a]["rounds"][i]["test_acc_mean"], methods[b]["rounds"][i]["test_acc_mean"]
    return None if x is None or y is None else 100 * (y - x)


COMPARISONS = ("iteration_savings", "iteration_savings_end_to_end", "iteration_savings_compute", "wall_ratio",
               "wall_ratio_end_to_end", "parity_gap_pp", "paired", "random_subset_gap_pp", "matched_gap_pp",
               "reinit_gap_pp")  # what ``comparisons`` derives from the methods


def comparisons(methods: dict) -> dict:
    """PrAC against full-data IMP and the controls, from summarised ``methods``: the savings
    (steps, end to end, every pass counted, wall), the parity gap, and PrAC minus each
    control paired by seed. Empty unless both PrAC and full-data IMP ran."""
    if not ("prac" in methods and "full" in methods):
        return {}
    full, prac = methods["full"], methods["prac"]
    last = len(prac["rounds"]) - 1
    gaps = [g for g in (gap(methods, "prac", "full", i) for i in range(1, last + 1)) if g is not None]
    walls = prac["wall_seconds"] is not None and full["wall_seconds"] is not None
    out = {
        "iteration_savings": 1 - prac["steps_total"] / full["steps_total"],
        "iteration_savings_end_to_end": 1 - (prac["steps_total"] + prac["retrain_steps"]) / full["steps_total"],
        "iteration_savings_compute": 1 - prac["compute"] / full["compute"],
        "wall_ratio": prac["wall_seconds"] / full["wall_seconds"] if walls else None,
        "wall_ratio_end_to_end": (prac["wall_seconds"] + prac["retrain_seconds"]) / full["wall_seconds"] if walls else None,
        "parity_gap_pp": max(gaps) if gaps else None,
    }
    # PrAC minus each control, paired by seed, at every round both retrained (> 0: PrAC is better)
    out["paired"] = {m: paired(methods, "prac", m) for m in ("full", "random", "matched", "forgetting", "el2n", "ccs", "prac_paper")
                     if m in methods}
    # > 0: PrAC beats the control at the sparsest round
    for other, name in (("random", "random_subset_gap_pp"), ("matched", "matched_gap_pp"), ("reinit", "reinit_gap_pp")):
        if other in methods:
            g = gap(methods, "prac", other, last)
            out[name] = None if g is None else -g
    return out


def summarise(per_seed: list[dict]) -> dict:
    methods = {}
    for m in [m for m in LABELS if m in per_seed[0]]:
        runs = [s[m] for s in per_seed]
        n_rounds = min(len(r["rounds"]) for r in runs)
        rounds = []
        for i in range(n_rounds):
            accs = [r["rounds"][i]["test_acc"] for r in runs]
            mean, std = _mean_std(accs) if None not in accs else (None, None)
            vals = [r["rounds"][i].get("val_acc") for r in runs]   # what method choices are made on
            vmean, vstd = _mean_std(vals) if None not in vals else (None, None)
            rounds.append({"round": i, "density": statistics.fmean(r["rounds"][i]["density"] for r in runs),
                           "test_acc_mean": mean, "test_acc_std": std, "val_acc_mean": vmean, "val_acc_std": vstd,
                           "test_acc_values": None if mean is None else accs,   # per seed, for paired comparisons
                           "val_acc_values": None if vmean is None else vals,
                           "steps": round(statistics.fmean(r["rounds"][i]["steps"] for r in runs))})
        walls = [r["wall_seconds"] for r in runs if r["wall_seconds"] is not None]
        label = LABELS[m] if m != "transfer" else f"PrAC IMP with {runs[0]['source_model']}'s set"
        methods[m] = {"label": label, "rounds": rounds,
                      "steps_total": round(statistics.fmean(r["steps_total"] for r in runs)),
                      "wall_seconds": statistics.fmean(walls) if walls else None,
                      "retrain_steps": round(statistics.fmean(r.get("retrain_steps", 0) for r in runs)),
                      "compute": round(statistics.fmean(r.get("compute") or 0 for r in runs)),
                      "retrain_seconds": statistics.fmean(r.get("retrain_seconds", 0.0) for r in runs)}
    out = {"methods": methods,
           "prac_fraction": statistics.fmean(s["prac_fraction"] for s in per_seed),
           "composition_by_class": per_seed[0]["composition_by_class"],
           "seconds": sum(s["seconds"] for s in per_seed)}

    out.update(comparisons(methods))
    if "transfer" in methods and "full" in methods:
        tr, last = methods["transfer"], len(methods["transfer"]["rounds"]) - 1
        gaps = [g for g in (gap(methods, "transfer", "full", i) for i in range(1, last + 1)) if g is not None]
        own = gap(methods, "transfer", "prac", last) if "prac" in methods else None
        out["transfer"] = {
            "source_model": per_seed[0]["transfer"]["source_model"],
            "prac_fraction": statistics.fmean(s["transfer"]["prac_fraction"] for s in per_seed),
            "iteration_savings": 1 - tr["steps_total"] / methods["full"]["steps_total"],
            "amortised_savings": statistics.fmean(s["transfer"]["amortised"]["iteration_savings"] for s in per_seed),
            "parity_gap_pp": max(gaps) if gaps else None,     # > 0: transfer trails full-data IMP
            "minus_own_set_pp": None if own is None else -own,  # > 0: the borrowed set beats the target's own
        }
    return out


def hardware() -> str:
    """The machine in words. The CPU's model and the SIMD level torch's kernels use are named
    because float sums run in a different order on another CPU, so the same command and
    seed reproduce a figure bit for bit only on the same kind of CPU (docs/trust.md)."""
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else \
        f"CPU ({cpu_model()}, {torch.backends.cpu.get_cpu_capability()})"
    return f"{dev}, {os.cpu_count()} cores, {platform.machine()}, torch {torch.__version__} " \
           f"({torch.get_num_threads()} threads)"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown model"


def headline(s: dict) -> str:
    if "iteration_savings" not in s:
        return "(full-data IMP or PrAC not among the methods: no savings figures)"
    # every gap as "PrAC minus X" (> 0: PrAC is better); bench.json keeps parity_gap_pp as full minus PrAC
    worst = s.get("parity_gap_pp")
    line = (f"iteration savings {100 * s['iteration_savings']:.1f} % (end to end "
            f"{100 * s['iteration_savings_end_to_end']:.1f} %"
            + (f"; counting every pass {100 * s['iteration_savings_compute']:.1f} %" if "iteration_savings_compute" in s
               else "") + f"), wall ratio {_ratio(s['wall_ratio'])}; PrAC minus full-data IMP at its worst evaluated round "
            f"{_pp(None if worst is None else -worst)} pp, PrAC minus random subset at the sparsest round "
            f"{_pp(s.get('random_subset_gap_pp'))} pp, PrAC minus compute-matched full data "
            f"{_pp(s.get('matched_gap_pp'))} pp")
    if last := sparsest_paired(s):
        line += "\nsparsest round, PrAC minus each control paired by seed (95 % interval): " + ", ".join(
            f"{LABELS[m]} {diff_text(d['test_pp'])}" for m, d in last.items())
    if t := s.get("transfer"):
        line += (f"\ntransfer from {t['source_model']}: iteration savings {100 * t['iteration_savings']:.1f} % "
                 f"(this run alone, the source's build included), {100 * t['amortised_savings']:.1f} % amortised "
                 f"over the source's own search and this one; transfer minus full-data IMP at its worst round "
                 f"{_pp(None if t['parity_gap_pp'] is None else -t['parity_gap_pp'])} pp, transfer minus the "
                 f"target's own set at the sparsest round {_pp(t['minus_own_set_pp'])} pp")
    return line


def sparsest_paired(s: dict) -> dict:
    """Each control's paired difference at the sparsest round PrAC was retrained at."""
    pairs = s.get("paired") or {}
    return {m: rows[-1] for m, rows in pairs.items() if rows}


def diff_text(d: dict) -> str:
    def pp(x: float) -> str:
        return f"{round(x, 2) + 0.0:+.2f}"  # + 0.0: a -0.001 prints as +0.00, not -0.00

    if d["ci95"] is None:
        return f"{pp(d['mean'])} (one seed)"
    lo, hi = d["ci95"]
    return f"{pp(d['mean'])} [{pp(lo)}, {pp(hi)}] {d['verdict']}"


def paired_tables(s: dict) -> list[str]:
    """Markdown: PrAC minus each control per retrained round, test then validation."""
    pairs = {m: rows for m, rows in (s.get("paired") or {}).items() if rows}
    if not pairs:
        return []
    lines = []
    for key, split in (("test_pp", "test"), ("val_pp", "validation")):
        lines += ["", f"PrAC minus each control on {split} accuracy, paired by seed (pp): mean [95 % t-interval over "
                      "seeds]; *ahead* / *behind* when the interval excludes 0 (three seeds or more):", "",
                  "| weights left % | " + " | ".join(f"vs {LABELS[m]}" for m in pairs) + " |",
                  "|---:|" + "---|" * len(pairs)]
        by_round = {m: {r["round"]: r for r in rows} for m, rows in pairs.items()}
        for row in next(iter(pairs.values())):
            cells = [diff_text(rows[row["round"]][key]) if key in rows.get(row["round"], {}) else "–"
                     for rows in by_round.values()]
            lines.append(f"| {100 * row['density']:.1f} | " + " | ".join(cells) + " |")
    return lines


def _ratio(x) -> str:
    return "– (the methods' walls were measured apart)" if x is None else f"{x:.3f}"


def _pp(x) -> str:
    return "–" if x is None else f"{x:+.2f}"


def _acc(r: dict) -> str:
    return "–" if r["test_acc_mean"] is None else f"{100 * r['test_acc_mean']:.2f} ± {100 * r['test_acc_std']:.2f}"


def markdown(s: dict) -> str:
    ms = s["methods"]
    lines = [f"# Benchmark: {s['config']['model']['name']} on {s['config']['dataset']['kind']}", "",
             f"Seeds {s['seeds']}; {s['hardware']}; PrAC set {100 * s['prac_fraction']:.1f} % of the training split.",
             "", headline(s), "",
             "Test accuracy (%) of each round's ticket retrained on the full training split, mean ± std over seeds:", "",
             "| weights left % | " + " | ".join(ms[m]["label"] for m in ms) + " |",
             "|---:|" + "---:|" * len(ms)]
    for i, r in enumerate(next(iter(ms.values()))["rounds"]):  # every method lists the same rounds
        cells = [_acc(ms[m]["rounds"][i]) for m in ms]
        lines.append(f"| {100 * r['density']:.1f} | " + " | ".join(cells) + " |")
    lines += paired_tables(s)
    lines += ["", "| method | optimizer steps (search) | search wall s (build included) | final retrain steps |",
              "|---|---:|---:|---:|"]
    for m in ms:
        w = ms[m]["wall_seconds"]
        lines.append(f"| {ms[m]['label']} | {ms[m]['steps_total']:,} | {'–' if w is None else f'{w:.1f}'} "
                     f"| {ms[m]['retrain_steps']:,} |")
    return "\n".join(lines) + "\n"


def plot_finish(fig, ax, xlabel: str, ylabel: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plots(bdir: Path, s: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    ms = s["methods"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    dense = next(iter(ms.values()))["rounds"][0]
    ax.axhspan(100 * (dense["test_acc_mean"] - dense["test_acc_std"]), 100 * (dense["test_acc_mean"] + dense["test_acc_std"]),
               color="grey", alpha=0.25, label="dense network")
    for m, v in ms.items():
        r = [x for x in v["rounds"][1:] if x["test_acc_mean"] is not None]
        ax.errorbar([100 * x["density"] for x in r], [100 * x["test_acc_mean"] for x in r],
                    yerr=[100 * x["test_acc_std"] for x in r], marker="o", ms=3, capsize=2, label=v["label"])
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.invert_xaxis()
    plot_finish(fig, ax, "weights remaining (%)", "test accuracy (%) after full-data retrain", bdir / "accuracy_vs_density.png")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m, v in ms.items():
        if m == "reinit":
            continue
        cum, total = [], 0
        for x in v["rounds"]:
            total += x["steps"]
            cum.append(total)
        ax.plot(range(len(cum)), cum, marker="o", ms=3, label=v["label"])
    ax.set_yscale("log")
    plot_finish(fig, ax, "round", "cumulative optimizer steps", bdir / "steps_vs_rounds.png")

    comp = s["composition_by_class"]
    fig, ax = plt.subplots(figsize=(7, 4))
    bottom = [0] * len(comp["hard_only"])
    for name in ("hard_only", "flipped_only", "both"):
        ax.bar(range(len(bottom)), comp[name], bottom=bottom, label=name.replace("_", " "))
        bottom = [a + b for a, b in zip(bottom, comp[name])]
    plot_finish(fig, ax, "class", "samples in the PrAC set (first seed)", bdir / "prac_composition.png")


def write(bdir: Path, s: dict) -> None:
    plots(bdir, s)
    (bdir / "bench.md").write_text(markdown(s))
    write_json(bdir / "bench.json", s)


def over_seeds(cfg, seeds: int, one) -> list[dict]:
    """``one(cfg_of_seed, i)`` for seeds ``cfg.seed .. cfg.seed + seeds - 1``, announced."""
    per_seed = []
    for i in range(seeds):
        scfg = dataclasses.replace(cfg, seed=cfg.seed + i)
        say(f"[bold]seed {scfg.seed}[/bold] ({i + 1} of {seeds})")
        per_seed.append(one(scfg, i))
    return per_seed


def publish(out: Path, summary: dict, cfg, seeds: int, report, name: str) -> dict:
    """Stamp ``summary`` with its config, seeds and hardware; on rank 0 write it with
    ``report.write`` (``name``.json, ``name``.md, plots) and print its headline."""
    summary.update(config=json.loads(json.dumps(dataclasses.asdict(cfg))), seeds=[cfg.seed + i for i in range(seeds)],
                   hardware=hardware(), world_size=distributed.world_size())
    if distributed.is_main():
        out.mkdir(parents=True, exist_ok=True)
        report.write(out, summary)
        say(f"wrote {out}/{name}.json, {name}.md and plots")
        print(f"bench{'' if name == 'bench' else ' ' + name}: {out}")
        print(report.headline(summary))
    return summary
