"""Atomic, pickle-free artifact files: tensors in safetensors, metadata in JSON.

Every write goes to a temporary file in the same folder, is fsynced and renamed over the
target, so a reader sees the old file or the new one, never half of one. Checksums
(sha256) recorded in metadata let a reader refuse a corrupted file by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from prac.errors import PracError

SCHEMA_VERSION = 1
# mkstemp creates files readable by their owner only; an artifact gets the permissions of
# any file this user creates (0666 less the umask), so a shared artifact folder stays shared
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _naming(e, path) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _naming(e, path) from None
        raise


def _naming(e: OSError, path: Path) -> OSError:
    """The same error, naming the artifact: a failed write (disk full) carries no file name,
    and a failed mkstemp names the hidden temporary file instead of the one being written."""
    return OSError(e.errno, e.strerror or str(e), str(path))  # OSError(errno, ...) keeps the subclass


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> str:
    """Write tensors as safetensors atomically; returns the file's sha256."""
    # clone: safetensors refuses tensors that share memory (e.g. rewind weights that are the init)
    data = save({k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()})
    atomic_write(path, data)
    return sha256_bytes(data)


def load_tensors(path: Path, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Read a safetensors file, refusing it by name if its checksum does not match."""
    if not path.is_file():
        raise PracError(f"{path} is missing; the artifact is incomplete, remove it and rebuild")
    if sha256 is not None and sha256_file(path) != sha256:
        raise PracError(f"{path} is corrupt (checksum mismatch); remove the artifact and rebuild it")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise PracError(f"{path} is not a readable safetensors file ({e}); remove it and rebuild") from None


def write_json(path: Path, obj) -> None:
    atomic_write(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise PracError(f"{path} is missing; the artifact is incomplete, remove it and rebuild") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PracError(f"{path} is not valid JSON (corrupt?); remove the artifact and rebuild") from None


# A tensor file holds named groups of weights (a ticket's ``mask`` and ``rewind``, a dense run's
# ``init``, ``rewind`` and ``trained``, a search's ``round<r>`` masks) as ``<group>.<name>`` keys.
def pack(**groups: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``pack(mask=m, rewind=w)`` -> ``{"mask.<name>": ..., "rewind.<name>": ...}``."""
    return {f"{group}.{k}": v for group, tensors in groups.items() for k, v in tensors.items()}


def unpack(flat: dict[str, torch.Tensor], group: str) -> dict[str, torch.Tensor]:
    """The tensors of one group of a packed file, under their own names."""
    prefix = f"{group}."
    return {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}
