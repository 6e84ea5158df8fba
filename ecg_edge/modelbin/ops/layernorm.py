"""LAYERNORM (op 7, format version 2): each time step normalised over its C channels with integer
mean/variance and square root, then the per-channel affine of a norm block. p0 = eps (integer)."""

from __future__ import annotations

import numpy as np

from ecg_edge.modelbin import intops
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_LAYERNORM
from ecg_edge.modelbin.ops._norm import NormOp
from ecg_edge.modelbin.ops.base import Err, IntOp, check_range, check_v2_record
from ecg_edge.modelbin.records import OpInfo, TensorInfo


class LayerNorm(NormOp):
    code = OP_LAYERNORM

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        x = xs[0]
        z = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + node.eps)
        return self.affine_float(node, z)

    def lower(self, g: Graph, node: GNode) -> IntOp:
        return self.lower_affine(g, node, g.tensors[node.inputs[0]].channels, [])

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        check_v2_record(op, 1, lab, err)
        self.check_shape(op, T, lab, err)
        check_range(T[op.in0].channels, 1, intops.NORM_MAX_N, "channels", lab, err, R.OP_SHAPE)
        check_range(op.params[0], 1, 0xFFFFFFFF, "eps (p0)", lab, err)

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        return intops.layernorm(xs[0], op.params[0], self.affine_of(op), T[op.out].zero_point,
                                op.act_min, op.act_max)


OP = LayerNorm()
