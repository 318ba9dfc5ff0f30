"""Ticket validation: retrain candidate tickets on the full training split and choose one.

A ticket (a round's mask × the rewind weights) is retrained by one function with one seed
rule (``retrain_seed``), so the same ticket reaches the same accuracy wherever it is
retrained: in ``find-ticket``'s validation and in ``prac bench``.

``prune.validate`` chooses which rounds are retrained:
- ``last``: the final round's ticket only (one retrain);
- ``bisect``: bisection over the rounds for the sparsest one whose retrained ticket's
  *validation* accuracy is within ``prune.tolerance`` percentage points (or one standard
  error of the validation estimate, if larger: ``margin``) of the dense network's (about
  log2(rounds) + 1 retrains). It assumes that retrained accuracy falls
  with sparsity, which IMP's tickets do past their best round; where it does not, the
  returned round is still a validated winner, only not necessarily the sparsest one.

``validate_run`` is a search's stage 3: it retrains what ``choose`` asks for, once each.
"""

from __future__ import annotations

from typing import Callable

import torch

from prac.config.schema import Config
from prac.train.curve import Curve
from prac.train.loop import forwards, steps_for, train
from prac.train.task import learned_threshold
from prac.progress import say
from prac.prune import Masks, density, round_masks
from prac.search.run import Run, round_seed
from prac.search.state import Inflight
from prac.setup import state_of


def retrain_seed(seed: int, r: int) -> int:
    """The data-order seed of the full-data retrain of round ``r``'s ticket."""
    return round_seed(seed, 20_000 + r)


def retrain(cfg: Config, t: dict, start: dict, masks: Masks, model, seed: int, progress=None, label="retrain",
            checkpoint=None, resume=None) -> dict:
    """Train ``start`` × ``masks`` on the full training split for ``train.epochs``; the
    ticket's final validation and test accuracy, its early-stop step and the test accuracy
    there (``prac.train.curve``), its validation curve, and the cost. ``model`` is left trained."""
    model.load_state_dict(start)
    n = len(t["y_train"])
    total = steps_for(cfg.train.epochs, n, cfg.train.batch_size)
    learned = learned_threshold(t["y_train"], cfg.select.learned_mse)  # regression: = Setup.learned_mse
    curve = Curve(t, total, cfg.train.eval_every, cfg.train.eval_test, cfg.train.precision, learned)
    st = train(model, t["x_train"], t["y_train"], torch.arange(n), cfg.train, epochs=cfg.train.epochs, seed=seed,
               masks=masks, listeners=[curve], progress=progress, label=label, checkpoint=checkpoint, resume=resume,
               learned_mse=learned)
    return {**curve.finish(model, st.steps), "evaluated": curve.evaluated(), "steps": st.steps,
            "samples": st.samples, "seconds": st.seconds}


def bisect_rounds(last: int, wins: Callable[[int], bool]) -> tuple[int | None, list[int]]:
    """The sparsest round in 1..``last`` for which ``wins(round)`` holds, by bisection, and
    the rounds asked in order. The last round is asked first (one retrain when the whole
    search won); round 0, the dense network, wins by definition. None: no round asked won."""
    asked = [last]
    if wins(last):
        return last, asked
    lo, hi = 0, last  # lo: the sparsest round known to win, hi: the least sparse known to lose
    while hi - lo > 1:
        mid = (lo + hi) // 2
        asked.append(mid)
        if wins(mid):
            lo = mid
        else:
            hi = mid
    return (lo or None), asked


def margin(dense_val: float, tolerance_pp: float, n_val: int | None = None) -> float:
    """How far below the dense network's validation accuracy a winning ticket may fall: the
    larger of ``tolerance_pp`` and one standard error of that accuracy on ``n_val``
    samples (on digits' 144 validation images one image is 0.7 pp, and a retrain with
    another data order moves a ticket by one or two of them)."""
    se = (dense_val * (1 - dense_val) / n_val) ** 0.5 if n_val else 0.0
    return max(tolerance_pp / 100, se)


def choose(mode: str, last: int, dense_val: float, tolerance_pp: float,
           retrained: Callable[[int], dict], n_val: int | None = None) -> tuple[int, bool, list[int]]:
    """(the chosen round, whether its ticket wins, the rounds retrained) under ``mode``.

    ``retrained(r)`` retrains round ``r``'s ticket (or returns the cached result) and gives
    at least its ``val_acc``. A ticket wins when its validation accuracy is at most
    ``margin(...)`` below the dense network's. When no retrained round wins, the one with
    the best validation accuracy is chosen and reported as not winning."""
    below = margin(dense_val, tolerance_pp, n_val)

    def wins(r: int) -> bool:
        return retrained(r)["val_acc"] >= dense_val - below

    if mode == "last":
        return last, wins(last), [last]
    best, asked = bisect_rounds(last, wins)
    if best is None:
        best = max(asked, key=lambda r: (retrained(r)["val_acc"], r))
        return best, False, asked
    return best, True, asked


def validate_run(run: Run, model) -> dict:
    """Stage 3 of a search (``prac.search.loop.run_search``): retrain the candidates
    ``prune.validate`` asks for on the full training split, each once (a killed run keeps
    what it retrained), and choose. Returns the choice; the retrained weights stay in
    ``run.state.retrained``."""
    cfg, state = run.cfg, run.state
    dev = run.setup.device
    rewind = {k: v.to(dev) for k, v in state.rewind.items()}
    done = state.retrained

    def retrained(r: int) -> dict:
        if str(r) not in done:
            masks = {k: m.to(dev) for k, m in round_masks(state.history, r).items()}
            resume = run.take_resume("retrain", r)
            res = retrain(cfg, run.t, rewind, masks, model, retrain_seed(cfg.seed, r), run.progress,
                          f"retrain round {r}", checkpoint=lambda s: run.checkpoint(Inflight(s, retraining=r)),
                          resume=None if resume is None else resume.train)
            evaluated = res.pop("evaluated")
            done[str(r)] = {"round": r, "density": density(masks), **res,
                            "forwards": forwards(res["samples"], evaluated), "weights": state_of(model)}
            run.checkpoint()
            say(f"retrained round {r}'s ticket ({100 * density(masks):.2f} % of weights): val "
                f"{100 * res['val_acc']:.2f} %, test {100 * res['test_acc']:.2f} %")
        return done[str(r)]

    dense_val = state.rounds[0]["val_acc"]
    if has_reference(run):
        best, winning, asked = choose(cfg.prune.validate, state.done, dense_val, cfg.prune.tolerance, retrained,
                                      n_val=len(run.t["y_val"]))
    else:  # no dense network to be measured against: the last round, with no verdict (None: unknown)
        best, winning, asked = state.done, None, [state.done]
        retrained(state.done)
    chosen = done[str(best)]
    candidates = [{k: v for k, v in done[str(r)].items() if k != "weights"} for r in asked]
    return {"round": best, "density": chosen["density"], "val_acc": chosen["val_acc"], "test_acc": chosen["test_acc"],
            "winning": winning, "retrains": len(asked), "candidates": candidates}


def has_reference(run: Run) -> bool:
    """Whether round 0 is a dense network a ticket can be called winning against: a dense run
    of this architecture on the full split for ``train.epochs`` (the set's, or the dense
    reference), above chance; at chance, the verdict is unknown."""
    if not (run.state.reused or run.state.reference):
        return False
    classes = run.setup.data.num_classes
    return run.setup.regression or run.state.rounds[0]["val_acc"] > 1 / classes + margin(1 / classes, 0, len(run.t["y_val"]))
