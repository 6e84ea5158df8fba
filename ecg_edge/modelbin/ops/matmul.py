"""MATMUL (op 12, format version 2): two int8 activations with heads (attention's Q.K^T with
transpose_b = 1, P.V with transpose_b = 0), zero points subtracted, one requantization.
p0 = heads, p1 = transpose_b, p2 = M, p3 = n (M 2^-n ~ alpha s_a s_b / s_out)."""

from __future__ import annotations

import numpy as np

from ecg_edge.modelbin import intops
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_MATMUL
from ecg_edge.modelbin.ops.base import Err, IntOp, OpDef, check_mult, check_v2_record, multiplier
from ecg_edge.modelbin.records import OpInfo, TensorInfo


def _heads_view(a: np.ndarray, b: np.ndarray, heads: int, transpose_b: bool) -> tuple[np.ndarray, np.ndarray]:
    *lead, La, Ca = a.shape
    Lb, Cb = b.shape[-2:]
    K = Ca // heads
    ah = np.moveaxis(a.reshape(*lead, La, heads, K), -2, -3)
    if transpose_b:
        bh = np.moveaxis(b.reshape(*lead, Lb, heads, K), -2, -3).swapaxes(-1, -2)
    else:
        bh = np.moveaxis(b.reshape(*lead, K, heads, Cb // heads), -2, -3)
    return ah, bh


class MatMul(OpDef):
    code = OP_MATMUL
    n_inputs = 2
    min_version = 2

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        ah, bh = _heads_view(xs[0], xs[1], node.heads, node.transpose_b)
        acc = np.matmul(ah, bh) * node.alpha
        return np.moveaxis(acc, -3, -2).reshape(*xs[0].shape[:-1], -1)

    def lower(self, g: Graph, node: GNode) -> IntOp:
        ta, tb, to = (g.tensors[i] for i in (*node.inputs, node.output))
        m, n = multiplier(node.alpha * ta.scale * tb.scale / to.scale, f"{node.name}: requantization factor")
        return IntOp(node, -128, 127, [node.heads, int(node.transpose_b), m, n])

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        check_v2_record(op, 4, lab, err)
        a, b, o = T[op.in0], T[op.in1], T[op.out]
        H, tb = op.params[0], op.params[1]
        if H < 1 or a.channels % H or b.channels % H:
            raise err(f"{lab}: heads (p0) {H} must divide in0 channels {a.channels} and in1 channels {b.channels}",
                      R.OP_PARAMS)
        if tb not in (0, 1):
            raise err(f"{lab}: transpose_b (p1) {tb} must be 0 or 1", R.OP_PARAMS)
        K = a.channels // H
        if K > intops.MATMUL_MAX_K:
            raise err(f"{lab}: {K} products per sum exceed {intops.MATMUL_MAX_K} (int32 accumulator bound)", R.OP_SHAPE)
        if tb and b.channels != a.channels:
            raise err(f"{lab}: transpose_b needs in1 channels {b.channels} == in0 channels {a.channels}", R.OP_SHAPE)
        if not tb and b.length != K:
            raise err(f"{lab}: in1 length {b.length} must equal in0 channels per head {K}", R.OP_SHAPE)
        want = (a.length, H * (b.length if tb else b.channels // H))
        if (o.length, o.channels) != want:
            raise err(f"{lab}: output shape {o.length}x{o.channels}, expected {want[0]}x{want[1]}", R.OP_SHAPE)
        check_mult(op, 2, 3, lab, err)

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        p = op.params
        return intops.matmul(xs[0], T[op.in0].zero_point, xs[1], T[op.in1].zero_point, p[0], bool(p[1]),
                             op.sparam(2), p[3], T[op.out].zero_point, op.act_min, op.act_max)

    def macs(self, op: OpInfo, T: list[TensorInfo]) -> tuple[int, int]:
        a, o = T[op.in0], T[op.out]
        n = o.length * o.channels * (a.channels // op.params[0])
        return n, n


OP = MatMul()
