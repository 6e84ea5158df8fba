"""The integer reference executor: runs a validated ModelBin with exactly the integer arithmetic of
export/FORMAT.md section 7, on the levels decoded from the file's own bitstreams.

Vectorised over windows, time and channels. Integer dot products run as BLAS float matrix
products, exactly: every operand and partial sum is an integer. float32 is used for a layer only
when 128 * sum|w[c]| < 2^24 for every channel (then every partial sum is an integer float32 holds
exactly, in any summation order), float64 otherwise (exact below 2^53; the reader proves
|acc| < 2^31). Results are converted to int64 before requantization.
"""

from __future__ import annotations

import numpy as np

from ecg_edge.errors import ModelFormatError
from ecg_edge.modelbin.layout import (
    OP_ADD,
    OP_AVGPOOL1D,
    OP_CONV1D,
    OP_GLOBAL_AVGPOOL,
    OP_LINEAR,
    OP_MAXPOOL1D,
    OP_RELU,
)
from ecg_edge.modelbin.reader import ModelBin, OpInfo
from ecg_edge.numerics import quantize_activation, rounding_shift

DEFAULT_BATCH = 32


def quantize_inputs(mb: ModelBin, X: np.ndarray) -> np.ndarray:
    """Float windows (N, leads, samples) -> int8 (N, L, C) with the input tensor's scale/zero point."""
    X = np.asarray(X)
    L, C = mb.input_shape
    if X.ndim == 2:
        X = X[None]
    if X.ndim != 3 or X.shape[1:] != (C, L):
        raise ModelFormatError(f"{mb.source}: inputs have shape {X.shape}, the model expects (N, {C} leads, {L} samples)")
    t = mb.tensors[mb.input_tensor]
    return quantize_activation(X.transpose(0, 2, 1), t.scale, t.zero_point)


