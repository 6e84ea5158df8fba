"""The integer arithmetic every runtime shares (export/FORMAT.md, "Numerics").

Weight quantization lives here too, so the PyTorch fake-quant used during the compression search
and the packer that writes model.bin produce the very same integer weights.
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
# Clip ratios tried per output channel for b >= 2 (MSE-optimal clipping of the symmetric range).
CLIP_RATIOS = np.array([1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5], dtype=np.float64)


def qmax_for_bits(bits: int) -> int:
    """Largest level magnitude for b-bit symmetric weights (b = 1 is binary +-1)."""
    if not 1 <= bits <= 8:
        raise ValueError(f"bit-width must be 1..8, got {bits}")
    return 1 if bits == 1 else (1 << (bits - 1)) - 1


def quantize_weight_channels(w: np.ndarray, bits: int, mask: np.ndarray | None = None
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel (axis 0) symmetric quantization to `bits` bits.

    Returns (levels int8 of w's shape, scales float64 (C_out,)). Pruned weights (mask False, or
    exactly zero when no mask is given) get level 0. b = 1: levels are +-1 on kept weights with
    scale = mean |w| of the kept weights (the L2-optimal binary scale). b >= 2: levels in
    [-qmax, qmax] with the scale chosen among CLIP_RATIOS * max|w| to minimise squared error.
    """
    w = np.asarray(w, dtype=np.float64)
    c_out = w.shape[0]
    flat = w.reshape(c_out, -1)
    keep = (flat != 0) if mask is None else np.asarray(mask, dtype=bool).reshape(c_out, -1)
    flat = np.where(keep, flat, 0.0)
    levels = np.zeros(flat.shape, dtype=np.int8)
    scales = np.ones(c_out, dtype=np.float64)
    qmax = qmax_for_bits(bits)
    for c in range(c_out):
        row, k = flat[c], keep[c]
        if not k.any():
            continue
        if bits == 1:
            scales[c] = float(np.abs(row[k]).mean()) or 1.0
            levels[c] = np.where(k, np.where(row >= 0, 1, -1), 0)
            continue
        amax = float(np.abs(row).max())
        if amax == 0.0:
            continue
        best_err, best_s, best_q = math.inf, 1.0, None
        for r in CLIP_RATIOS:
            s = amax * r / qmax
            q = np.clip(np.round(row / s), -qmax, qmax)
            q = np.where(k, q, 0)
            err = float(((q * s - row) ** 2).sum())
            if err < best_err - 1e-18:
                best_err, best_s, best_q = err, s, q
        scales[c] = best_s
        levels[c] = best_q.astype(np.int8)
    return levels.reshape(w.shape), scales


def dequantize_weight_channels(levels: np.ndarray, scales: np.ndarray) -> np.ndarray:
    shape = (-1,) + (1,) * (levels.ndim - 1)
    return levels.astype(np.float64) * scales.reshape(shape)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Represent a positive real factor as M * 2**-n, M in [2**30, 2**31), 1 <= n <= 62.

    Factors too small for n <= 62 keep n = 62 and a smaller M (possibly 0).
    """
    if not (real > 0.0 and math.isfinite(real)):
        raise ValueError(f"requantization factor must be positive and finite, got {real!r}")
    frac, exp = math.frexp(real)  # real = frac * 2**exp, frac in [0.5, 1)
    m = int(round(frac * (1 << 31)))
    if m == (1 << 31):
        m //= 2
        exp += 1
    n = 31 - exp
    if n < 1:
        raise ValueError(f"requantization factor {real!r} is too large (needs shift {n} < 1)")
    if n > 62:
        m = int(round(m / float(1 << (n - 62))))
        n = 62
    return m, n


def rounding_shift(acc: np.ndarray | int, mult: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """floor((acc * M + 2**(n-1)) / 2**n) in int64: round half up. THE rounding rule."""
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    return (acc * mult + (np.int64(1) << (shift - 1))) >> shift


def requantize(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray, zero_point: int,
               act_min: int = INT8_MIN, act_max: int = INT8_MAX) -> np.ndarray:
    """int32 accumulator -> int8: rounding_shift, add the output zero point, clamp."""
    y = rounding_shift(acc, mult, shift) + np.int64(zero_point)
    return np.clip(y, act_min, act_max).astype(np.int8)


def choose_activation_qparams(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric per-tensor int8 (scale, zero_point) covering [lo, hi], with 0 exactly representable."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:
        hi = lo + 1e-6
    scale = (hi - lo) / 255.0
    zp = int(round(INT8_MIN - lo / scale))
    return scale, int(np.clip(zp, INT8_MIN, INT8_MAX))


def quantize_activation(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Host-side float -> int8 (inputs only; the device path never sees a float)."""
    q = np.round(np.asarray(x, dtype=np.float64) / scale) + zero_point
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)
