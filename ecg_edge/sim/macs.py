"""Multiply-accumulates per inference of a model.bin, for MACs-per-instruction figures."""

from __future__ import annotations

from ecg_edge.errors import ModelFormatError
from ecg_edge.modelbin.ops import op_def
from ecg_edge.modelbin.reader import read_model


def count_macs(model_bytes: bytes) -> tuple[int, int] | None:
    """(dense MACs, non-zero-weight MACs) summed over the ops (each op's registry module counts
    its own); None when the reader refuses the bytes (the firmware reports the format error with
    its status)."""
    try:
        mb = read_model(model_bytes)
    except ModelFormatError:
        return None
    dense = nonzero = 0
    for op in mb.ops:
        d, z = op_def(op.op).macs(op, mb.tensors)
        dense += d
        nonzero += z
    return dense, nonzero
