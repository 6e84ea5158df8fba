"""Multiply-accumulates per inference of a model.bin, for MACs-per-instruction figures."""

from __future__ import annotations

import numpy as np

OP_CONV1D, OP_LINEAR = 0, 1


def count_macs(model_bytes: bytes) -> tuple[int, int] | None:
    """(dense MACs, non-zero-weight MACs) of the CONV1D and LINEAR ops; None when model.bin's
    reader (ecg_edge.modelbin.reader) is not available or refuses the bytes."""
    try:
        from ecg_edge.modelbin.reader import read_model
    except ImportError:
        return None
    try:
        mb = read_model(model_bytes)
    except Exception:  # the firmware reports the format error with its status
        return None
    dense = nonzero = 0
    for op in mb.ops:
        if op.op not in (OP_CONV1D, OP_LINEAR) or op.block is None:
            continue
        positions = mb.tensors[op.out].length if op.op == OP_CONV1D else 1
        blk = op.block
        dense += positions * blk.c_out * blk.span
        nonzero += positions * int(np.count_nonzero(blk.levels))
    return dense, nonzero
