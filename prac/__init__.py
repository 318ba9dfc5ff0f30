"""prac: data-efficient lottery tickets with the Pruning-Aware Critical set (PrAC set).

The Python API (``prac.api``) mirrors the command line::

    pset = prac.build_prac(model_fn, x_train, y_train, x_test, y_test)   # prac build-prac
    ticket = prac.find_ticket(model_fn, x_train, y_train, x_test, y_test, prac_set=pset)
    ticket.model()                                                       # the trained sparse network
    prac.load_ticket("artifacts/runs/<run>")                             # or an exported file

The library is split by concern: ``data`` (in-memory tensors + fingerprints), ``models``
(registry), ``engine`` (one training loop), ``track`` (forgetting tracker), ``select``
(subset selectors and the prune-flip probe), ``prune`` (masks), ``cache`` (content-addressed
artifact store), ``setup`` (data + model for a stage), the stages ``build`` and ``search``,
``validate`` (ticket retrains), ``report`` (the account) and ``export`` (compact tickets).
The experiment harnesses live in the sibling package ``pipelines``; only ``prac.cli``
imports it.

Names are imported on first use, so ``import prac`` (and ``prac --help``) stays fast and
does not load torch.
"""

from prac.errors import PracError

__version__ = "0.1.0"
__all__ = ["PracError", "PracSet", "Ticket", "build_prac", "find_ticket", "load_ticket"]

_API = ("PracSet", "Ticket", "build_prac", "find_ticket", "load_ticket")


def __getattr__(name: str):
    if name in _API:
        from prac import api

        return getattr(api, name)
    raise AttributeError(f"module 'prac' has no attribute {name!r}")
