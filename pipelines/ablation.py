"""Ablations of the search recipe: ``prac bench`` per variant, one table on validation accuracy.

    python -m pipelines.ablation --config configs/digits_lenet.yaml --seeds 5 --out artifacts/ablation-digits \\
        --variant shipped= --variant paper=prune.search=rewind

Each variant is a name and comma-separated ``--set`` overrides; every variant runs full-data
IMP, PrAC IMP, a random subset of the same size and the compute-matched control (all
cached, so variants share the PrAC set and full-data IMP). The table gives, per variant and
evaluated round, the mean ± std over seeds of the retrained tickets' **validation**
accuracy (method choices are made on it) beside the test accuracy, and the search's steps.

    python -m pipelines.ablation --compare shipped=docs/suite/conv2-eighth-20k-6seeds-v17.json \
        --compare b02=artifacts/conv2-b02/bench.json

compares bench files already written (a variant run with ``prac bench --methods prac``
against the suite's stored bench, whose full-data IMP it then need not train again): the
same tables on the seeds every file holds, each variant's PrAC also against the first
file's full-data IMP, and the savings. No training.

    python -m pipelines.ablation --combine docs/suite/conv2-eighth-20k-6seeds-v17.json \
        artifacts/conv2-b02/bench.json --out docs/suite/conv2-b02

writes the bench (``bench.json``, ``bench.md``, plots) of the first file's full-data IMP
beside the second file's other methods, on their common seeds: for a change that leaves
full-data IMP's computation as it was (a search setting it does not read). The wall ratio
is left out, since the two were not timed side by side.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines import bench_report, bench_stats
from pipelines.bench import run_bench
from pipelines.bench_report import diff_text
from pipelines.bench_stats import round_difference
from prac.config.load import load_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out")
    ap.add_argument("--variant", action="append", default=[], help="NAME=key=v,key=v")
    ap.add_argument("--compare", action="append", default=[], help="NAME=bench.json (no training; the first is "
                                                                     "the reference)")
    ap.add_argument("--combine", nargs=2, metavar=("BASE", "NEW"), help="BASE's full-data IMP beside NEW's methods "
                                                                        "(bench.json files), written to --out")
    ap.add_argument("--set", action="append", default=[], help="overrides for every variant")
    ap.add_argument("--eval-rounds", default=None)
    ap.add_argument("--methods", default="full,prac,random,matched")
    a = ap.parse_args()

    def bench_file(path: str) -> dict:  # a bench.json, or a one-line usage error
        try:
            s = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            ap.error(f"cannot read bench file '{path}' ({e.__class__.__name__}); give a bench.json that prac bench wrote")
        if not isinstance(s, dict) or not {"seeds", "methods"} <= s.keys():
            ap.error(f"'{path}' is not a bench.json of prac bench (no seeds or methods); give one that it wrote")
        return s

    if a.compare:
        specs = [spec.partition("=") for spec in a.compare]
        if any(not (name and path) for name, _, path in specs):
            ap.error("--compare takes NAME=bench.json, e.g. --compare v18=docs/suite/fm-lenet-13rounds-8seeds-v18.json")
        print(compare({name: bench_file(path) for name, _, path in specs}))
        return
    if a.combine:
        if not a.out:
            ap.error("--combine writes a bench: give --out DIR")
        base, new = (bench_file(f) for f in a.combine)
        s = combined(base, new)
        Path(a.out).mkdir(parents=True, exist_ok=True)
        bench_report.write(Path(a.out), s)
        print(bench_report.headline(s))
        return
    if not (a.variant and a.out):
        ap.error("give --out and at least one --variant (or --compare NAME=bench.json ...)")
    only = {int(r) for r in a.eval_rounds.split(",")} if a.eval_rounds else None
    rows = {}
    for spec in a.variant:
        name, _, sets = spec.partition("=")
        cfg = load_config(a.config, a.set + [s for s in sets.split(",") if s])
        out = Path(a.out)
        s = run_bench("tickets", cfg, a.seeds, out, None, tuple(a.methods.split(",")), only)
        (out / f"ablation-{name}.json").write_text(json.dumps(s, indent=1))
        rows[name] = s
    print(table(rows))
    print(against_first(rows))


def table(rows: dict[str, dict]) -> str:
    def cell(r, key):
        m, sd = r.get(f"{key}_mean"), r.get(f"{key}_std")
        return "–" if m is None else f"{100 * m:.2f} ± {100 * sd:.2f}"

    first = next(iter(rows.values()))["methods"]
    base = first.get("prac") or first["full"]
    shown = [r["round"] for r in _evaluated(base)]  # the retrained rounds
    density = {r["round"]: r["density"] for r in base["rounds"]}
    lines = ["| variant | method | steps | " + " | ".join(f"{100 * density[i]:.1f} % val / test" for i in shown) + " |",
             "|---|---|---:|" + "---|" * len(shown)]
    for name, s in rows.items():
        for m, v in s["methods"].items():
            by_round = {r["round"]: r for r in v["rounds"]}
            lines.append(f"| {name} | {m} | {v['steps_total']:,} | "
                         + " | ".join(f"{cell(by_round[i], 'val_acc')} / {cell(by_round[i], 'test_acc')}"
                                      for i in shown) + " |")
    return "\n".join(lines)


def against_first(rows: dict[str, dict], reference: str | None = None) -> str:
    """Each variant's PrAC (full-data IMP where PrAC did not run) minus the first variant's
    (minus the first variant's ``reference`` method, when given: every variant, the first
    too), paired by seed, on validation (what a choice is made on) and test, at each
    retrained round: mean [95 % interval] and verdict. Variants run on other seeds are not paired."""
    names = list(rows)
    method = "prac" if "prac" in rows[names[0]]["methods"] else "full"
    shown = {r["round"] for r in _evaluated(rows[names[0]]["methods"][method])}
    ref = {r["round"]: r for r in _evaluated(rows[names[0]]["methods"][reference or method]) if r["round"] in shown}
    lines = [f"{method} minus variant {names[0]}'s {reference or method}, paired by seed (pp, validation / test):", "",
             "| variant | " + " | ".join(f"{100 * r['density']:.1f} %" for r in ref.values()) + " |",
             "|---|" + "---|" * len(ref)]
    for name in names[1:] if reference is None else names:
        if rows[name].get("seeds") != rows[names[0]].get("seeds"):
            lines.append(f"| {name} | not the same seeds |")
            continue
        by_round = {r["round"]: r for r in _evaluated(rows[name]["methods"][method])}
        cells = []
        for i, base in ref.items():
            d = [None if i not in by_round else round_difference(by_round[i], base, split) for split in ("val", "test")]
            cells.append("–" if None in d else " / ".join(diff_text(x) for x in d))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(rows: dict[str, dict]) -> str:
    """``main``'s tables for bench summaries already written, restricted to the seeds all of
    them ran (``on_seeds``), with each variant's PrAC against the first's full-data IMP too,
    and the savings against the first's full-data IMP (whose steps are the same on every seed)."""
    common = sorted(set.intersection(*(set(s["seeds"]) for s in rows.values())))
    if not common:
        raise SystemExit("the bench files share no seed: nothing to pair")
    rows = {name: on_seeds(s, common) for name, s in rows.items()}
    parts = [f"seeds {common}", table(rows), against_first(rows)]
    full = next(iter(rows.values()))["methods"].get("full")
    if full is not None:
        parts += [against_first(rows, "full"), savings(rows, full)]
    return "\n\n".join(parts)


