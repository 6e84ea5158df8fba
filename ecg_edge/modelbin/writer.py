"""Serialize a quantized Graph into model.bin bytes (export/FORMAT.md sections 1-8)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin.blocks import encode_block
from ecg_edge.modelbin.graph import GNode, Graph
from ecg_edge.modelbin.layout import (
    BLOCK_ALIGN,
    HEADER_SIZE,
    HEADER_STRUCT,
    MAGIC,
    NO_BLOCK,
    NO_TENSOR,
    OP_ADD,
    OP_AVGPOOL1D,
    OP_CONV1D,
    OP_GLOBAL_AVGPOOL,
    OP_LINEAR,
    OP_MAXPOOL1D,
    OP_RELU,
    OP_STRUCT,
    OPF_RELU,
    SEC_META,
    SEC_OPS,
    SEC_TENSORS,
    SEC_WEIGHTS,
    SECTION_ALIGN,
    SECTION_ENTRY_SIZE,
    SECTION_NAMES,
    SECTION_STRUCT,
    TENSOR_STRUCT,
    TF_INPUT,
    TF_OUTPUT,
    VERSION,
    align_up,
)
from ecg_edge.modelbin.meta import encode_meta
from ecg_edge.modelbin.planner import ArenaPlan, PlanOp, plan_arena
from ecg_edge.numerics import INT8_MAX, INT8_MIN, quantize_multiplier

ACC_LIMIT = 1 << 31


@dataclass
class IntOp:
    """One op's integer parameters (the bytes of its OPS record and weight block)."""
    node: GNode
    act_min: int
    act_max: int
    params: list[int]
    block: bytes = b""
    encoding: int = -1
    nnz: int = 0


@dataclass
class Serialized:
    data: bytes
    sections: dict[str, int]
    arena: ArenaPlan
    ops: list[IntOp] = field(default_factory=list)


def _mult(real: float, where: str) -> tuple[int, int]:
    try:
        return quantize_multiplier(real)
    except ValueError as exc:
        raise EcgEdgeError(f"{where}: {exc}") from exc


def _act_range(node: GNode, zp_out: int) -> tuple[int, int]:
    return (max(zp_out, INT8_MIN) if node.relu else INT8_MIN), INT8_MAX


def integer_op(g: Graph, node: GNode) -> IntOp:
    t_in = g.tensors[node.inputs[0]]
    t_out = g.tensors[node.output]
    amin, amax = _act_range(node, t_out.zero_point)
    if node.op in (OP_CONV1D, OP_LINEAR):
        w = node.weights
        assert w is not None
        real = t_in.scale * w.scale / t_out.scale
        mn = [_mult(float(r), f"{node.name}: channel {c} requantization factor") for c, r in enumerate(real)]
        mult = np.array([m for m, _ in mn], dtype=np.int64)
        shift = np.array([n for _, n in mn], dtype=np.int64)
        lv = w.levels.astype(np.int64)
        bias = np.round(w.bias / (t_in.scale * w.scale)) - t_in.zero_point * lv.sum(axis=1)
        bound = np.abs(bias) + 128 * np.abs(lv).sum(axis=1)
        worst = int(np.argmax(bound))
        if bound[worst] >= ACC_LIMIT:
            raise EcgEdgeError(
                f"{node.name}: int32 accumulator bound violated in output channel {worst}: "
                f"|bias| + 128*sum|w| = {int(bound[worst])} >= 2^31; the layer cannot be exported "
                "(its bias is too large for its weight scale; retrain or re-calibrate)")
        kernel = node.kernel if node.op == OP_CONV1D else 1
        block, enc = encode_block(w.levels, w.bits, kernel, bias.astype(np.int64), mult, shift)
        params = ([node.kernel, node.stride, node.pad_left, node.pad_right, node.dilation, node.groups]
                  if node.op == OP_CONV1D else [])
        return IntOp(node, amin, amax, params, block, enc, int(np.count_nonzero(w.levels)))
    if node.op == OP_ADD:
        t_b = g.tensors[node.inputs[1]]
        ra, rb = t_in.scale / t_out.scale, t_b.scale / t_out.scale
        _, n = _mult(max(ra, rb), f"{node.name}: input/output scale ratio")
        ma, mb = round(ra * 2.0 ** n), round(rb * 2.0 ** n)
        while max(ma, mb) >= ACC_LIMIT:  # rounding up to 2^31: one bit less precision
            n -= 1
            ma, mb = round(ra * 2.0 ** n), round(rb * 2.0 ** n)
        if n < 1:
            raise EcgEdgeError(f"{node.name}: scale ratio too large for an ADD multiplier")
        return IntOp(node, amin, amax, [ma, mb, n])
    if node.op in (OP_MAXPOOL1D, OP_RELU):
        if (t_in.scale, t_in.zero_point) != (t_out.scale, t_out.zero_point):
            raise EcgEdgeError(f"{node.name}: output quantization must equal the input's")
        if node.op == OP_RELU:
            amin = max(t_out.zero_point, INT8_MIN)
        return IntOp(node, amin, amax, [node.kernel, node.stride, node.pad_left, node.pad_right]
                     if node.op == OP_MAXPOOL1D else [])
    if node.op == OP_AVGPOOL1D:
        m, n = _mult(t_in.scale / (node.kernel * t_out.scale), f"{node.name}: requantization factor")
        return IntOp(node, amin, amax, [node.kernel, node.stride, node.pad_left, node.pad_right, m, n])
    if node.op == OP_GLOBAL_AVGPOOL:
        m, n = _mult(t_in.scale / (t_in.length * t_out.scale), f"{node.name}: requantization factor")
        return IntOp(node, amin, amax, [m, n])
    raise EcgEdgeError(f"{node.name}: op {node.op} cannot be exported by format version 1")


