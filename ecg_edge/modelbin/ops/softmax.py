"""SOFTMAX (op 11, format version 2): I-BERT's integer exp over segments of S channels (one
attention head's scores row); output probabilities in 1/256 (scale 1/256, zero point -128).
p0 = S, p1 = q_ln2, p2 = q_b, p3 = q_c, p4 = pre-shift k."""

from __future__ import annotations

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin import intops
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_SOFTMAX
from ecg_edge.modelbin.ops.base import (
    Err,
    IntOp,
    OpDef,
    check_range,
    check_same_shape,
    check_v2_record,
)
from ecg_edge.modelbin.records import OpInfo, TensorInfo

OUT_ZERO_POINT = -128


class Softmax(OpDef):
    code = OP_SOFTMAX
    min_version = 2
    fixed_qparams = (intops.SOFTMAX_OUT_SCALE, OUT_ZERO_POINT)

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        x = xs[0]
        s = x.reshape(*x.shape[:-1], -1, node.segment)
        e = np.exp(s - s.max(-1, keepdims=True))
        return (e / e.sum(-1, keepdims=True)).reshape(x.shape)

    def lower(self, g: Graph, node: GNode) -> IntOp:
        o = g.tensors[node.output]
        if (o.scale, o.zero_point) != self.fixed_qparams:
            raise EcgEdgeError(f"{node.name}: SOFTMAX output must be quantized with scale 1/256, zero point -128")
        try:
            c = intops.softmax_consts(g.tensors[node.inputs[0]].scale)
        except ValueError as exc:
            raise EcgEdgeError(f"{node.name}: {exc}") from exc
        return IntOp(node, -128, 127, [node.segment, c.q_ln2, c.q_b, c.q_c, c.pre_shift])

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        check_v2_record(op, 5, lab, err)
        check_same_shape(op, T, lab, err)
        seg, C = op.params[0], T[op.in0].channels
        if not 1 <= seg <= intops.SOFTMAX_MAX_SEG or C % seg:
            raise err(f"{lab}: segment (p0) {seg} must be 1..{intops.SOFTMAX_MAX_SEG} and divide the {C} channels",
                      R.OP_PARAMS)
        check_range(op.params[1], 1, intops.SOFTMAX_MAX_Q, "q_ln2 (p1)", lab, err)
        check_range(op.params[2], 0, intops.SOFTMAX_MAX_Q, "q_b (p2)", lab, err)
        check_range(op.params[3], 1, intops.SOFTMAX_MAX_C, "q_c (p3)", lab, err)
        check_range(op.params[4], 0, intops.SOFTMAX_MAX_SHIFT, "pre-shift (p4)", lab, err)

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        p = op.params
        return intops.softmax(xs[0], p[0], p[1], p[2], p[3], p[4], T[op.out].zero_point, op.act_min, op.act_max)


OP = Softmax()
