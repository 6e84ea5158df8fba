"""MAXPOOL1D (op 3): window maximum; padding never wins (pads < kernel, so every window touches
the input); output quantization equals the input's. p0..p3 = K, stride, pad_left, pad_right."""

from __future__ import annotations

import numpy as np

from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_MAXPOOL1D
from ecg_edge.modelbin.ops.base import (
    Err,
    IntOp,
    OpDef,
    act_range,
    check_same_channels,
    check_window,
    clamp,
    float_windows,
    int_windows,
    same_qparams,
)
from ecg_edge.modelbin.records import OpInfo, TensorInfo


class MaxPool1d(OpDef):
    code = OP_MAXPOOL1D
    keeps_qparams = True

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        return np.max(float_windows(xs[0], node.kernel, node.stride, node.pad_left, node.pad_right, out.length,
                                    -np.inf), axis=0)

    def lower(self, g: Graph, node: GNode) -> IntOp:
        same_qparams(g, node)
        return IntOp(node, *act_range(node, g.tensors[node.output].zero_point),
                     [node.kernel, node.stride, node.pad_left, node.pad_right])

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        check_window(op, T, lab, err, dil=1, pads_below_kernel=True)
        check_same_channels(op, T, lab, err)

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        K, st, pl, pr = op.params[:4]
        return clamp(np.max(int_windows(xs[0], K, st, pl, pr, T[op.out].length, -(1 << 20)), axis=0), op)


OP = MaxPool1d()
