"""ADD (op 2): elementwise sum of two equal-shape tensors with their own scales:
y = ((a - za) * M_a + (b - zb) * M_b) >> n. p0 = M_a, p1 = M_b, p2 = n. The output may reuse
the buffer of an input that dies here (each element is read before it is written)."""

from __future__ import annotations

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_ADD
from ecg_edge.modelbin.ops.base import (
    ACC_LIMIT,
    Err,
    IntOp,
    OpDef,
    act_range,
    check_mult,
    multiplier,
)
from ecg_edge.modelbin.records import OpInfo, TensorInfo
from ecg_edge.numerics import requantize


class Add(OpDef):
    code = OP_ADD
    n_inputs = 2
    in_place = True

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        return xs[0] + xs[1]

    def lower(self, g: Graph, node: GNode) -> IntOp:
        t_a, t_b, t_out = (g.tensors[i] for i in (*node.inputs, node.output))
        ra, rb = t_a.scale / t_out.scale, t_b.scale / t_out.scale
        _, n = multiplier(max(ra, rb), f"{node.name}: input/output scale ratio")
        ma, mb = round(ra * 2.0 ** n), round(rb * 2.0 ** n)
        while max(ma, mb) >= ACC_LIMIT:  # rounding up to 2^31: one bit less precision
            n -= 1
            ma, mb = round(ra * 2.0 ** n), round(rb * 2.0 ** n)
        if n < 1:
            raise EcgEdgeError(f"{node.name}: scale ratio too large for an ADD multiplier")
        return IntOp(node, *act_range(node, t_out.zero_point), [ma, mb, n])

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        a, b, o = T[op.in0], T[op.in1], T[op.out]
        if (a.length, a.channels) != (b.length, b.channels) or (a.length, a.channels) != (o.length, o.channels):
            raise err(f"{lab}: shapes in0 {a.length}x{a.channels}, in1 {b.length}x{b.channels}, "
                      f"out {o.length}x{o.channels} must be equal", R.OP_SHAPE)
        check_mult(op, 0, 2, lab, err)
        if op.sparam(1) < 0:
            raise err(f"{lab}: multiplier M_b (p1) {op.sparam(1)} is negative", R.OP_PARAMS)

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        ta, tb = T[op.in0], T[op.in1]
        s = ((xs[0].astype(np.int64) - ta.zero_point) * op.sparam(0)
             + (xs[1].astype(np.int64) - tb.zero_point) * op.sparam(1))
        return requantize(s, 1, op.params[2], T[op.out].zero_point, op.act_min, op.act_max)


OP = Add()