def combined(base: dict, new: dict) -> dict:
    """A bench summary of ``base``'s full-data IMP beside ``new``'s other methods on the
    seeds both ran (``on_seeds``), with its comparisons recomputed
    (``bench_stats.comparisons``) and no wall ratio: the two were not timed side by side."""
    common = sorted(set(base["seeds"]) & set(new["seeds"]))
    if not common or "full" not in base["methods"]:
        raise SystemExit("--combine needs a first bench with full-data IMP and a seed in common with the second")
    base, new = on_seeds(base, common), on_seeds(new, common)
    methods = {"full": base["methods"]["full"], **{m: v for m, v in new["methods"].items() if m != "full"}}
    out = {k: v for k, v in new.items() if k not in bench_stats.COMPARISONS}
    out.update(methods=methods, **bench_stats.comparisons(methods))
    out["wall_ratio"] = out["wall_ratio_end_to_end"] = None
    return out


def on_seeds(summary: dict, seeds: list[int]) -> dict:
    """``summary`` (a bench.json) with every round's per-seed values, and their mean and
    std, kept for ``seeds`` only; totals (steps, compute, wall) stay the file's means."""
    keep = [summary["seeds"].index(s) for s in seeds]
    methods = {}
    for m, v in summary["methods"].items():
        rounds = []
        for r in v["rounds"]:
            r = dict(r)
            for split in ("val", "test"):
                values = r.get(f"{split}_acc_values")
                if values is not None:
                    kept = bench_stats.stat([values[i] for i in keep])
                    r[f"{split}_acc_values"], r[f"{split}_acc_mean"], r[f"{split}_acc_std"] = \
                        kept["values"], kept["mean"], kept["std"]
            rounds.append(r)
        methods[m] = {**v, "rounds": rounds}
    return {**summary, "methods": methods, "seeds": list(seeds)}


def savings(rows: dict[str, dict], full: dict) -> str:
    """Each variant's PrAC steps (build and search) and its savings against ``full``, in steps
    and with every pass counted, and the wall ratio (each file's own mean wall), as
    ``bench_stats.comparisons`` derives them."""
    lines = ["| variant | PrAC steps | steps saved | every pass counted | wall over full-data IMP's |",
             "|---|---:|---:|---:|---:|"]
    for name, s in rows.items():
        p = s["methods"].get("prac")
        if p is None:
            continue
        c = bench_stats.comparisons({"full": full, "prac": p})
        wall = "–" if c["wall_ratio"] is None else f"{c['wall_ratio']:.3f}"
        lines.append(f"| {name} | {p['steps_total']:,} | {100 * c['iteration_savings']:.1f} % | "
                     f"{100 * c['iteration_savings_compute']:.1f} % | {wall} |")
    return "\n".join(lines)


def _evaluated(method: dict) -> list[dict]:
    return [r for r in method["rounds"][1:] if r["test_acc_mean"] is not None]


if __name__ == "__main__":
    main()
