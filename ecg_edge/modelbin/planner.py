"""Arena planning (export/FORMAT.md section 9): liveness + greedy first-fit by decreasing size,
in the spirit of TFLite Micro's GreedyMemoryPlanner, with in-place elementwise ops.

The output of an op marked `in_place` in the registry (ADD) may share its buffer with an input
that dies at that op (each index read before it is written), so aliased tensors are planned as
one buffer. The lower bound is the
largest total size of buffers alive at any one op: no plan using the same aliases can be smaller.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecg_edge.modelbin.layout import ARENA_ALIGN, TENSOR_OFFSET_ALIGN, align_up
from ecg_edge.modelbin.ops import op_def


@dataclass(frozen=True)
class PlanOp:
    op: int
    inputs: tuple[int, ...]
    output: int


@dataclass
class ArenaPlan:
    offsets: list[int]  # per tensor
    arena_bytes: int  # multiple of ARENA_ALIGN
    lower_bound: int  # largest sum of live buffers at one op
    aliases: dict[int, int]  # in-place output tensor -> input tensor it shares storage with


def lifetimes(n_tensors: int, ops: list[PlanOp], graph_input: int, graph_output: int
              ) -> list[tuple[int, int]]:
    """(first op index, last op index) per tensor; the input starts at -1, the output ends at
    len(ops). Tensors never produced nor read get (len(ops), -1) (empty)."""
    first = [len(ops)] * n_tensors
    last = [-1] * n_tensors
    first[graph_input] = -1
    for k, op in enumerate(ops):
        first[op.output] = min(first[op.output], k)
        last[op.output] = max(last[op.output], k)
        for t in op.inputs:
            last[t] = max(last[t], k)
    last[graph_output] = len(ops)
    return list(zip(first, last, strict=True))


def plan_arena(sizes: list[int], ops: list[PlanOp], graph_input: int, graph_output: int,
               allow_alias: bool = True) -> ArenaPlan:
    n = len(sizes)
    life = lifetimes(n, ops, graph_input, graph_output)
    # Union in-place outputs with an input that dies at that op (same size by construction).
    owner = list(range(n))
    aliases: dict[int, int] = {}
    if allow_alias:
        for k, op in enumerate(ops):
            if not op_def(op.op).in_place:
                continue
            for t in op.inputs:
                r = _root(owner, t)
                if life[t][1] == k and sizes[t] == sizes[op.output] and t != graph_input \
                        and all(life[u][1] <= k for u in range(n) if _root(owner, u) == r):
                    owner[op.output] = r
                    aliases[op.output] = t
                    break
    bufs: dict[int, list[int]] = {}
    for t in range(n):
        bufs.setdefault(_root(owner, t), []).append(t)
    buf_life = {b: (min(life[t][0] for t in ts), max(life[t][1] for t in ts)) for b, ts in bufs.items()}
    buf_size = {b: align_up(max(sizes[t] for t in ts), TENSOR_OFFSET_ALIGN) for b, ts in bufs.items()}

    # Greedy first-fit, largest first (ties: earlier start, lower id) - deterministic.
    order = sorted(bufs, key=lambda b: (-buf_size[b], buf_life[b][0], b))
    placed: list[tuple[int, int, int]] = []  # (offset, size, buf)
    buf_off: dict[int, int] = {}
    for b in order:
        lo, hi = buf_life[b]
        conflicts = sorted((o, s) for o, s, c in placed
                           if not (buf_life[c][1] < lo or hi < buf_life[c][0]))
        off = 0
        for o, s in conflicts:
            if off + buf_size[b] <= o:
                break
            off = max(off, align_up(o + s, TENSOR_OFFSET_ALIGN))
        buf_off[b] = off
        placed.append((off, buf_size[b], b))
    offsets = [buf_off[_root(owner, t)] for t in range(n)]
    end = max((buf_off[b] + buf_size[b] for b in bufs), default=0)
    lower = 0
    for k in range(-1, len(ops) + 1):
        lower = max(lower, sum(buf_size[b] for b in bufs if buf_life[b][0] <= k <= buf_life[b][1]))
    return ArenaPlan(offsets, align_up(max(end, 1), ARENA_ALIGN), lower, aliases)


def _root(owner: list[int], t: int) -> int:
    while owner[t] != t:
        t = owner[t]
    return t
