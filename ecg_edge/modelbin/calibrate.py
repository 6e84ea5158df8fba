"""Activation calibration: per-tensor int8 (scale, zero point) from the float graph run on
training windows.

Choice (documented in export/FORMAT.md's packer notes): the full min/max over the calibration
windows, no percentile clipping, because clipping logits or residual sums changes argmax
decisions more than the coarser step costs. The range is rounded outward to 11 significant bits
so that exports are reproducible across BLAS builds (last-bit float differences cannot move it).
"""

from __future__ import annotations

import math

import numpy as np

from ecg_edge.modelbin.graph import Graph, float_forward
from ecg_edge.modelbin.layout import OP_MAXPOOL1D, OP_RELU
from ecg_edge.numerics import choose_activation_qparams

CALIB_CHUNK = 32


def round_out(v: float, up: bool) -> float:
    """Round v outward (up for a max, down for a min) to 11 significant bits."""
    if v == 0.0 or not math.isfinite(v):
        return 0.0 if not math.isfinite(v) else v
    e = math.floor(math.log2(abs(v)))
    q = 2.0 ** (e - 10)
    return (math.ceil(v / q) if up else math.floor(v / q)) * q


SAMPLE_PER_CHUNK = 65536


def tensor_ranges(g: Graph, X_lc: np.ndarray, chunk: int = CALIB_CHUNK, percentile: float | None = None,
                  input_percentile: float | None = None) -> list[tuple[float, float]]:
    """(min, max) of every tensor over X_lc (N, L, C); with `percentile` p, the (100-p, p)
    percentiles of a seeded sample of each tensor's values instead (the output keeps min/max);
    `input_percentile` applies a percentile to the graph input only."""
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
                if percentile is not None or (input_percentile is not None and i == g.input):
                    flat = v.ravel()
                    samples[i].append(flat if flat.size <= SAMPLE_PER_CHUNK
                                      else flat[rng.integers(0, flat.size, SAMPLE_PER_CHUNK)])
    for i, smp in enumerate(samples):
        p = input_percentile if (i == g.input and input_percentile is not None) else percentile
        if smp and p is not None and i != g.output:
            allv = np.concatenate(smp)
            lo[i] = float(np.percentile(allv, 100.0 - p))
            hi[i] = float(np.percentile(allv, p))
    return list(zip(lo, hi, strict=True))


def calibrate(g: Graph, X_lc: np.ndarray, percentile: float | None = None,
              input_percentile: float | None = None) -> None:
    """Set scale/zero_point of every tensor. MAXPOOL/RELU outputs inherit their input's."""
    ranges = tensor_ranges(g, X_lc, percentile=percentile, input_percentile=input_percentile)
    for i, t in enumerate(g.tensors):
        lo, hi = ranges[i]
        if not math.isfinite(lo):
            lo, hi = 0.0, 1.0
        t.scale, t.zero_point = choose_activation_qparams(round_out(lo, False), round_out(hi, True))
    for node in g.nodes:  # in graph order, so chains of pools inherit correctly
        if node.op in (OP_MAXPOOL1D, OP_RELU):
            src = g.tensors[node.inputs[0]]
            dst = g.tensors[node.output]
            dst.scale, dst.zero_point = src.scale, src.zero_point
