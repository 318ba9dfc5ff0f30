"""The savings account of a ticket search against full-data IMP to the same sparsity: in
optimizer steps and in forward-equivalents, every pass counted (pure functions of the
rounds' figures; ``prac.search.account`` gathers them from a run)."""

from __future__ import annotations


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


def account(rounds: list[dict], *, reused: bool, build: dict, charge_build: bool, full_round: int,
            full_round_forwards: int, retrains: list[dict], reference: dict | None = None) -> dict:
    """The cost of a search against full-data IMP to the same sparsity (the dense round and
    as many full-data rounds, each evaluated once), in optimizer steps and in
    forward-equivalents (``forwards``: every pass counts, flip probes and evaluations too).
    The PrAC set's build (its dense run and probe, ``build``) is charged once: it is round 0
    when the run reuses it. For another architecture round 0 is its dense ``reference``
    (``prac.search.reference``), charged on top of the build. ``retrains`` are the
    validation retrains, every one of them."""
    dense_steps = rounds[0]["steps"]
    steps_total = sum(x["steps"] for x in rounds)
    baseline_total = full_round * len(rounds)
    given = reused or reference is not None  # round 0 is a cached dense run, charged as such below
    own_steps = steps_total - (dense_steps if given else 0)
    charged = own_steps + (build["steps"] if charge_build else 0) + (reference["steps"] if reference else 0)
    retrain_steps = sum(r["steps"] for r in retrains)
    # compute: a cached round 0 *is* the build or the reference, so it is not counted twice
    own_fw = sum(x["forwards"] for x in rounds[(1 if given else 0):])
    charged_fw = own_fw + (build["forwards"] if charge_build else 0) + (reference["forwards"] if reference else 0)
    baseline_fw = full_round_forwards * len(rounds)
    retrain_fw = sum(r["forwards"] for r in retrains)
    return {"steps_total": steps_total, "dense_steps": dense_steps, "retrain_steps": retrain_steps,
            "dense_reused": reused, "build_steps": build["steps"], "reference": reference,
            "own_steps": own_steps, "charged_steps": charged,
            "baseline_steps_total": baseline_total, "baseline_dense_steps": full_round,
            **savings(charged, steps_total - dense_steps, baseline_total, full_round, retrain_steps),
            "compute": {"unit": "forward-equivalents (a training sample counts 3, a prediction 1)",
                        "build": build["forwards"], "own": own_fw, "charged": charged_fw, "retrains": retrain_fw,
                        "baseline": baseline_fw},
            "iteration_savings_compute": 1 - charged_fw / baseline_fw,
            "iteration_savings_compute_end_to_end": 1 - (charged_fw + retrain_fw) / baseline_fw}


def amortised_savings(build_steps: int, uses: list[dict]) -> dict:
    """Savings of every run that used one PrAC set, its build counted once and each dense
    reference of another architecture once: the set's reason to be cached (a set built with
    one architecture serves others)."""
    own = sum(u["own_steps"] for u in uses)
    references = {u["reference"]["key"]: u["reference"]["steps"] for u in uses if u.get("reference")}
    steps = build_steps + sum(references.values()) + own
    baseline = sum(u["baseline_steps_total"] for u in uses)
    return {"runs": len(uses), "models": sorted({u["model"] for u in uses}), "steps": steps,
            "reference_steps": sum(references.values()), "baseline_steps": baseline,
            "iteration_savings": 1 - steps / max(1, baseline)}


def build_charged(reused: bool, subset: str) -> bool:
    """Whether a search is charged the set's build (its steps, forwards and time): round 0
    reused it, or the search trains on the PrAC set it selected."""
    return reused or subset == "prac"
