"""RELU (op 6): a clamp at the zero point; output quantization equals the input's. No parameters
(act_min carries the zero point)."""

from __future__ import annotations

import numpy as np

from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_RELU
from ecg_edge.modelbin.ops.base import Err, IntOp, OpDef, check_same_shape, clamp, same_qparams
from ecg_edge.modelbin.records import OpInfo, TensorInfo
from ecg_edge.numerics import INT8_MAX, INT8_MIN


class Relu(OpDef):
    code = OP_RELU
    keeps_qparams = True

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        return np.maximum(xs[0], 0.0)

    def lower(self, g: Graph, node: GNode) -> IntOp:
        same_qparams(g, node)
        return IntOp(node, max(g.tensors[node.output].zero_point, INT8_MIN), INT8_MAX, [])

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        check_same_shape(op, T, lab, err)

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        return clamp(xs[0], op)


OP = Relu()
