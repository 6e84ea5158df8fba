"""AVGPOOL1D (op 4): window sum of (x - z_in), padding counts as zero, divided by K through the
requantization M * 2^-n = s_in / (K * s_out). p0..p5 = K, stride, pad_left, pad_right, M, n."""

from __future__ import annotations

import numpy as np

from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_AVGPOOL1D
from ecg_edge.modelbin.ops.base import (
    MAX_POOL_SUM,
    Err,
    IntOp,
    OpDef,
    check_mult,
    check_same_channels,
    check_window,
    float_windows,
    int_windows,
    lower_mean,
)
from ecg_edge.modelbin.records import OpInfo, TensorInfo
from ecg_edge.numerics import requantize


class AvgPool1d(OpDef):
    code = OP_AVGPOOL1D

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        return np.sum(float_windows(xs[0], node.kernel, node.stride, node.pad_left, node.pad_right, out.length,
                                    0.0), axis=0) / node.kernel

    def lower(self, g: Graph, node: GNode) -> IntOp:
        return lower_mean(g, node, node.kernel, [node.kernel, node.stride, node.pad_left, node.pad_right])

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        check_window(op, T, lab, err, dil=1, pads_below_kernel=True, max_kernel=MAX_POOL_SUM)
        check_same_channels(op, T, lab, err)
        check_mult(op, 4, 5, lab, err)

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        K, st, pl, pr = op.params[:4]
        to = T[op.out]
        w = int_windows(xs[0].astype(np.int64) - T[op.in0].zero_point, K, st, pl, pr, to.length, 0)
        return requantize(np.sum(w, axis=0), op.sparam(4), op.params[5], to.zero_point, op.act_min, op.act_max)


OP = AvgPool1d()
