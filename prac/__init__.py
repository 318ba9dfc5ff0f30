"""prac: data-efficient lottery tickets with the Pruning-Aware Critical set (PrAC set).

The Python API (``prac.api``) mirrors the command line::

    pset = prac.build_prac(model_fn, x_train, y_train, x_test, y_test)   # prac build-prac
    ticket = prac.find_ticket(model_fn, x_train, y_train, x_test, y_test, prac_set=pset)
    ticket.model()                                                       # the trained sparse network
    prac.load_ticket("artifacts/runs/<run>")                             # or an exported file

The folders are the pipeline: ``data`` (in-memory tensors, fingerprints, label noise and
imbalance), ``models`` (registry), ``train`` (the one loop, evaluation, curves, checkpoints,
torchrun), ``select`` (stage 1: tracker, selectors, flip probe, build, cache, reuse),
``search`` (stage 2: policies, the typed state, rounds, validation, the account), ``report``
(report.md, the plot, listings), ``config`` (keys and their roles in a run's identity),
``export`` (compact tickets). The experiment harnesses live in the sibling package
``pipelines``; only the command line's ``bench`` entry (``prac.cli_bench``) imports it.

Names are imported on first use, so ``import prac`` (and ``prac --help``) stays fast and
does not load torch.
"""

from prac.errors import PracError

__version__ = "0.2.0"
__all__ = ["PracError", "PracSet", "Ticket", "build_prac", "find_ticket", "load_ticket"]

_API = ("PracSet", "Ticket", "build_prac", "find_ticket", "load_ticket")


def __getattr__(name: str):
    if name in _API:
        from prac import api

        return getattr(api, name)
    raise AttributeError(f"module 'prac' has no attribute {name!r}")
