"""Stage 1 and what it is made of: the forgetting tracker (``track``), the selection rules
(``rules``) and selectors (``selectors``), the prune-flip probe (``probe``), the build of a
set (``build``), its cache (``cache``) and whether a cached set can serve a search (``reuse``)."""

from prac.select.probe import predict, prune_flips
from prac.select.rules import budget_subset, hardness, prac_indices, random_indices

__all__ = ["budget_subset", "hardness", "prac_indices", "predict", "prune_flips", "random_indices"]
