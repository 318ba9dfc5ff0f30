"""Benchmark statistics: per-seed results summarised over seeds (``summarise``), and methods
compared with each other paired by seed (``difference``, ``paired``, ``comparisons``).
``pipelines.bench_report`` renders and writes what this computes."""

from __future__ import annotations

import math
import statistics

import scipy.stats

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