def _check_input(mb: ModelBin, x_q: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.asarray(x_q)
    L, C = mb.input_shape
    single = x.ndim == 2
    if single:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (L, C):
        raise ModelFormatError(f"{mb.source}: int8 input has shape {np.asarray(x_q).shape}, expected ({L}, {C}) or (N, {L}, {C})")
    if x.dtype != np.int8:
        raise ModelFormatError(f"{mb.source}: input dtype {x.dtype}, expected int8")
    return x, single


def _requant_op(op: OpInfo, acc: np.ndarray, zp_out: int, mult, shift) -> np.ndarray:
    y = rounding_shift(acc, mult, shift) + np.int64(zp_out)
    return np.clip(y, op.act_min, op.act_max).astype(np.int8)


def _windows(x: np.ndarray, K: int, stride: int, pl: int, pr: int, l_out: int, fill: int):
    n, L, c = x.shape
    xp = np.full((n, L + pl + pr, c), fill, dtype=np.int64)
    xp[:, pl:pl + L, :] = x
    last = stride * (l_out - 1) + 1
    return [xp[:, k:k + last:stride, :] for k in range(K)]


def _run_ops(mb: ModelBin, x: np.ndarray, keep_all: bool) -> list[np.ndarray | None]:
    T = mb.tensors
    vals: list[np.ndarray | None] = [None] * len(T)
    vals[mb.input_tensor] = x
    trace: list[np.ndarray | None] = []
    for op in mb.ops:
        a = vals[op.in0]
        assert a is not None
        ta, to = T[op.in0], T[op.out]
        if op.op in (OP_CONV1D, OP_LINEAR):
            blk = op.block
            assert blk is not None
            if op.op == OP_LINEAR:
                dt = _dot_dtype(blk.levels)
                v = a.reshape(a.shape[0], -1).astype(dt) @ blk.levels.astype(dt).T
                acc = v.astype(np.int64)[:, None, :] + blk.bias
            else:
                acc = _conv_acc(op, a, ta.zero_point, to.length, to.channels)
            y = _requant_op(op, acc, to.zero_point, blk.mult, blk.shift)
        elif op.op == OP_ADD:
            b = vals[op.in1]
            assert b is not None
            tb = T[op.in1]
            s = ((a.astype(np.int64) - ta.zero_point) * op.sparam(0)
                 + (b.astype(np.int64) - tb.zero_point) * op.sparam(1))
            y = _requant_op(op, s, to.zero_point, 1, op.params[2])
        elif op.op == OP_MAXPOOL1D:
            K, st, pl, pr = op.params[:4]
            y = np.max(_windows(a, K, st, pl, pr, to.length, -(1 << 20)), axis=0)
            y = np.clip(y, op.act_min, op.act_max).astype(np.int8)
        elif op.op == OP_AVGPOOL1D:
            K, st, pl, pr = op.params[:4]
            w = _windows(a.astype(np.int64) - ta.zero_point, K, st, pl, pr, to.length, 0)
            y = _requant_op(op, np.sum(w, axis=0), to.zero_point, op.sparam(4), op.params[5])
        elif op.op == OP_GLOBAL_AVGPOOL:
            acc = (a.astype(np.int64) - ta.zero_point).sum(axis=1, keepdims=True)
            y = _requant_op(op, acc, to.zero_point, op.sparam(0), op.params[1])
        elif op.op == OP_RELU:
            y = np.clip(a, op.act_min, op.act_max).astype(np.int8)
        else:  # the reader refuses these already
            raise ModelFormatError(f"{mb.source}: op type {op.op} is not runnable")
        vals[op.out] = y
        if keep_all:
            trace.append(y)
    return trace if keep_all else vals


def _dot_dtype(levels: np.ndarray) -> type:
    """float32 when every partial sum is an integer below 2^24 (so exactly representable in any
    order): |x| <= 128 and 128 * sum|w[c]| < 2^24; float64 (exact below 2^53) otherwise."""
    bound = 128 * int(np.abs(levels.astype(np.int64)).sum(axis=1).max(initial=0))
    return np.float32 if bound < (1 << 24) else np.float64


def _conv_acc(op: OpInfo, x: np.ndarray, zp_in: int, l_out: int, c_out: int) -> np.ndarray:
    blk = op.block
    assert blk is not None
    K, stride, pl, pr, dil, groups = op.params[:6]
    n, L, c_in = x.shape
    cig, cog = c_in // groups, c_out // groups
    dt = _dot_dtype(blk.levels)
    xf = np.full((n, L + pl + pr, c_in), zp_in, dtype=dt)  # padding reads the input zero point
    xf[:, pl:pl + L, :] = x
    w = blk.levels.astype(dt).reshape(c_out, K, cig)
    acc = np.zeros((n, l_out, c_out), dtype=dt)
    last = stride * (l_out - 1) + 1
    for k in range(K):
        wk = w[:, k, :]
        if not wk.any():
            continue
        xs = xf[:, k * dil:k * dil + last:stride, :]
        if groups == 1:
            acc += xs @ wk.T
        elif cig == 1 and cog == 1:  # depthwise
            acc += xs * wk[:, 0]
        else:
            for g in range(groups):
                acc[..., g * cog:(g + 1) * cog] += xs[..., g * cig:(g + 1) * cig] @ wk[g * cog:(g + 1) * cog].T
    return acc.astype(np.int64) + blk.bias


def run_traced(mb: ModelBin, x_q: np.ndarray) -> list[np.ndarray]:
    """Every op's output, in op order: int8 [L][C] each (or (N, L, C) for a batch)."""
    x, single = _check_input(mb, x_q)
    outs = _run_ops(mb, x, keep_all=True)
    return [o[0] if single else o for o in outs]  # type: ignore[index]


def run(mb: ModelBin, x_q: np.ndarray, batch: int = DEFAULT_BATCH) -> np.ndarray:
    """int8 [L][C] -> int8 logits (n_classes,); a batch (N, L, C) -> (N, n_classes)."""
    x, single = _check_input(mb, x_q)
    outs = []
    for s in range(0, x.shape[0], batch):
        vals = _run_ops(mb, x[s:s + batch], keep_all=False)
        o = vals[mb.output_tensor]
        assert o is not None
        outs.append(o.reshape(o.shape[0], -1))
    y = np.concatenate(outs, axis=0) if outs else np.zeros((0, mb.n_classes), np.int8)
    return y[0] if single else y
