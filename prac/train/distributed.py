"""Data parallelism under torchrun: one process per device, one process group, rank 0 writes.

    torchrun --nproc_per_node=K -m prac build-prac ...     (find-ticket and bench alike)

``init_from_env()`` joins the process group that torchrun's environment describes (gloo
on CPU, NCCL on GPU, each rank on ``cuda:LOCAL_RANK``); without that environment, or with
a world of one, nothing is initialised and every helper here is a no-op, so the
single-process code path is unchanged.

The division of work: every rank computes the same global batch order; rank ``r`` takes
the strided share ``idx[r::world]`` of each global batch (``shard``), so every rank gets a
near-equal part of every batch, the last short one included. Per-sample results (the
training prediction the forgetting tracker counts, the flip probe's predictions) are put
back into their global positions with one sum over ranks (``gather_strided``), so every
rank holds the statistics of every sample. Masks are computed on rank 0 and broadcast
(``masks_on_main``); files are written by rank 0 alone, after which the others wait at a
``barrier`` before they read them.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


def _env_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def init_from_env() -> bool:
    """Join torchrun's process group once (gloo on CPU, NCCL on GPU); True when distributed."""
    if dist.is_available() and not dist.is_initialized() and _env_world() > 1 and "RANK" in os.environ:
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank())
            dist.init_process_group("nccl")
        else:
            dist.init_process_group("gloo")
    return active()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def destroy(sync: bool = True) -> None:
    """Leave the process group. With ``sync`` (a run that ended normally on every rank) wait
    for every rank first: a rank that tore gloo down while another was still finishing its
    last collective made that one abort ("terminate called without an active exception")
    now and then. After an error ranks may not all get here, so no barrier then."""
    if dist.is_available() and dist.is_initialized():
        if sync and active():
            dist.barrier()
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if active():
        dist.barrier()


def main_says(flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank: a decision that decides which collectives follow (a
    cache hit, a finished run) must be the same everywhere, even if the file system changed
    between the ranks' looks."""
    if not active():
        return flag
    t = _comm(torch.tensor([int(flag)], dtype=torch.int32))
    dist.broadcast(t, src=0)
    return bool(t.item())


def _comm(t: torch.Tensor) -> torch.Tensor:
    """``t`` where the backend can move it: NCCL needs the rank's GPU, gloo takes any device."""
    if dist.get_backend() == "nccl" and t.device.type != "cuda":
        return t.to(torch.device("cuda", torch.cuda.current_device()))
    return t


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum of ``t`` over ranks, in place where possible; ``t`` itself in one process."""
    if not active():
        return t
    c = _comm(t)
    dist.all_reduce(c)
    if c is not t:
        t.copy_(c)
    return t


def broadcast(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rank 0's tensors on every rank (same names, shapes, dtypes and devices as given)."""
    if not active():
        return tensors
    out = {}
    for k, t in tensors.items():
        c = _comm(t.to(torch.uint8) if t.dtype == torch.bool else t.clone())
        dist.broadcast(c, src=0)
        out[k] = c.to(t.device, t.dtype)
    return out


def shard(global_idx: torch.Tensor) -> torch.Tensor:
    """This rank's strided share ``global_idx[rank::world]`` of a global batch (or of rows)."""
    return global_idx[rank()::world_size()] if active() else global_idx


def gather_strided(local: torch.Tensor, n: int) -> torch.Tensor:
    """The length-``n`` tensor whose rows ``r::world`` rank ``r`` computed as ``local``:
    zeros with this rank's rows filled, summed over ranks (exact: every element is one
    rank's value plus zeros). Stays on ``local``'s device without a host synchronisation."""
    if not active():
        return local
    dtype = local.dtype if local.is_floating_point() else torch.int64 if local.dtype == torch.int64 else torch.int32
    full = torch.zeros((n, *local.shape[1:]), dtype=dtype, device=local.device)
    full[rank()::world_size()] = local.to(full.dtype)
    return all_reduce_sum(full).to(local.dtype)


def wrap(model: nn.Module) -> nn.Module:
    """``model`` in DistributedDataParallel (its weights and buffers taken from rank 0), or
    ``model`` itself in one process. On GPU its BatchNorm layers become SyncBatchNorm, so
    they normalise over the global batch as one process would (in place: parameter and
    buffer names are unchanged); on CPU (gloo) SyncBatchNorm is unsupported and each rank
    normalises over its share, buffers following rank 0's."""
    if not active():
        return model
    dev = next(model.parameters()).device
    # buffers are broadcast from rank 0 before every forward: DDP's default in every torch
    # version (torch 2.13 deprecates naming it ``broadcast_buffers``)
    if dev.type == "cuda":
        nn.SyncBatchNorm.convert_sync_batchnorm(model)  # replaces the BatchNorm children in place
        return nn.parallel.DistributedDataParallel(model, device_ids=[dev])
    return nn.parallel.DistributedDataParallel(model)


def sync_buffers(model: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank: DDP broadcasts
    them before each forward, so after the last one each rank's are its own."""
    if not active():
        return
    for b in model.buffers():
        c = _comm(b)
        dist.broadcast(c, src=0)
        if c is not b:
            b.copy_(c)


def masks_on_main(model: nn.Module, masks, rate: float, out_rate: float, scope: str = "layerwise",
                  conv_rate: float | None = None, criterion: str = "magnitude", init=None):
    """``prune.magnitude_masks`` computed once, on rank 0, and broadcast: identical masks on
    every rank even if some tie were broken differently elsewhere."""
    from prac.prune import full_masks, magnitude_masks

    if not active():
        return magnitude_masks(model, masks, rate, out_rate, scope, conv_rate, criterion, init)
    new = magnitude_masks(model, masks, rate, out_rate, scope, conv_rate, criterion, init) if is_main() else full_masks(model)
    return broadcast(new)
