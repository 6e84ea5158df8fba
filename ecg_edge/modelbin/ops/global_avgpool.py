"""GLOBAL_AVGPOOL (op 5): mean over time, [L][C] -> [1][C]: sum of (x - z_in) requantized by
M * 2^-n = s_in / (L * s_out). p0 = M, p1 = n."""

from __future__ import annotations

import numpy as np

from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_GLOBAL_AVGPOOL
from ecg_edge.modelbin.ops.base import (
    MAX_POOL_SUM,
    Err,
    IntOp,
    OpDef,
    check_mult,
    lower_mean,
)
from ecg_edge.modelbin.records import OpInfo, TensorInfo
from ecg_edge.numerics import requantize


class GlobalAvgPool(OpDef):
    code = OP_GLOBAL_AVGPOOL

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        return xs[0].mean(axis=1, keepdims=True)

    def lower(self, g: Graph, node: GNode) -> IntOp:
        return lower_mean(g, node, g.tensors[node.inputs[0]].length, [])

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        a, o = T[op.in0], T[op.out]
        if o.length != 1 or o.channels != a.channels:
            raise err(f"{lab}: output {o.length}x{o.channels}, expected 1x{a.channels}", R.OP_SHAPE)
        if a.length > MAX_POOL_SUM:
            raise err(f"{lab}: input length {a.length} exceeds 2^23 (accumulator bound)", R.OP_SHAPE)
        check_mult(op, 0, 1, lab, err)

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        acc = (xs[0].astype(np.int64) - T[op.in0].zero_point).sum(axis=1, keepdims=True)
        return requantize(acc, op.sparam(0), op.params[1], T[op.out].zero_point, op.act_min, op.act_max)


OP = GlobalAvgPool()
