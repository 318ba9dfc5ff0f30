"""Every output path comes from here; names given on the command line are checked first.

Layout under the artifact root (``--out``, default ``artifacts``):
``prac/<key>/`` cached PrAC sets, ``dense/<key>/`` dense references of architectures a set
was reused for (``prac.search.reference``), ``runs/<run>/`` tickets, metrics and reports.
A key or run name must match its expected form before it becomes a path: no ``..``, no
absolute path, and the resolved folder must stay inside the root (no symlink escapes).
"""

from __future__ import annotations

import re
from pathlib import Path

from prac.errors import PracError

KEY_RE = re.compile(r"^[0-9a-f]{4,64}$")
RUN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
DEFAULT_ROOT = Path("artifacts")


def root(out: str | Path | None) -> Path:
    return Path(out) if out else DEFAULT_ROOT


def prac_root(out) -> Path:
    return root(out) / "prac"


def dense_root(out) -> Path:
    return root(out) / "dense"


def runs_root(out) -> Path:
    return root(out) / "runs"


def inside(base: Path, name: str, pattern: re.Pattern, what: str) -> Path:
    """``base/name`` after checking ``name`` against ``pattern`` and that it stays in ``base``."""
    if not pattern.match(name) or ".." in name:
        raise PracError(f"{what} '{name}' is not valid; expected {pattern.pattern[1:-1]} (no paths, no '..')")
    path = base / name
    if path.exists() and not path.resolve().is_relative_to(base.resolve()):
        raise PracError(f"{what} '{name}' points outside {base} (a symlink?); remove it or use another root")
    return path


def prac_dir(out, key: str) -> Path:
    return inside(prac_root(out), key, KEY_RE, "PrAC key")


def dense_dir(out, key: str) -> Path:
    return inside(dense_root(out), key, KEY_RE, "dense reference key")


def run_dir(out, name: str) -> Path:
    return inside(runs_root(out), name, RUN_RE, "run name")
