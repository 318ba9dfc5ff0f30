"""prac: data-efficient lottery tickets with the Pruning-Aware Critical set (PrAC set).

The library is split by concern: ``data`` (in-memory tensors + fingerprints), ``models``
(registry), ``engine`` (one training loop), ``track`` (forgetting tracker), ``select``
(subset selectors and the prune-flip probe), ``prune`` (masks and rewinding), ``cache``
(content-addressed artifact store), ``report``. The stages that compose them live in the
sibling package ``pipelines``; only ``prac.cli`` imports it.
"""

__version__ = "0.1.0"