def serialize(g: Graph, meta: dict[str, Any], allow_alias: bool = True) -> Serialized:
    int_ops = [integer_op(g, n) for n in g.nodes]
    sizes = [t.size for t in g.tensors]
    arena = plan_arena(sizes, [PlanOp(n.op, tuple(n.inputs), n.output) for n in g.nodes],
                       g.input, g.output, allow_alias)

    tensors = bytearray()
    for i, t in enumerate(g.tensors):
        flags = (TF_INPUT if i == g.input else 0) | (TF_OUTPUT if i == g.output else 0)
        tensors += TENSOR_STRUCT.pack(t.length, t.channels, t.scale, t.zero_point, arena.offsets[i],
                                      t.size, flags, 0)
    weights = bytearray()
    ops = bytearray()
    n_blocks = 0
    for io in int_ops:
        node = io.node
        wb, ws = NO_BLOCK, 0
        if io.block:
            weights += bytes(align_up(len(weights), BLOCK_ALIGN) - len(weights))
            wb, ws = len(weights), len(io.block)
            weights += io.block
            n_blocks += 1
        p = [int(v) & 0xFFFFFFFF for v in io.params] + [0] * (9 - len(io.params))
        in1 = node.inputs[1] if len(node.inputs) > 1 else NO_TENSOR
        ops += OP_STRUCT.pack(node.op, OPF_RELU if node.relu else 0, node.inputs[0], in1, node.output,
                              0, io.act_min, io.act_max, wb, ws, *p)
    meta_b = encode_meta(meta)
    body = [(SEC_META, meta_b, len(meta)), (SEC_TENSORS, bytes(tensors), len(g.tensors)),
            (SEC_OPS, bytes(ops), len(int_ops)), (SEC_WEIGHTS, bytes(weights), n_blocks)]
    table_end = HEADER_SIZE + SECTION_ENTRY_SIZE * len(body)
    pos = align_up(table_end, SECTION_ALIGN)
    entries, chunks = [], []
    for typ, blob, count in body:
        pos = align_up(pos, SECTION_ALIGN)
        entries.append(SECTION_STRUCT.pack(typ, pos, len(blob), count))
        chunks.append((pos, blob))
        pos += len(blob)
    file_size = align_up(pos, SECTION_ALIGN)
    buf = bytearray(file_size)
    buf[HEADER_SIZE:table_end] = b"".join(entries)
    for off, blob in chunks:
        buf[off:off + len(blob)] = blob
    crc = zlib.crc32(bytes(buf[HEADER_SIZE:])) & 0xFFFFFFFF
    n_classes = g.tensors[g.output].size
    buf[0:HEADER_SIZE] = HEADER_STRUCT.pack(MAGIC, VERSION, HEADER_SIZE, file_size, crc, 0, len(body),
                                            HEADER_SIZE, arena.arena_bytes, g.input, g.output,
                                            len(g.tensors), len(int_ops), n_classes, bytes(20))
    sections = {"header": HEADER_SIZE, "section_table": SECTION_ENTRY_SIZE * len(body)}
    for typ, blob, _ in body:
        sections[SECTION_NAMES[typ]] = len(blob)
    sections["padding"] = file_size - sum(sections.values())
    return Serialized(bytes(buf), sections, arena, int_ops)
