"""Activation calibration: per-tensor int8 (scale, zero point) from the float graph run on
training windows.

Choice (documented in export/FORMAT.md's packer notes): the full min/max over the calibration
windows, no percentile clipping, because clipping logits or residual sums changes argmax
decisions more than the coarser step costs. A graph may ask for the "mse" method instead
(Graph.calib_method; HuBERT-ECG does): per tensor, min/max or a symmetric percentile clip,
whichever reproduces the calibration values with the least squared error. One exception, exact by construction: a tensor read
only by GELU tables has its lower end raised to where GELU is flat (intops.gelu_input_floor),
so the step spends its levels where the function distinguishes them. The range is rounded outward to 11 significant bits
so that exports are reproducible across BLAS builds (last-bit float differences cannot move it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin.graph import float_forward
from ecg_edge.modelbin.intops import gelu_input_floor
from ecg_edge.modelbin.ir import GNode, Graph
from ecg_edge.modelbin.layout import OP_LUT
from ecg_edge.modelbin.ops import op_def
from ecg_edge.numerics import choose_activation_qparams

CALIB_CHUNK = 32
DEFAULT_CALIB_WINDOWS = 256


@dataclass(frozen=True)
class CalibSettings:
    """`ecg-edge export`'s --calib-windows / --calib-percentile / --calib-input-percentile."""
    windows: int = DEFAULT_CALIB_WINDOWS
    percentile: float | None = None
    input_percentile: float | None = None


def round_out(v: float, up: bool) -> float:
    """Round v outward (up for a max, down for a min) to 11 significant bits."""
    if v == 0.0 or not math.isfinite(v):
        return 0.0 if not math.isfinite(v) else v
    e = math.floor(math.log2(abs(v)))
    q = 2.0 ** (e - 10)
    return (math.ceil(v / q) if up else math.floor(v / q)) * q


def activation_qparams(lo: float, hi: float) -> tuple[float, int]:
    """The packer's int8 (scale, zero point) for a float range [lo, hi]: the range rounded
    outward (round_out), then numerics.choose_activation_qparams. Use this to fake-quantize
    activations exactly as model.bin will hold them."""
    return choose_activation_qparams(round_out(lo, False), round_out(hi, True))


def select_calibration(X: np.ndarray, max_windows: int = DEFAULT_CALIB_WINDOWS, seed: int = 0) -> np.ndarray:
    """A seeded subset of training windows, (N, leads, samples) -> (n, samples, leads) float64."""
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[0] == 0:
        raise EcgEdgeError(f"calibration data must be (N, leads, samples) with N >= 1, got shape {X.shape}")
    idx = np.arange(X.shape[0])
    if X.shape[0] > max_windows:
        idx = np.sort(np.random.default_rng(seed).choice(X.shape[0], max_windows, replace=False))
    return np.ascontiguousarray(np.asarray(X[idx], dtype=np.float64).transpose(0, 2, 1))


SAMPLE_PER_CHUNK = 65536
MSE_SAMPLE_PER_CHUNK = 16384
# Clipping candidates of the "mse" method: min/max, then these symmetric percentiles.
MSE_PERCENTILES = (99.9999, 99.999, 99.99, 99.95, 99.9)


