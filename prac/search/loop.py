"""Stage 2: the ticket search, read as its steps (``run_search``).

    prac find-ticket --prac KEY [--set prune.rounds=13 ...] [--out DIR]
    prac.find_ticket(model_fn, x_train, y_train, x_test, y_test)          # the Python API

1. round 0, the dense network (``round_zero``): the set's cached dense run when the set was
   built with this network, training and seed (the paper's accounting); otherwise (another
   architecture) this architecture's dense reference, trained once on the full split and
   cached (``prac.search.reference``), its steps charged to the run;
2. the search rounds (``search_rounds``): each prunes (the policy's criterion), rewinds or
   keeps the trained weights (``prac.search.policies``), trains on the subset the selector
   chose (``prac.search.rounds``; not while pruning the dense network is nearly free:
   ``one_shot``), is evaluated on the full validation split (a rewound round, a ticket, on
   test too), and lets the flip probe refresh the PrAC set;
3. validation (``prac.search.validate``): the chosen ticket (mask + rewind weights) is
   retrained on the full training split and tested;
4. the account (``prac.search.account``): steps and savings against full-data IMP.

A run checkpoints after every round, epoch and retrain; the same command (or ``--resume
<run>``) continues a killed run and ends with the same masks and metrics, bit for bit.
Under ``torchrun --nproc_per_node=K -m prac find-ticket`` every round trains data-parallel;
each round's masks are computed on rank 0 and broadcast, and rank 0 alone writes.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from prac import paths
from prac.config import identity
from prac.config.load import load_config
from prac.config.schema import Config, to_dict
from prac.errors import PracError
from prac.progress import say
from prac.prune import Masks, density, full_masks, round_masks
from prac.report.markdown import write_report
from prac.search.account import account_for
from prac.search.policies import policy
from prac.search.reference import dense_reference
from prac.search.rounds import evaluate_pruned, train_round
from prac.search.run import Run, reach_lr, round_seed
from prac.search.validate import validate_run
from prac.select import cache, prune_flips
from prac.select.reuse import check_reuse, same_architecture
from prac.select.selectors import refresh, settled
from prac.setup import Setup, state_of
from prac.store import pack, read_json, save_tensors, unpack, write_json
from prac.train import distributed
from prac.train.checkpoint import remove_checkpoint
from prac.train.curve import EARLY_STOP
from prac.train.loop import forwards

RUN_FILE = "run.json"                  # the run's config, PrAC set and network, written first
TICKET = "ticket.safetensors"          # the chosen ticket: mask.<name> and rewind.<name>
TRAINED = "trained.safetensors"        # the chosen ticket after its full-data retrain
HISTORY = "masks.safetensors"          # every round's masks: round<r>.<name>
VERDICT = {True: "a winning ticket", False: "NOT within tolerance of the dense network",
           None: "winning unknown: the dense network is at chance"}


def run_name(setup: Setup, prac_key: str) -> str:
    """The run folder's name: the model, the selector it trains with (a full-data policy's is
    ``full``, whatever select.method says) and the hash of what the run computes."""
    cfg = setup.cfg
    recipe = policy(cfg.prune.search)
    chosen = "full" if recipe.full_data else cfg.select.method
    cfg = dataclasses.replace(cfg, select=dataclasses.replace(cfg.select, method=chosen))  # what it computes
    key = identity.run_key(cfg, prac_key, setup.model.id, dataclasses.asdict(recipe))
    return f"{setup.model.name}-{chosen}-{key[:12]}"


def run_search(setup: Setup, entry: cache.Entry, out=None, progress=None) -> dict:
    """Search, validate and account for a ticket of ``setup`` with PrAC set ``entry``; the
    report (with ``run_dir``). A finished run is read back, not recomputed."""
    check_reuse(setup, entry)
    rdir = paths.run_dir(out, run_name(setup, entry.key))
    if distributed.main_says((rdir / "report.json").is_file()):
        say(f"run {rdir.name} is finished: nothing to do")
        return {**read_json(rdir / "report.json"), "run_dir": str(rdir)}
    run = open_run(setup, entry, rdir, progress)
    model = setup.new_model()
    if run.state.done < 0:
        round_zero(run, model)
    search_rounds(run, model)
    chosen = validate_run(run, model)
    report = account_for(run, chosen)
    if distributed.is_main():
        save_ticket(run, chosen["round"])
        write_report(rdir, report)
        remove_checkpoint(run.ckpt)
    distributed.barrier()  # the run is finished for every rank once its report exists
    tk = report["ticket"]
    say(f"ticket at {100 * tk['density']:.2f} % of weights (round {tk['round']}, "
        f"{VERDICT[tk['winning']]}): test accuracy "
        f"{100 * tk['test_acc']:.2f} % after the full-data retrain (dense {100 * report['dense_test_acc']:.2f} %); "
        f"iteration savings {100 * report['iteration_savings']:.1f} % vs full-data IMP")
    return {**report, "run_dir": str(rdir)}


def open_run(setup: Setup, entry: cache.Entry, rdir: Path, progress=None) -> Run:
    """The run in folder ``rdir``: its checkpoint if it has one, a fresh start otherwise."""
    stats = entry.stats()  # read (and checksummed) once, before anything is written
    rdir.mkdir(parents=True, exist_ok=True)
    if distributed.is_main() and not (rdir / RUN_FILE).is_file():  # what `find-ticket --resume RUN_DIR` needs
        write_json(rdir / RUN_FILE, {"prac_key": entry.key, "config": to_dict(setup.cfg), "network": setup.header()})
    run = Run(setup, entry, stats, rdir, progress)
    if run.state.done >= 0 or run.state.inflight is not None:
        at = run.state.inflight.train.get("epoch") if run.state.inflight else None
        say(f"resuming run {rdir.name} after round {run.state.done}"
            + ("" if at is None else f", epoch {at} of the next training"))
    return run


def resumable(rdir) -> tuple[Config, cache.Entry, Path]:
    """The config, PrAC set and artifact root of the run started in folder ``rdir``."""
    rdir = Path(rdir)
    if not (rdir / RUN_FILE).is_file():
        raise PracError(f"{rdir} is not a prac run folder (no {RUN_FILE}); give a runs/<run> folder that "
                        "find-ticket started")
    started = read_json(rdir / RUN_FILE)
    if (started.get("network") or {}).get("user_model"):
        raise PracError(f"{rdir} is a run of a model of your own ({started['network']['model']}); resume it from "
                        "Python by calling prac.find_ticket again with the same arguments")
    root = rdir.resolve().parent.parent  # <root>/runs/<run>
    return load_config(None, [], base=started["config"]), cache.resolve(root, started["prac_key"]), root


def round_zero(run: Run, model) -> None:
    """The dense round: the set's cached dense run when it is this run's network, else the
    dense reference of this architecture (``prac.search.reference``), cached or trained once."""
    if same_architecture(run.setup, run.entry.meta):
        start_from(run, run.entry)
    else:
        start_from(run, dense_reference(run.setup, run.rdir.parent.parent, run.progress))  # <root>/runs/<run>
    state = run.state
    state.done, state.masks, state.subset = 0, full_masks(model), run.initial
    tc = run.cfg.train
    state.finetune_lr = reach_lr(run.policy, tc.lr, tc.optimizer, run.plan.round_steps, state.init, state.model,
                                 state.masks)
    if state.finetune_lr != tc.lr:
        say(f"fine-tuning rounds at lr {state.finetune_lr:.3g}, {state.finetune_lr / tc.lr:.1f}x the dense run's: "
            f"with it a budget can move a weight {run.policy.reach:g}x the mean distance the dense run moved one")
    run.checkpoint()


def start_from(run: Run, dense: cache.Entry) -> None:
    """Round 0 is a cached dense run of this network, seed and training (a set's build, or a
    dense reference, whose cost the run is charged): its init, rewind and trained weights and
    its figures."""
    weights, d, state = dense.dense(), dense.meta["dense"], run.state
    state.init, state.rewind, state.model = (unpack(weights, g) for g in ("init", "rewind", "trained"))
    state.reused = dense is run.entry
    state.reference = None if state.reused else {k: d[k] for k in ("steps", "forwards", "seconds")} | {"key": dense.key}
    state.round0_seconds = 0.0 if state.reused else d["seconds"]
    state.rounds = [{"round": 0, "density": 1.0, "steps": d["steps"], "samples": d["samples"],
                     "forwards": d["forwards"], "val_acc": d["val_acc"], "test_acc": d["test_acc"],
                     **{k: d.get(k) for k in EARLY_STOP}, "curve": d.get("curve", []), "subset_size": run.plan.n}]


def search_rounds(run: Run, model) -> None:
    """Prune, rewind or keep, train on the subset, evaluate, reprobe: until ``prune.rounds``
    rounds are done or ``prune.target_density`` is reached."""
    state, p = run.state, run.cfg.prune
    rewind = {k: v.to(run.setup.device) for k, v in state.rewind.items()}
    model.load_state_dict(state.model)
    for r in range(state.done + 1, 0 if state.search_done else p.n_rounds + 1):
        t0 = time.perf_counter()
        masks = next_masks(run, model, rewind)
        last = r == p.n_rounds or (p.target_density is not None and density(masks) <= p.target_density)
        st, budgets, evaluation = play_round(run, model, masks, r, last)
        record_round(run, r, masks, st, budgets, evaluation, last)
        if run.probes and budgets and not last and (run.policy.trains_last or r + 1 < p.n_rounds):  # a set the next round uses
            reprobe(run, model, masks, r)
        state.done, state.masks, state.model, state.search_done = r, masks, state_of(model), last
        state.search_seconds += time.perf_counter() - t0
        run.checkpoint()
        if last:
            break
    state.search_done = True
    if distributed.is_main():
        save_tensors(run.rdir / HISTORY, state.history)


def play_round(run: Run, model, masks: Masks, r: int, last: bool):
    """Round ``r``'s training on the subset (``train_round``), or none: the last round of a
    policy whose last round does not train, or a one-shot round (``one_shot``), is only
    evaluated as pruned. The same (figures, budgets, evaluation) either way."""
    if last and not run.policy.trains_last:
        return evaluate_pruned(run, model, masks)
    pruned, checked = one_shot(run, model, masks)
    if pruned is not None:
        return pruned
    st, budgets, evaluation = train_round(run, model, masks, run.state.subset, r, last_trained_val(run.state.rounds))
    evaluation["evaluated"] += checked  # the one-shot check that sent it training
    return st, budgets, evaluation


def one_shot(run: Run, model, masks: Masks):
    """(round's figures if it stays one-shot, else None; the predictions its check cost).

    While the policy's ``oneshot_drop`` is set and no round has trained yet, the network is
    the dense one: the round evaluates it pruned, and stays untrained if that costs the
    dense network's validation accuracy at most ``oneshot_drop`` points. There the dense
    solution holds, and its one-shot masks make tickets as good as fine-tuned ones (better
    in the middle of Fashion-MNIST's path); from the first round that costs more, every
    round trains (docs/recipe.md). A round killed in its training (in flight) was sent there
    by this check: it trains on, and the check's validation pass stays in its account."""
    if run.policy.oneshot_drop is None or any(x["steps"] for x in run.state.rounds[1:]):
        return None, 0
    if run.state.inflight is not None:
        return None, len(run.t["y_val"])
    st, budgets, evaluation = evaluate_pruned(run, model, masks)
    if evaluation["val_acc"] >= run.state.rounds[0]["val_acc"] - run.policy.oneshot_drop / 100:
        return (st, budgets, evaluation), 0
    return None, evaluation["evaluated"]


def last_trained_val(rounds: list[dict]) -> float:
    """The validation accuracy a round's training is held to: that of the latest round that
    trained (round 0, the dense network, at least), not of a one-shot round's pruned network."""
    return next(x["val_acc"] for x in reversed(rounds) if x["round"] == 0 or x["steps"] > 0)


def next_masks(run: Run, model, rewind: dict) -> Masks:
    """The round's masks: its own, saved with a training it was killed in; else one more
    prune of the network (computed on rank 0 and broadcast), rewinding it if the policy says so."""
    inflight = run.state.inflight
    if inflight is not None and inflight.round_masks is not None:
        return inflight.round_masks
    p = run.cfg.prune
    masks = distributed.masks_on_main(model, run.state.masks, p.round_rate, p.out_rate, p.scope, p.conv_rate,
                                      run.policy.criterion, rewind)
    if run.policy.rewinds:
        model.load_state_dict(rewind)
    return masks


def record_round(run: Run, r: int, masks: Masks, st, budgets: int, evaluation: dict, last: bool) -> None:
    """Add round ``r`` to the run's rounds and mask history, and say how it went."""
    state = run.state
    evaluated = evaluation.pop("evaluated")
    state.rounds.append({"round": r, "density": density(masks), **evaluation, "steps": st.steps, "samples": st.samples,
                         "subset_size": len(state.subset), "chunks": budgets, "forwards": forwards(st.samples, evaluated),
                         "budget": run.plan.round_steps, "rewound": run.policy.rewinds})
    state.history.update({f"round{r}.{k}": m for k, m in masks.items()})
    x = state.rounds[-1]
    accuracy = f"val {100 * x['val_acc']:.2f} %" + ("" if x["test_acc"] is None else f", test {100 * x['test_acc']:.2f} %")
    if budgets == 0:
        why = "its mask is the ticket, retrained below" if last else "one-shot from the dense network"
        say(f"round {r}: {100 * x['density']:.2f} % of weights, pruned and not trained ({why}): {accuracy} as pruned")
    else:
        say(f"round {r}: {100 * x['density']:.2f} % of weights, {accuracy}, {st.steps:,} steps on "
            f"{len(state.subset):,} samples" + (f" ({budgets} budgets)" if budgets > 1 else ""))


def reprobe(run: Run, model, masks: Masks, r: int) -> None:
    """Refresh the PrAC set with the current ticket's prune flips (``prac.select.selectors.refresh``),
    probed on a fresh random share of the split (the policy's ``probe_fraction``).

    A probed sample the refresh keeps anyway (``settled``: hard to memorize, already in a
    union's pool, or barred) is predicted only when the merged samples outnumber the budget,
    where its flip ranks it; otherwise its flip changes nothing, so the subset is the one
    probing it would give, for two predictions fewer (a fifth of Fashion-MNIST's probe, over
    half of MNIST-1D's)."""
    thr, union, barred = run.entry.meta["threshold"], run.policy.reprobe == "union", run.selector.barred(run.stats)
    probed = probed_samples(run.plan.n, run.policy.probe_fraction, run.cfg.seed, r)
    known = settled(run.state.subset, run.stats, thr, union, barred)[probed]
    flipped = flips_among(run, model, masks, probed[~known])
    predicted = int((~known).sum())

    def pool(flips: torch.Tensor, size: int | None) -> torch.Tensor:
        return refresh(run.state.subset, flips, run.stats, thr, run.setup.data.y_train, size, run.cfg.seed + r,
                       union=union, barred=barred)

    if run.plan.size is not None and len(pool(flipped, None)) >= run.plan.size:  # the flips rank the pool
        flipped = torch.cat([flipped, flips_among(run, model, masks, probed[known])])
        predicted = len(probed)
    run.state.subset = pool(flipped, run.plan.size)
    run.state.rounds[-1]["forwards"] += 2 * predicted  # the probe predicts each of its samples twice


def flips_among(run: Run, model, masks: Masks, idx: torch.Tensor) -> torch.Tensor:
    """The samples of ``idx`` (training-split indices) whose prediction one more prune of
    ``model`` changes (``prac.select.probe.prune_flips``)."""
    if len(idx) == 0:
        return idx
    p, t = run.cfg.prune, run.t
    x, y = (t["x_train"], t["y_train"]) if len(idx) == run.plan.n else (t["x_train"][idx], t["y_train"][idx])
    return idx[prune_flips(model, masks, x, p.round_rate, p.out_rate, p.scope, y=y,
                           learned_mse=run.setup.learned_mse, conv_rate=p.conv_rate, precision=run.cfg.train.precision)]


def probed_samples(n: int, fraction: float, seed: int, r: int) -> torch.Tensor:
    """The training samples round ``r``'s flip probe predicts: all, or a fresh random share
    (the same draw on every rank)."""
    if fraction >= 1:
        return torch.arange(n)
    g = torch.Generator().manual_seed(round_seed(seed, 40_000 + r))
    return torch.randperm(n, generator=g)[:max(1, round(fraction * n))].sort().values


def save_ticket(run: Run, r: int) -> None:
    """The chosen ticket (round ``r``'s mask + the rewind weights) and its retrained weights."""
    state = run.state
    save_tensors(run.rdir / TICKET, pack(mask=round_masks(state.history, r), rewind=state.rewind))
    save_tensors(run.rdir / TRAINED, state.retrained[str(r)]["weights"])
