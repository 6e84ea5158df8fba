"""LINEAR (op 1): a fully connected layer over the flattened [L][C] input; output L = 1; block
kernel 1, span = L * C. No parameters."""

from __future__ import annotations

import numpy as np

from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_LINEAR
from ecg_edge.modelbin.ops.base import Err, IntOp, OpDef, dot_dtype, lower_weighted, weighted_macs
from ecg_edge.modelbin.records import OpInfo, TensorInfo
from ecg_edge.numerics import requantize


class Linear(OpDef):
    code = OP_LINEAR
    has_weights = True

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        x, w = xs[0], node.weights
        assert w is not None
        return (x.reshape(x.shape[0], -1) @ (w.levels * w.scale[:, None]).T + w.bias)[:, None, :]

    def lower(self, g: Graph, node: GNode) -> IntOp:
        return lower_weighted(g, node, 1, [])

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        o = T[op.out]
        if o.length != 1:
            raise err(f"{lab}: output tensor {op.out} has L={o.length}, a LINEAR output must have L=1", R.OP_SHAPE)

    def block_span(self, op: OpInfo, T: list[TensorInfo], kernel: int, bl: str, err: Err) -> int:
        if kernel != 1:
            raise err(f"{bl}: field 'kernel' {kernel}, a LINEAR block has kernel 1", R.BLOCK_KERNEL)
        return T[op.in0].length * T[op.in0].channels

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        blk = op.block
        assert blk is not None
        a = xs[0]
        dt = dot_dtype(blk.levels)
        v = a.reshape(a.shape[0], -1).astype(dt) @ blk.levels.astype(dt).T
        acc = v.astype(np.int64)[:, None, :] + blk.bias
        return requantize(acc, blk.mult, blk.shift, T[op.out].zero_point, op.act_min, op.act_max)

    def macs(self, op: OpInfo, T: list[TensorInfo]) -> tuple[int, int]:
        return weighted_macs(op, 1)


OP = Linear()
