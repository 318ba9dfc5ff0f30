"""Ablations of the search recipe: ``prac bench`` per variant, one table on validation accuracy.

    python -m pipelines.ablation --config configs/digits_lenet.yaml --seeds 5 --out artifacts/ablation-digits \\
        --variant shipped= --variant paper=prune.search=rewind

Each variant is a name and comma-separated ``--set`` overrides; every variant runs full-data
IMP, PrAC IMP, a random subset of the same size and the compute-matched control (all
cached, so variants share the PrAC set and full-data IMP). The table gives, per variant and
evaluated round, the mean ± std over seeds of the retrained tickets' **validation**
accuracy (method choices are made on it) beside the test accuracy, and the search's steps.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.bench import run_bench
from pipelines.bench_report import diff_text, round_difference
from prac.config.load import load_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", required=True)
    ap.add_argument("--variant", action="append", required=True, help="NAME=key=v,key=v")
    ap.add_argument("--set", action="append", default=[], help="overrides for every variant")
    ap.add_argument("--eval-rounds", default=None)
    ap.add_argument("--methods", default="full,prac,random,matched")
    a = ap.parse_args()
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


def against_first(rows: dict[str, dict]) -> str:
    """Each variant's PrAC (full-data IMP where PrAC did not run) minus the first variant's,
    paired by seed, on validation (what a choice is made on) and test, at each retrained
    round: mean [95 % interval] and verdict. Variants run on other seeds are not paired."""
    names = list(rows)
    method = "prac" if "prac" in rows[names[0]]["methods"] else "full"
    ref = {r["round"]: r for r in _evaluated(rows[names[0]]["methods"][method])}
    lines = [f"{method} minus variant {names[0]}'s, paired by seed (pp, validation / test):", "",
             "| variant | " + " | ".join(f"{100 * r['density']:.1f} %" for r in ref.values()) + " |",
             "|---|" + "---|" * len(ref)]
    for name in names[1:]:
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


def _evaluated(method: dict) -> list[dict]:
    return [r for r in method["rounds"][1:] if r["test_acc_mean"] is not None]


if __name__ == "__main__":
    main()
