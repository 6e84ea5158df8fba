"""CONV1D (op 0): kernel K, stride, asymmetric padding (reads the input zero point), dilation,
groups 1, depthwise, or (format version 2) any count dividing C_in and C_out; weights w[c][k][i] (span = K * C_in / groups). p0..p5 = K, stride,
pad_left, pad_right, dilation, groups."""

from __future__ import annotations

import numpy as np

from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_CONV1D
from ecg_edge.modelbin.ops.base import (
    Err,
    IntOp,
    OpDef,
    check_window,
    dot_dtype,
    float_windows,
    lower_weighted,
    weighted_macs,
)
from ecg_edge.modelbin.records import OpInfo, TensorInfo
from ecg_edge.numerics import requantize


class Conv1d(OpDef):
    code = OP_CONV1D
    has_weights = True

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        x = xs[0]
        w = node.weights
        assert w is not None
        n, _, c_in = x.shape
        c_out, g = out.channels, node.groups
        cig, cog = c_in // g, c_out // g
        wf = (w.levels.astype(np.float64) * w.scale[:, None]).reshape(c_out, node.kernel, cig)
        acc = np.zeros((n, out.length, c_out))
        taps = float_windows(x, node.kernel, node.stride, node.pad_left, node.pad_right, out.length, 0.0,
                             node.dilation)
        for j, xs_j in enumerate(taps):
            if g == 1:
                acc += xs_j @ wf[:, j, :].T
            else:
                for gi in range(g):
                    acc[..., gi * cog:(gi + 1) * cog] += (xs_j[..., gi * cig:(gi + 1) * cig]
                                                          @ wf[gi * cog:(gi + 1) * cog, j, :].T)
        return acc + w.bias

    def lower(self, g: Graph, node: GNode) -> IntOp:
        return lower_weighted(g, node, node.kernel, [node.kernel, node.stride, node.pad_left, node.pad_right,
                                                     node.dilation, node.groups])

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        check_window(op, T, lab, err, dil=op.params[4], pads_below_kernel=False, conv=True)
        a, o = T[op.in0], T[op.out]
        g = op.params[5]
        if g < 1 or a.channels % g or o.channels % g:
            raise err(f"{lab}: groups {g} must be >= 1 and divide C_in {a.channels} and C_out {o.channels}",
                      R.OP_PARAMS)


    def version_needed(self, params: list[int], c_in: int, c_out: int) -> int:
        g = params[5]
        return 1 if g == 1 or g == c_in == c_out else 2

    def block_span(self, op: OpInfo, T: list[TensorInfo], kernel: int, bl: str, err: Err) -> int:
        if op.params[0] != kernel:
            raise err(f"{bl}: field 'kernel' {kernel} disagrees with the op's kernel p0 {op.params[0]}", R.BLOCK_KERNEL)
        return op.params[0] * (T[op.in0].channels // op.params[5])

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        blk = op.block
        assert blk is not None
        x, zp_in, to = xs[0], T[op.in0].zero_point, T[op.out]
        K, stride, pl, pr, dil, groups = op.params[:6]
        l_out, c_out = to.length, to.channels
        n, L, c_in = x.shape
        cig, cog = c_in // groups, c_out // groups
        dt = dot_dtype(blk.levels)
        xf = np.full((n, L + pl + pr, c_in), zp_in, dtype=dt)  # padding reads the input zero point
        xf[:, pl:pl + L, :] = x
        w = blk.levels.astype(dt).reshape(c_out, K, cig)
        acc = np.zeros((n, l_out, c_out), dtype=dt)
        last = stride * (l_out - 1) + 1
        for k in range(K):
            wk = w[:, k, :]
            if not wk.any():
                continue
            xs_k = xf[:, k * dil:k * dil + last:stride, :]
            if groups == 1:
                acc += xs_k @ wk.T
            elif cig == 1 and cog == 1:  # depthwise
                acc += xs_k * wk[:, 0]
            else:
                for g in range(groups):
                    acc[..., g * cog:(g + 1) * cog] += xs_k[..., g * cig:(g + 1) * cig] @ wk[g * cog:(g + 1) * cog].T
        return requantize(acc.astype(np.int64) + blk.bias, blk.mult, blk.shift, to.zero_point, op.act_min, op.act_max)

    def macs(self, op: OpInfo, T: list[TensorInfo]) -> tuple[int, int]:
        return weighted_macs(op, T[op.out].length)


OP = Conv1d()
