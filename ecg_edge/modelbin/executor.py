"""The integer reference executor: runs a validated ModelBin with exactly the integer arithmetic of
export/FORMAT.md section 7, on the levels decoded from the file's own bitstreams; each op's
arithmetic is its registry module's `run` (ecg_edge.modelbin.ops).

Vectorised over windows, time and channels. Integer dot products run as BLAS float matrix
products, exactly: every operand and partial sum is an integer. float32 is used for a layer only
when 128 * sum|w[c]| < 2^24 for every channel (then every partial sum is an integer float32 holds
exactly, in any summation order), float64 otherwise (exact below 2^53; the reader proves
|acc| < 2^31). Results are converted to int64 before requantization.
"""

from __future__ import annotations

import numpy as np

from ecg_edge.errors import ModelFormatError
from ecg_edge.modelbin.ops import op_def
from ecg_edge.modelbin.records import ModelBin
from ecg_edge.numerics import quantize_activation

DEFAULT_BATCH = 32


def window_shape(mb: ModelBin) -> tuple[int, int]:
    """(leads, samples) of the dataset windows this model takes: its input tensor's shape, or
    the recorded input adapter's window (HuBERT-ECG)."""
    adapter = mb.meta.get("input_adapter")
    if adapter:
        import json

        spec = json.loads(str(adapter))
        return int(spec["in_leads"]), int(spec["n_samples"])
    L, C = mb.input_shape
    return C, L


def quantize_inputs(mb: ModelBin, X: np.ndarray) -> np.ndarray:
    """Float windows (N, leads, samples) -> int8 (N, L, C) with the input tensor's scale/zero point."""
    X = np.asarray(X)
    L, C = mb.input_shape
    if X.ndim == 2:
        X = X[None]
    adapter = mb.meta.get("input_adapter")
    if adapter and X.ndim == 3:  # HuBERT-ECG: resample/DC/min-max on the host, then one sequence
        from ecg_edge.modelbin.hubert_graph import adapt_with_meta

        t = mb.tensors[mb.input_tensor]
        return quantize_activation(adapt_with_meta(str(adapter), X), t.scale, t.zero_point)
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


def _run_ops(mb: ModelBin, x: np.ndarray, keep_all: bool) -> list[np.ndarray | None]:
    T = mb.tensors
    vals: list[np.ndarray | None] = [None] * len(T)
    vals[mb.input_tensor] = x
    trace: list[np.ndarray | None] = []
    for op in mb.ops:
        y = op_def(op.op).run(op, [vals[i] for i in op.inputs], T)  # the reader refused unknown ops
        vals[op.out] = y
        if keep_all:
            trace.append(y)
    return trace if keep_all else vals


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
