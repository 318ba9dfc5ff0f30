"""Compact ticket files: the surviving weights of a sparse network and its masks, in one
safetensors file, and a CSR-backed copy of a network for sparse inference on the CPU.

A ticket is dense-shaped tensors that are mostly zero. The file keeps, per masked weight,
only its surviving values (1-D, in the weight's dtype, in row-major order) and the mask,
encoded whichever way is smaller for that layer: bit-packed (numel/8 bytes) or as the flat
indices of the kept entries in the smallest integer dtype that holds numel-1 (kept x 1-8
bytes; smaller below 1/8 to 1/64 density). Unmasked tensors (biases, batch norm, buffers)
are stored as they are. Rewind weights share the masks and are stored with the same values
layout, which gives them mask x rewind semantics: the ticket is the mask times the rewind
weights, so their values at pruned positions (in general not zero) are dropped and read
back as zero.

The safetensors metadata holds the caller's header (JSON, opaque here), the format name
and version, per masked layer its shape and mask encoding, and a sha256 of every tensor's
bytes, so a truncated or altered file is refused rather than read as a wrong network.
Pruned positions read back as +0.0: a -0.0 that ``p.mul_(mask)`` left on a negative weight
compares equal but is not kept bit for bit. Nothing is pickled.
"""

from __future__ import annotations

import copy
import hashlib
import json
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import Tensor, nn

from prac.errors import PracError
from prac.store import atomic_write

FORMAT = "prac-ticket-export"
VERSION = 1
INDEX_DTYPES = (torch.uint8, torch.int16, torch.int32, torch.int64)  # the smallest that holds numel-1 is used


@dataclass
class Exported:
    header: dict                     # the caller's header, as written
    trained: dict[str, Tensor]       # dense-shaped, pruned weights exactly zero
    masks: dict[str, Tensor]         # bool, the shape of their weight
    rewind: dict[str, Tensor] | None  # mask x rewind weights, dense-shaped; None if not exported


def index_dtype(numel: int) -> torch.dtype:
    """The smallest integer dtype safetensors stores that holds every flat index of ``numel``."""
    return next(d for d in INDEX_DTYPES if numel - 1 <= torch.iinfo(d).max)


def encode_mask(mask: Tensor) -> tuple[str, Tensor]:
    """``("bits", packed uint8)`` or ``("index", kept flat indices)``, whichever has fewer bytes."""
    flat = mask.detach().reshape(-1).cpu()
    kept = int(flat.sum())
    dtype = index_dtype(flat.numel())
    if kept * dtype.itemsize < (flat.numel() + 7) // 8:
        return "index", flat.nonzero().reshape(-1).to(dtype)
    return "bits", torch.from_numpy(np.packbits(flat.numpy()))


def decode_mask(encoding: str, data: Tensor, shape: list[int]) -> Tensor:
    """The bool mask of ``shape`` that ``encode_mask`` turned into ``(encoding, data)``."""
    numel = int(np.prod(shape, dtype=np.int64))
    if encoding == "bits":
        if data.dtype != torch.uint8 or data.numel() != (numel + 7) // 8:
            raise ValueError("bit mask of the wrong length")
        return torch.from_numpy(np.unpackbits(data.numpy(), count=numel).astype(bool)).reshape(shape)
    if encoding != "index" or data.dim() != 1:
        raise ValueError(f"unknown mask encoding {encoding!r}")
    idx = data.to(torch.int64)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= numel):
        raise ValueError("mask index out of range")
    flat = torch.zeros(numel, dtype=torch.bool)
    flat[idx] = True
    return flat.reshape(shape)


