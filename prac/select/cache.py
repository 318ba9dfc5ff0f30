"""Content-addressed store of PrAC sets: ``<root>/prac/<key>/``.

An entry holds ``stats.safetensors`` (the PrAC index and per-sample statistics),
``dense.safetensors`` (the dense run's initial, rewind and trained weights, so a ticket
search on the same model starts from them instead of training again) and ``meta.json``
(what built it, with the sha256 of each tensor file); ``uses/`` records the ticket
searches that reused the set, over which its build cost is amortised. An entry is assembled in a
temporary folder of its own and renamed into place, so concurrent builders of one key leave exactly
one complete entry and a reader never sees a partial one.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from prac import paths
from prac.errors import PracError
from prac.store import SCHEMA_VERSION, load_tensors, read_json, save_tensors, write_json

STATS = "stats.safetensors"
DENSE = "dense.safetensors"
META = "meta.json"
USES = "uses"  # uses/<run>.json: the ticket searches that reused the set (outside the checksummed files)


@dataclass
class Entry:
    path: Path
    meta: dict

    @property
    def key(self) -> str:
        return self.path.name

    def check_current(self) -> "Entry":
        """This entry, if this prac's build made it; a set built by an older build (another
        ``prac.config.identity.BUILD_VERSION``) is refused by name, not misread."""
        from prac.config.identity import stale_set

        problem = stale_set(self.meta)
        if problem:
            raise PracError(problem)
        return self

    def stats(self) -> dict[str, torch.Tensor]:
        return load_tensors(self.path / STATS, self.meta["files"][STATS])

    def dense(self) -> dict[str, torch.Tensor]:
        return load_tensors(self.path / DENSE, self.meta["files"][DENSE])

    def record_use(self, run: str, record: dict) -> None:
        """Note that ticket search ``run`` used this set (one small file per run, written
        atomically, so concurrent searches never lose each other's record)."""
        write_json(self.path / USES / f"{run}.json", record)

    def uses(self) -> list[dict]:
        """Every recorded use, oldest first: what the set's one build is amortised over."""
        files = sorted((self.path / USES).glob("*.json")) if (self.path / USES).is_dir() else []
        return sorted((read_json(f) for f in files), key=lambda u: u.get("created", ""))


def publish(final: Path, files: dict[str, dict[str, torch.Tensor]], meta: dict) -> Entry:
    """Write an entry atomically; if another process published the key first, keep theirs."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp = _new_folder(final.parent, f".{final.name}.")
    except OSError as e:  # name the entry, not the hidden folder that was never made
        raise OSError(e.errno, e.strerror, str(final)) from None
    try:
        meta = {**meta, "schema_version": SCHEMA_VERSION,
                "files": {name: save_tensors(tmp / name, tensors) for name, tensors in files.items()}}
        write_json(tmp / META, meta)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / META).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # lost the race: the winner's entry is equivalent
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and e.filename and Path(e.filename).is_relative_to(tmp):
            # name the file of the entry being written, not the private folder that is gone now
            raise OSError(e.errno, e.strerror, str(final / Path(e.filename).relative_to(tmp))) from None
        raise
    return load(final)


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new folder with a unique name in ``parent``. Unlike ``tempfile.mkdtemp`` (always 0700,
    whatever the umask) it gets the permissions of any folder this user creates, 0777 less the
    umask, as the entry's files do (``prac.store``): a shared artifact root stays shared."""
    while True:
        tmp = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:  # another builder's name, one chance in 2**48
            continue


def load(path: Path) -> Entry:
    meta = read_json(path / META)
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise PracError(f"{path} was written by another prac version (schema {meta.get('schema_version')}); rebuild it")
    return Entry(path, meta)


def entries(out, base: Path | None = None) -> list[Entry]:
    """The entries under ``base`` (default: the PrAC sets, ``<out>/prac``), oldest first."""
    base = paths.prac_root(out) if base is None else base
    if not base.is_dir():
        return []
    found = []
    for d in sorted(base.iterdir()):
        if d.is_dir() and paths.KEY_RE.match(d.name) and (d / META).is_file():
            try:
                found.append(load(d))
            except PracError:
                continue
    return sorted(found, key=lambda e: e.meta.get("created", ""))


def resolve(out, key_or_path: str) -> Entry:
    """A full key, a unique key prefix, or the path of a ``prac/<key>`` folder."""
    as_path = Path(key_or_path)
    if (as_path / META).is_file() and paths.KEY_RE.match(as_path.resolve().name):
        return load(as_path)
    if paths.KEY_RE.match(key_or_path + "0" * 4) and len(key_or_path) < 4:
        raise PracError(f"key prefix '{key_or_path}' is too short; give at least 4 characters of the key "
                        "(see `prac cache ls`)")
    if not paths.KEY_RE.match(key_or_path):
        raise PracError(f"'{key_or_path}' is neither a PrAC key (hex) nor a prac/<key> folder; see `prac cache ls`")
    base = paths.prac_root(out)
    exact = paths.prac_dir(out, key_or_path)
    if (exact / META).is_file():
        return load(exact)
    matches = [e for e in entries(out) if e.key.startswith(key_or_path)]
    if not matches:
        raise PracError(f"no PrAC set with key '{key_or_path}' under {base}; run `prac build-prac` or see `prac cache ls`")
    if len(matches) > 1:
        raise PracError(f"key prefix '{key_or_path}' matches {len(matches)} PrAC sets; give more characters")
    return matches[0]


def remove(out, key_or_path: str) -> Path:
    entry = resolve(out, key_or_path)
    shutil.rmtree(entry.path)
    return entry.path
