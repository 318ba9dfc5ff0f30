"""Crash-safe checkpoints: one safetensors file whose header carries the state as JSON.

A checkpoint is any nesting of dicts, lists, tuples, numbers, strings and tensors: model
and optimizer state, RNG states, tracker, masks, round, step, metrics. ``save`` splits it
into the tensors (the safetensors body) and a JSON skeleton that names them (the file's
metadata, beside the schema version and a sha256 of the tensor bytes), and writes the file
atomically (temporary file, fsync, rename). So the newest checkpoint on disk is always a
complete one, a damaged one is refused by name, and nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from prac.train import distributed
from prac.errors import PracError
from prac.store import SCHEMA_VERSION, atomic_write


def _flatten(obj, tensors: dict[str, torch.Tensor]):
    """JSON skeleton of ``obj``; tensors move to ``tensors`` under a fresh key."""
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().clone().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _flatten(v, tensors) for k, v in obj.items()}
        # optimizer state is keyed by parameter number: keep the keys' type
        return {"__items__": [[_flatten(k, tensors), _flatten(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_flatten(v, tensors) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint a {type(obj).__name__}")


def _unflatten(obj, tensors: dict[str, torch.Tensor]):
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__items__" in obj:
            return {_unflatten(k, tensors): _unflatten(v, tensors) for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
        return {k: _unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k]
        h.update(f"|{k}:{t.dtype}:{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# The checkpoints this process wrote or read back (a resumed command) and has not removed,
# oldest first, and the newest of them: what an interrupted command names (``prac.cli``).
_live: dict[Path, None] = {}
latest: Path | None = None


def _touch(path: Path) -> None:
    global latest
    _live.pop(path, None)
    _live[path] = None
    latest = path


def save_checkpoint(path: Path, state: dict) -> None:
    if not distributed.is_main():  # under torchrun every rank holds the same state; rank 0 writes it
        return
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, tensors)
    meta = {"prac_checkpoint": json.dumps(skeleton), "schema_version": str(SCHEMA_VERSION),
            "sha256": _digest(tensors)}
    atomic_write(Path(path), save(tensors, metadata=meta))
    _touch(Path(path))


def load_checkpoint(path: Path) -> dict | None:
    """The state saved at ``path``, or None when there is none; a damaged file is refused."""
    path = Path(path)
    if not path.is_file():
        return None
    fix = f"delete {path} to start this run over"
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError):
        raise PracError(f"checkpoint {path} is unreadable (corrupt?); {fix}") from None
    if meta.get("schema_version") != str(SCHEMA_VERSION) or "prac_checkpoint" not in meta:
        raise PracError(f"checkpoint {path} was written by another prac version; {fix}")
    if meta.get("sha256") != _digest(tensors):
        raise PracError(f"checkpoint {path} is corrupt (checksum mismatch); {fix}")
    _touch(path)  # a resumed command that is interrupted before its next save still has this one
    return _unflatten(json.loads(meta["prac_checkpoint"]), tensors)


def remove_checkpoint(path: Path) -> None:
    """Drop a finished run's checkpoint and any temporary file a kill left beside it."""
    global latest
    if not distributed.is_main():
        return
    path = Path(path)
    _live.pop(path, None)
    latest = next(reversed(_live), None)
    path.unlink(missing_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def resume_hint(command: str | None = None) -> str:
    """What survives an interrupted command and how to continue it, in one sentence: the newest
    checkpoint file this process saved or loaded that is still on disk. ``command`` is the
    interrupted sub-command (a run folder's checkpoint is continued by find-ticket --resume)."""
    newest = next((p for p in reversed(_live) if p.is_file()), None)
    if newest is None:
        return "nothing was checkpointed yet; the same command starts over"
    if newest.name == "checkpoint.safetensors" and command in (None, "find-ticket"):  # a ticket search's run folder
        return f"its checkpoint is {newest}; continue with `prac find-ticket --resume {newest.parent}`"
    return f"its checkpoint is {newest}; the same command continues from it"


def rng_state() -> dict:
    """The global RNG states (torch, numpy, python): a resumed run draws what it would have."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {"torch": torch.get_rng_state(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                       gauss], "python": [version, list(internal), gauss_next]}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