def _checksum(tensors: dict[str, Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k]
        h.update(f"|{k}:{t.dtype}:{list(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # a byte view works for every dtype
    return h.hexdigest()


def _sparse_part(prefix: str, state: dict[str, Tensor], masks: dict[str, Tensor], cpu: dict[str, Tensor],
                 strict: bool) -> dict[str, Tensor]:
    """``state`` as file tensors: masked weights as their kept values, the rest as they are.
    ``strict``: refuse a masked weight that is not zero where its mask is 0 (trained weights)."""
    out = {}
    for name, t in state.items():
        t = t.detach().cpu().contiguous()
        if name not in masks:
            out[f"{prefix}/{name}"] = t.clone()  # clone: safetensors refuses tensors that share memory
            continue
        m = cpu[name]
        if m.shape != t.shape:
            raise PracError(f"mask of {name} has shape {list(m.shape)} but the weight {list(t.shape)}; "
                            "export the masks of this network")
        if strict and bool((t[~m] != 0).any()):
            raise PracError(f"weight {name} is not zero where its mask is 0; apply the masks "
                            "(prac.prune.apply_masks) before exporting")
        out[f"{prefix}/{name}#values"] = t[m]
    return out


def write_export(path: str | Path, *, trained: dict[str, Tensor], masks: dict[str, Tensor], header: dict,
                 rewind: dict[str, Tensor] | None = None) -> dict:
    """Write a compact ticket file at ``path`` (atomically). ``trained``: the trained sparse
    network's state dict (pruned weights exactly zero); ``masks``: bool masks of the prunable
    weights; ``header``: any JSON-able dict (architecture, layer names); ``rewind``: the
    ticket's rewind weights, stored as mask x rewind. Returns ``bytes`` (the file's size),
    ``dense_bytes`` (a plain safetensors file of ``trained``) and ``layers`` (each masked
    weight's encoding)."""
    missing = sorted(set(masks) - set(trained))
    if missing:
        raise PracError(f"masks name weights the state dict lacks ({', '.join(missing[:3])}); "
                        "export the masks and weights of the same network")
    cpu = {k: m.detach().cpu().to(torch.bool) for k, m in masks.items()}
    tensors = _sparse_part("trained", trained, masks, cpu, strict=True)
    if rewind is not None:
        tensors.update(_sparse_part("rewind", rewind, masks, cpu, strict=False))
    layers = {}
    for name, m in cpu.items():
        encoding, data = encode_mask(m)
        tensors[f"mask/{name}"] = data
        layers[name] = {"shape": list(m.shape), "mask": encoding, "kept": int(m.sum())}
    try:
        head = json.dumps(header)
    except (TypeError, ValueError) as e:
        raise PracError(f"export header is not JSON ({e}); pass plain dicts, lists, strings and numbers") from None
    meta = {"format": FORMAT, "version": str(VERSION), "header": head, "layers": json.dumps(layers),
            "rewind": str(rewind is not None).lower(), "sha256": _checksum(tensors)}
    data = save(tensors, metadata=meta)
    atomic_write(Path(path), data)
    dense = save({k: v.detach().cpu().contiguous().clone() for k, v in trained.items()})
    return {"bytes": len(data), "dense_bytes": len(dense), "layers": {k: v["mask"] for k, v in layers.items()}}


def _refuse(path: Path, why: str) -> PracError:
    return PracError(f"{path} {why}; export the ticket again (prac export RUN --out FILE)")


def read_export(path: str | Path) -> Exported:
    """The ticket in a file ``write_export`` wrote: dense-shaped tensors equal to the ones
    written (rewind: mask x rewind) and bool masks. Refuses, with ``PracError``, a file that
    is not a prac export, has an unknown format version, or is truncated or altered."""
    path = Path(path)
    if not path.is_file():
        raise PracError(f"{path} does not exist; give the path of a file `prac export` wrote")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise _refuse(path, "is not a prac ticket export")
            if meta.get("version") != str(VERSION):
                raise PracError(f"{path} has export format version {meta.get('version')!r}, this prac reads "
                                f"version {VERSION}; read it with the prac that wrote it or export it again")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        if _checksum(tensors) != meta.get("sha256"):
            raise _refuse(path, "is corrupt (checksum mismatch)")
        header, layers = json.loads(meta["header"]), json.loads(meta["layers"])
        masks = {name: decode_mask(info["mask"], tensors[f"mask/{name}"], info["shape"])
                 for name, info in layers.items()}
        trained = _dense_part("trained", tensors, masks)
        rewind = _dense_part("rewind", tensors, masks) if meta.get("rewind") == "true" else None
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as e:
        # safetensors reports a truncated file or a header it cannot parse as SafetensorError
        raise _refuse(path, f"is truncated or not a readable ticket export ({type(e).__name__})") from None
    return Exported(header=header, trained=trained, masks=masks, rewind=rewind)


def _dense_part(prefix: str, tensors: dict[str, Tensor], masks: dict[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for key, t in tensors.items():
        part, _, name = key.partition("/")
        if part != prefix:
            continue
        if name.endswith("#values"):
            name = name.removesuffix("#values")
            m = masks[name]
            if t.numel() != int(m.sum()):
                raise ValueError(f"{key} does not match its mask")
            dense = torch.zeros(m.shape, dtype=t.dtype)
            dense[m] = t
            t = dense
        out[name] = t
    return out


class CSRLinear(nn.Module):
    """``nn.Linear`` whose weight is a CSR matrix: ``y = x W^T + b`` as ``(W x^T)^T``. The
    product is computed feature-major, so the output is a transposed view whose transpose a
    following CSRLinear takes for free; only the first layer copies its input."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        with warnings.catch_warnings():  # "sparse CSR support is in beta": said once per process, to no use here
            warnings.simplefilter("ignore", UserWarning)
            self.register_buffer("weight", linear.weight.detach().to_sparse_csr())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().reshape(-1, 1).clone())

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        xt = x.reshape(-1, self.in_features).T.contiguous()  # in x rows: a no-op after another CSRLinear
        out = torch.sparse.mm(self.weight, xt) if self.bias is None else torch.addmm(self.bias, self.weight, xt)
        return out.T.reshape(*lead, self.out_features)


def _timed(model: nn.Module, x: Tensor) -> float:
    start = time.perf_counter()
    model(x)
    return time.perf_counter() - start


def _dense_faster(model: nn.Module, name: str, dense: nn.Module, csr: nn.Module, x: Tensor, reps: int) -> bool:
    """Whether ``model`` runs ``x`` faster with ``dense`` than with ``csr`` as its module
    ``name`` (medians of ``reps`` runs of each, interleaved, so machine noise hits both
    alike). Leaves ``csr`` in place."""
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(reps + 1):  # the first round warms up and is dropped
        for use_dense in (True, False):
            model.set_submodule(name, dense if use_dense else csr)
            times[use_dense].append(_timed(model, x))
    model.set_submodule(name, csr)
    return statistics.median(times[True][1:]) < statistics.median(times[False][1:])


@torch.no_grad()  # not inference_mode: its tensors could not be used outside it
def sparse_linear_model(model: nn.Module, example: Tensor | None = None, reps: int = 50) -> nn.Module:
    """A copy of ``model`` for inference (eval mode) whose ``nn.Linear`` layers multiply by
    a CSR copy of their weight (``CSRLinear``): the same outputs to float tolerance.

    With ``example`` (a batch of inputs), CSR is kept only where it makes the whole forward
    faster on that batch: starting from every layer in CSR, each layer in registration
    order goes back to dense if the model then runs faster. The whole model is timed, not
    the layer, since a CSR layer's transposed output makes the next CSR layer cheaper and a
    dense one dearer (at batch 256 on LeNet-300-100, CSR throughout can win where every
    single layer alone loses). Without ``example`` every Linear is swapped; a bare
    ``nn.Linear`` is returned as a ``CSRLinear``. The copy has no gradients, cannot be
    trained, and cannot be deep-copied (CSR tensors have no storage to copy)."""
    if isinstance(model, nn.Linear):
        return CSRLinear(model)
    sparse = copy.deepcopy(model).eval().requires_grad_(False)
    dense = {n: m for n, m in sparse.named_modules() if isinstance(m, nn.Linear)}
    for name, m in dense.items():
        sparse.set_submodule(name, CSRLinear(m))
    if example is not None:
        for name, m in dense.items():
            if _dense_faster(sparse, name, m, sparse.get_submodule(name), example, reps):
                sparse.set_submodule(name, m)
    return sparse