def mse_range(values: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Of [lo, hi] (min/max) and the MSE_PERCENTILES ranges of `values`, the one whose int8
    grid (activation_qparams, clamped) reproduces `values` with the least squared error."""
    cands = [(lo, hi)] + [(float(np.percentile(values, 100.0 - p)), float(np.percentile(values, p)))
                          for p in MSE_PERCENTILES]
    best, best_err = (lo, hi), math.inf
    for c in cands:
        sc, zp = activation_qparams(*c)
        q = np.clip(np.round(values / sc) + zp, -128, 127)
        err = float(np.mean(((q - zp) * sc - values) ** 2))
        if err < best_err:
            best, best_err = c, err
    return best


def tensor_ranges(g: Graph, X_lc: np.ndarray, chunk: int = CALIB_CHUNK, percentile: float | None = None,
                  input_percentile: float | None = None, method: str = "minmax") -> list[tuple[float, float]]:
    """(min, max) of every tensor over X_lc (N, L, C); with `percentile` p, the (100-p, p)
    percentiles of a seeded sample of each tensor's values instead (the output keeps min/max);
    `input_percentile` applies a percentile to the graph input only. method "mse" (without a
    percentile): each tensor but the output gets mse_range of a seeded sample of its values."""
    if method not in ("minmax", "mse"):
        raise EcgEdgeError(f"calibration method {method!r} unknown (minmax, mse)")
    mse = method == "mse" and percentile is None
    lo = [math.inf] * len(g.tensors)
    hi = [-math.inf] * len(g.tensors)
    samples: list[list[np.ndarray]] = [[] for _ in g.tensors]
    rng = np.random.default_rng(0)
    for s in range(0, X_lc.shape[0], chunk):
        vals = float_forward(g, X_lc[s:s + chunk])
        for i, v in enumerate(vals):
            if v is not None and v.size:
                lo[i] = min(lo[i], float(v.min()))
                hi[i] = max(hi[i], float(v.max()))
                if mse or percentile is not None or (input_percentile is not None and i == g.input):
                    n_keep = MSE_SAMPLE_PER_CHUNK if mse else SAMPLE_PER_CHUNK
                    flat = v.ravel()
                    samples[i].append(flat if flat.size <= n_keep else flat[rng.integers(0, flat.size, n_keep)])
    for i, smp in enumerate(samples):
        if not smp or i == g.output:
            continue
        p = input_percentile if (i == g.input and input_percentile is not None) else percentile
        allv = np.concatenate(smp)
        if p is not None:
            lo[i] = float(np.percentile(allv, 100.0 - p))
            hi[i] = float(np.percentile(allv, p))
        elif mse:
            lo[i], hi[i] = mse_range(allv, lo[i], hi[i])
    return list(zip(lo, hi, strict=True))


def gelu_input_ranges(g: Graph, ranges: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Raise the lower end of every tensor read only by GELU LUTs to intops.gelu_input_floor of
    the (smallest) output step those LUTs will have."""
    readers: dict[int, list[GNode]] = {}
    for node in g.nodes:
        for i in node.inputs:
            readers.setdefault(i, []).append(node)
    out = list(ranges)
    for i, rs in readers.items():
        if i in (g.input, g.output) or not all(n.op == OP_LUT and n.func == "gelu" for n in rs):
            continue
        s_out = min(activation_qparams(*ranges[n.output])[0] for n in rs)
        lo, hi = out[i]
        out[i] = (max(lo, gelu_input_floor(s_out)), hi)
    return out


def calibrate(g: Graph, X_lc: np.ndarray, percentile: float | None = None,
              input_percentile: float | None = None) -> None:
    """Set scale/zero_point of every tensor. Outputs of ops that keep their input's quantization
    (MAXPOOL1D, RELU) inherit it; ops with a fixed output quantization (SOFTMAX) set it."""
    ranges = gelu_input_ranges(g, tensor_ranges(g, X_lc, percentile=percentile, input_percentile=input_percentile,
                                                 method=g.calib_method))
    for i, t in enumerate(g.tensors):
        lo, hi = ranges[i]
        if not math.isfinite(lo):
            lo, hi = 0.0, 1.0
        t.scale, t.zero_point = activation_qparams(lo, hi)
    for node in g.nodes:  # in graph order, so chains of pools inherit correctly
        od = op_def(node.op)
        if od.keeps_qparams:
            src = g.tensors[node.inputs[0]]
            dst = g.tensors[node.output]
            dst.scale, dst.zero_point = src.scale, src.zero_point
        if od.fixed_qparams is not None:  # SOFTMAX: probabilities in 1/256
            g.tensors[node.output].scale, g.tensors[node.output].zero_point = od.fixed_qparams
