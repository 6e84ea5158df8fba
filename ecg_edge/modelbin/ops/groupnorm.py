"""GROUPNORM (op 10, format version 2): G groups of C/G consecutive channels, each normalised over
all L time steps (HuBERT's first conv uses G = C), then the per-channel affine of a norm block.
p0 = G, p1 = eps (integer)."""

from __future__ import annotations

import numpy as np

from ecg_edge.modelbin import intops
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_GROUPNORM
from ecg_edge.modelbin.ops._norm import NormOp
from ecg_edge.modelbin.ops.base import Err, IntOp, check_range, check_v2_record
from ecg_edge.modelbin.records import OpInfo, TensorInfo


class GroupNorm(NormOp):
    code = OP_GROUPNORM

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        x = xs[0]
        n, L, C = x.shape
        xg = x.reshape(n, L, node.groups, C // node.groups)
        mean = xg.mean(axis=(1, 3), keepdims=True)
        var = xg.var(axis=(1, 3), keepdims=True)
        z = ((xg - mean) / np.sqrt(var + node.eps)).reshape(n, L, C)
        return self.affine_float(node, z)

    def lower(self, g: Graph, node: GNode) -> IntOp:
        t = g.tensors[node.inputs[0]]
        return self.lower_affine(g, node, t.length * (t.channels // node.groups), [node.groups])

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        check_v2_record(op, 2, lab, err)
        self.check_shape(op, T, lab, err)
        a, G = T[op.in0], op.params[0]
        if G < 1 or a.channels % G:
            raise err(f"{lab}: groups (p0) {G} must be >= 1 and divide the {a.channels} channels", R.OP_PARAMS)
        check_range(a.length * (a.channels // G), 1, intops.NORM_MAX_N, "values per group (L * C/G)", lab, err,
                    R.OP_SHAPE)
        check_range(op.params[1], 1, 0xFFFFFFFF, "eps (p1)", lab, err)

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        return intops.groupnorm(xs[0], op.params[0], op.params[1], self.affine_of(op), T[op.out].zero_point,
                                op.act_min, op.act_max)


OP = GroupNorm()
