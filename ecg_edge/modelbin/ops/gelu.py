"""GELU (op 8, format version 2): I-BERT's integer erf polynomial (FORMAT.md section 7).
p0 = b_int, p1 = c_int, p2 = M, p3 = n; the packer derives them from the two scales."""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin import intops
from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_GELU
from ecg_edge.modelbin.ops.base import (
    Err,
    IntOp,
    OpDef,
    check_mult,
    check_range,
    check_same_shape,
    check_v2_record,
)
from ecg_edge.modelbin.records import OpInfo, TensorInfo


class Gelu(OpDef):
    code = OP_GELU
    min_version = 2

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        x = xs[0]
        return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))

    def lower(self, g: Graph, node: GNode) -> IntOp:
        try:
            c = intops.gelu_consts(g.tensors[node.inputs[0]].scale, g.tensors[node.output].scale)
        except ValueError as exc:
            raise EcgEdgeError(f"{node.name}: {exc}") from exc
        return IntOp(node, -128, 127, [c.b_int, c.c_int, c.mult, c.shift])

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        check_v2_record(op, 4, lab, err)
        check_same_shape(op, T, lab, err)
        check_range(op.params[0], 0, intops.GELU_MAX_B, "b_int (p0)", lab, err)
        check_range(op.params[1], 1, intops.GELU_MAX_C, "c_int (p1)", lab, err)
        check_mult(op, 2, 3, lab, err)

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        p = op.params
        return intops.gelu(xs[0], T[op.in0].zero_point, p[0], p[1], op.sparam(2), p[3], T[op.out].zero_point,
                           op.act_min, op.act_max)


OP = Gelu()
