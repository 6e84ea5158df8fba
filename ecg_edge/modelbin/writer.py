"""Serialize a quantized Graph into model.bin bytes (export/FORMAT.md sections 1-8)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin.ir import GNode, Graph
from ecg_edge.modelbin.layout import (
    BLOCK_ALIGN,
    HEADER_SIZE,
    HEADER_STRUCT,
    MAGIC,
    NO_BLOCK,
    NO_TENSOR,
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
    TRAILER_HEADER_SIZE,
    TRAILER_MAGIC,
    TRAILER_STRUCT,
    VERSION,
    align_up,
)
from ecg_edge.modelbin.meta import encode_meta
from ecg_edge.modelbin.ops import IntOp, op_def
from ecg_edge.modelbin.planner import ArenaPlan, PlanOp, plan_arena


@dataclass
class Serialized:
    data: bytes  # the device image, then the host trailer when there is one
    sections: dict[str, int]
    arena: ArenaPlan
    ops: list[IntOp] = field(default_factory=list)
    device_size: int = 0  # header file_size: the bytes that are flashed

    @property
    def device_image(self) -> bytes:
        return self.data[:self.device_size]


def integer_op(g: Graph, node: GNode) -> IntOp:
    try:
        od = op_def(node.op)
    except KeyError:
        raise EcgEdgeError(f"{node.name}: op {node.op} cannot be exported by format version {VERSION}") from None
    return od.lower(g, node)


def host_trailer(meta: dict[str, Any]) -> bytes:
    """The host trailer holding `meta` (FORMAT.md section 4, "Flash bytes"); b"" when empty."""
    if not meta:
        return b""
    body = encode_meta(meta)
    return TRAILER_STRUCT.pack(TRAILER_MAGIC, TRAILER_HEADER_SIZE + len(body), zlib.crc32(body) & 0xFFFFFFFF,
                               len(meta)) + body


def serialize(g: Graph, meta: dict[str, Any], allow_alias: bool = True,
              host_meta: dict[str, Any] | None = None) -> Serialized:
    """The device image with `meta` in its META section, followed by a host trailer with
    `host_meta` (keys the device never reads; not flashed, not counted in the true CR)."""
    if host_meta and set(host_meta) & set(meta):
        raise ValueError(f"META keys {sorted(set(host_meta) & set(meta))} given for both the image and the trailer")
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
    version = max((op_def(io.node.op).version_needed(io.params, g.tensors[io.node.inputs[0]].channels,
                                                      g.tensors[io.node.output].channels) for io in int_ops),
                  default=1)  # the lowest version that holds the graph: a CNN stays version 1
    buf[0:HEADER_SIZE] = HEADER_STRUCT.pack(MAGIC, version, HEADER_SIZE, file_size, crc, 0, len(body),
                                            HEADER_SIZE, arena.arena_bytes, g.input, g.output,
                                            len(g.tensors), len(int_ops), n_classes, bytes(20))
    sections = {"header": HEADER_SIZE, "section_table": SECTION_ENTRY_SIZE * len(body)}
    for typ, blob, _ in body:
        sections[SECTION_NAMES[typ]] = len(blob)
    sections["padding"] = file_size - sum(sections.values())
    trailer = host_trailer(host_meta or {})
    if trailer:
        sections["host_trailer"] = len(trailer)
    return Serialized(bytes(buf) + trailer, sections, arena, int_ops, file_size)
