"""Data-parallel context: torchrun sets RANK/WORLD_SIZE, we start a gloo group on CPU.

Kept apart from the loop so the loop only asks "am I rank 0?" and "how many replicas?".
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def current() -> DistInfo:
    """The running process group, or a single-process DistInfo when there is none."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size())
    return DistInfo()


def init_from_env() -> DistInfo:
    """Start a gloo process group when launched by torchrun (WORLD_SIZE > 1); else no-op."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        return current()
    dist.init_process_group(backend="gloo")
    return current()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float]) -> list[float]:
    """Sum floats over replicas (identity without a group)."""
    if not current().enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def broadcast_module_state(module: torch.nn.Module) -> None:
    """Make every replica hold rank 0's parameters and buffers (BN running stats drift apart
    because each replica updates them on its own shard)."""
    if not current().enabled:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def gather_objects(obj: object) -> list[object]:
    info = current()
    if not info.enabled:
        return [obj]
    out: list[object] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out
