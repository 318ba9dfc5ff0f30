"""Turn a benchmark's summary (``pipelines.bench_stats``) into ``bench.json``, ``bench.md`` and
PNG plots."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from pathlib import Path

import torch

from pipelines.bench_stats import LABELS
from prac.train import distributed
from prac.progress import say
from prac.store import write_json


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
