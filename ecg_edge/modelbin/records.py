"""The decoded records of a validated model.bin (what the reader returns and the executor runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecg_edge.modelbin.layout import NO_TENSOR, OP_NAMES


@dataclass
class Section:
    type: int
    offset: int
    size: int
    count: int


@dataclass
class TensorInfo:
    length: int
    channels: int
    scale: float
    zero_point: int
    arena_offset: int
    size_bytes: int
    flags: int


@dataclass
class WeightBlock:
    bits: int
    encoding: int
    c_out: int
    span: int
    kernel: int
    nnz: int
    bias: np.ndarray  # int64 (c_out,)
    mult: np.ndarray  # int64 (c_out,)
    shift: np.ndarray  # int64 (c_out,)
    levels: np.ndarray  # int8 (c_out, span), decoded from the file's bitstreams
    offset: int  # file offset of the block
    size: int
    index_bytes: int
    values_bytes: int


@dataclass
class OpInfo:
    op: int
    flags: int
    in0: int
    in1: int
    out: int
    act_min: int
    act_max: int
    weight_block: int
    weight_size: int
    params: list[int]  # p0..p8 as u32
    block: WeightBlock | None = None

    @property
    def name(self) -> str:
        return OP_NAMES.get(self.op, f"op{self.op}")

    @property
    def inputs(self) -> tuple[int, ...]:
        return (self.in0,) if self.in1 == NO_TENSOR else (self.in0, self.in1)

    def sparam(self, i: int) -> int:
        """params[i] as i32."""
        v = self.params[i]
        return v - (1 << 32) if v >= 1 << 31 else v


@dataclass
class ModelBin:
    source: str
    version: int
    file_size: int
    arena_size: int
    input_tensor: int
    output_tensor: int
    n_classes: int
    sections: dict[str, Section]
    meta: dict[str, Any]
    tensors: list[TensorInfo]
    ops: list[OpInfo]
    data: bytes = field(repr=False, default=b"")  # as read: the device image, then the host trailer if any
    host_keys: tuple[str, ...] = ()  # META keys read from the host trailer (not flashed)

    @property
    def device_image(self) -> bytes:
        """The flashed bytes: [0, file_size)."""
        return self.data[:self.file_size]

    @property
    def host_trailer_bytes(self) -> int:
        return len(self.data) - self.file_size

    @property
    def input_shape(self) -> tuple[int, int]:
        t = self.tensors[self.input_tensor]
        return t.length, t.channels

    @property
    def classes(self) -> list[str]:
        c = self.meta.get("classes")
        return list(c) if isinstance(c, list) else [str(i) for i in range(self.n_classes)]
