"""torch.distributed set up once from the environment that `torchrun` provides (gloo on CPU, NCCL on GPU).

DDP is a property of the run, not a separate code path: with WORLD_SIZE unset everything below
is a single-process no-op.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


_context: DistContext | None = None


def get_context() -> DistContext:
    """Initialise the process group on first call when launched by torchrun; return this process's place."""
    global _context
    if _context is not None:
        return _context
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1:
        if not dist.is_initialized():
            # one backend per tensor device: a CPU run on a GPU machine still all-reduces through gloo
            backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend=backend, timeout=timedelta(minutes=10))
        _context = DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    else:
        _context = DistContext()
    return _context


def wrap_ddp(model: nn.Module, device: torch.device | None = None, **ddp_kwargs) -> nn.Module:
    """`model` in DistributedDataParallel under torchrun (gradients averaged across ranks), itself otherwise.

    `device` is where the model lives (a CUDA device becomes DDP's `device_ids`); `ddp_kwargs` go to DDP,
    e.g. `find_unused_parameters=True` for a network whose steps use different parts of it.
    """
    if not get_context().enabled:
        return model
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, **ddp_kwargs)


def shard(weights: Sequence[float], ctx: DistContext | None = None) -> list[int]:
    """Indices of the items this rank takes, the same split on every rank: largest first, each to the rank with the
    least weight so far (ties to the lower rank). One process takes every item, in order."""
    ctx = ctx or get_context()
    if not ctx.enabled:
        return list(range(len(weights)))
    load = [0.0] * ctx.world_size
    mine = []
    for i in sorted(range(len(weights)), key=lambda i: (-float(weights[i]), i)):
        rank = min(range(ctx.world_size), key=lambda r: (load[r], r))
        load[rank] += max(float(weights[i]), 1e-9)
        if rank == ctx.rank:
            mine.append(i)
    return sorted(mine)


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's `obj` (picklable), in rank order, on every rank; `[obj]` in one process."""
    ctx = get_context()
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank `src`'s `obj` on every rank (the others' `obj` is ignored); `obj` itself in one process."""
    if not get_context().enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """`tensor` reduced in place over every rank (`op`: sum, max or min) and returned; unchanged in one process."""
    if get_context().enabled:
        ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
        dist.all_reduce(tensor, op=ops[op])
    return tensor


def all_gather_rows(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's `tensor` (same trailing shape, any number of rows), in rank order; `[tensor]` in one process."""
    ctx = get_context()
    if not ctx.enabled:
        return [tensor]
    rows = torch.tensor([tensor.shape[0]], dtype=torch.int64, device=tensor.device)
    counts = [torch.zeros_like(rows) for _ in range(ctx.world_size)]
    dist.all_gather(counts, rows)
    most = int(max(int(c) for c in counts))
    padded = tensor.new_zeros((most, *tensor.shape[1:]))
    padded[:tensor.shape[0]] = tensor
    out = [torch.empty_like(padded) for _ in range(ctx.world_size)]
    dist.all_gather(out, padded.contiguous())
    return [o[:int(c)] for o, c in zip(out, counts)]


def shutdown() -> None:
    global _context
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _context = None
