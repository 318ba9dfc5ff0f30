"""A run's identity, derived from one declaration: the role of every config key
(``prac.config.schema.key``), and of each API argument through the model's and the data's ids.

    data     the dataset settings: they enter through the data's fingerprint (its content)
    dense    what the dense run computes: model, training, seed, rewind step
    set      what a PrAC set adds to its dense run: the probe's pruning and the threshold
    search   what only the ticket search reads

From that alone: the **set key** hashes the build's version, the data fingerprint, the model
id and the dense and set keys; a **run name** hashes the search's version, the set key, the
run's own model id, its dense and search keys and its search policy's settings (another
architecture trains its own round 0 with them); the **reuse check** refuses a set whose set
keys differ from the run's, and, for the set's own architecture, whose dense keys differ
(its dense run is the run's round 0).

A key at its default is left out of a hash (OpenLTH's rule), so a key added later with a
default keeps old names. Each stage's version changes when what it computes changes;
``tests/config/test_identity.py`` holds a golden digest of a tiny run per version.
"""

from __future__ import annotations

import dataclasses

from prac.config.schema import Config, digest

ROLES = ("data", "dense", "set", "search")
BUILD_VERSION = 5   # 5: convnets evaluated channels-last on CPU; 4: the probe in bf16 where native; 3: EL2N; 2: roles
SEARCH_VERSION = 18  # 18: budgets of 2 % of a round; 17: convnets evaluated channels-last on CPU; 16: the probe in
#                      bf16 where native; 15: prac leaves out never-learned; 14: magnitude


def role(f: dataclasses.Field) -> str:
    """A config field's declared role; a field of the ``dataset`` group enters through the data."""
    return f.metadata.get("role", "data")


def keys(cfg, roles: tuple[str, ...], prefix: str = "") -> dict:
    """``{dotted key: value}`` of ``cfg``'s keys whose role is in ``roles`` and whose value is
    not its default; the probe's rates as the probe runs them (``resolved``)."""
    if prefix == "":
        cfg = resolved(cfg)
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update(keys(value, roles, f"{prefix}{f.name}."))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if role(f) in roles and value != default:
            out[f"{prefix}{f.name}"] = list(value) if isinstance(value, tuple) else value
    return out


def resolved(cfg: Config) -> Config:
    """``cfg`` with the probe's rates written out: the rate a run prunes by depends on
    ``prune.target_density`` and ``rounds`` when ``prune.rate`` is unset."""
    p = cfg.prune
    return dataclasses.replace(cfg, prune=dataclasses.replace(p, rate=p.round_rate, output_rate=p.out_rate))


def stale_set(meta: dict) -> str | None:
    """Why a cached set's ``meta.json`` cannot serve this prac, or None: a set built by another
    build version has other keys, settings and selection, so its config is not read at all."""
    if meta.get("build_version") == BUILD_VERSION:
        return None
    key = str(meta.get("key", "?"))[:12]
    return (f"PrAC set {key} was built by an older prac, whose settings and selection differ from this one's; "
            f"remove it (`prac cache rm {key}`) and build it again")


def set_key(cfg: Config, fingerprint: str, model_id: str) -> str:
    """The cache key of the PrAC set ``cfg`` builds on data ``fingerprint`` with model ``model_id``."""
    return digest("prac-set", BUILD_VERSION, fingerprint, model_id, keys(cfg, ("dense", "set")))


def dense_key(cfg: Config, fingerprint: str, model_id: str) -> str:
    """The key of the dense run ``cfg`` trains with model ``model_id`` on data ``fingerprint``:
    a set's build and a dense reference (``prac.search.reference``) with one key are one
    computation."""
    return digest("dense", BUILD_VERSION, fingerprint, model_id, keys(cfg, ("dense",)))


def run_key(cfg: Config, prac_key: str, model_id: str, recipe: dict) -> str:
    """The hash in a ticket search's run name: its set, its model and what it computes, the
    settings of its search policy (``recipe``, ``prac.search.policies``) among them: a policy's
    settings are code, not config keys, and an ablation that edits one must not be served the
    shipped policy's cached runs."""
    return digest("ticket", SEARCH_VERSION, prac_key, model_id, keys(cfg, ("dense", "search")), recipe)


def reuse_problem(built: Config, mine: Config, same_architecture: bool, key: str) -> str | None:
    """Why a run configured as ``mine`` cannot use the set built as ``built``, or None."""
    theirs, wanted = keys(built, ("set",)), keys(mine, ("set",))
    raw = {k for k in theirs | wanted if _shown(built, k, resolve=False) != _shown(mine, k, resolve=False)}
    for k in sorted(set(theirs) | set(wanted), key=lambda k: (k not in raw, k)):  # a key the user changed first
        if theirs.get(k) != wanted.get(k):
            return (f"PrAC set {key[:12]} was selected with {k}={_shown(built, k)} and this run asks "
                    f"{k}={_shown(mine, k)}, which the cached set cannot honour; keep {k}={_shown(built, k)}, or "
                    "drop --prac (prac_set=) to build a set with the new value")
    if not same_architecture:
        return None  # another architecture trains its own round 0
    theirs, wanted = keys(built, ("dense",)), keys(mine, ("dense",))
    changed = sorted(k for k in set(theirs) | set(wanted) if theirs.get(k) != wanted.get(k))
    if changed:
        return (f"PrAC set {key[:12]} holds the dense run of seed={built.seed} with its own training recipe, and "
                f"this run changes {', '.join(changed)}; the set's dense run is round 0 of every search with this "
                "architecture, so to sweep seeds or recipes build one set per setting (drop --prac, or prac_set=) "
                "or run `prac bench --seeds K`")
    return None


def _shown(cfg: Config, dotted: str, resolve: bool = True):
    value = resolved(cfg) if resolve else cfg
    for part in dotted.split("."):
        value = getattr(value, part)
    return value
