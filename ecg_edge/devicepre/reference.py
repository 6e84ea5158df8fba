"""The numpy integer reference of the device chain (chain.py). The C stream
(runtime_c/src/stream_*.c) must reproduce every value here bit for bit; the tests compare them.

Signals are int64 arrays shaped (..., leads, time); windows for the model are int8 [time][leads]."""

from __future__ import annotations

import math

import numpy as np

from ecg_edge.devicepre.chain import (
    COEF_SHIFT,
    MAX_WINDOW,
    SAMPLE_SHIFT,
    SAT,
    W_SHIFT,
    ChainError,
    DeviceChain,
    design_sos_q29,
    resample_factors,
)


def mv_to_codes(x_mv: np.ndarray, gain: float) -> np.ndarray:
    """A recording in mV as the int16 codes of an ADC with `gain` counts per mV (saturating)."""
    return np.clip(np.round(np.asarray(x_mv, dtype=np.float64) * gain), -32768, 32767).astype(np.int16)


def offset_scale(codes: np.ndarray, sample_type: str = "int16") -> np.ndarray:
    """Step 1: d = sat24((s - s0) << k); s0 = the first sample of each lead."""
    s = np.asarray(codes, dtype=np.int64)
    if s.shape[-1] == 0:
        return s
    return np.clip((s - s[..., :1]) << SAMPLE_SHIFT[sample_type], -SAT, SAT)


def resample_weights(up: int) -> np.ndarray:
    """Q15 weight of phase r: round(r * 2^15 / up), half up, integer."""
    r = np.arange(up, dtype=np.int64)
    return (r * (1 << W_SHIFT) + up // 2) // up


def n_resampled(n_in: int, up: int, down: int) -> int:
    """Outputs the causal resampler has emitted after n_in inputs: output j sits at input position
    j * down / up and needs the inputs around it."""
    return 0 if n_in <= 0 else (n_in - 1) * up // down + 1


def resample_linear(d: np.ndarray, up: int, down: int) -> np.ndarray:
    """Step 2: y_j = d_i + floor(((d_{i+1} - d_i) * W[r] + 2^14) / 2^15), j * down = i * up + r."""
    d = np.asarray(d, dtype=np.int64)
    if up == down:
        return d
    n = n_resampled(d.shape[-1], up, down)
    pos = np.arange(n, dtype=np.int64) * down
    i, r = pos // up, pos % up
    nxt = np.minimum(i + 1, d.shape[-1] - 1)  # r == 0 never reads it (weight 0)
    w = resample_weights(up)[r]
    a, b = d[..., i], d[..., nxt]
    return a + (((b - a) * w + (1 << (W_SHIFT - 1))) >> W_SHIFT)


def biquad_cascade(x: np.ndarray, sos_q29: np.ndarray) -> np.ndarray:
    """Step 3, direct form I from zero state per section:
    acc = b0 x + b1 x1 + b2 x2 - a1 y1 - a2 y2 (int64), y = sat24(floor((acc + 2^28) / 2^29))."""
    x = np.asarray(x, dtype=np.int64)
    shape = x.shape
    rows = x.reshape(-1, shape[-1]) if x.size else x.reshape(0, shape[-1])
    sos = np.asarray(sos_q29, dtype=np.int64).reshape(-1, 5)
    out = rows.copy()
    for b0, b1, b2, a1, a2 in sos.tolist():
        if rows.shape[0] <= 4:
            out = np.array([_biquad_row(row.tolist(), b0, b1, b2, a1, a2) for row in out],
                           dtype=np.int64).reshape(out.shape)
        else:
            out = _biquad_rows(out, b0, b1, b2, a1, a2)
    return out.reshape(shape)


_HALF = 1 << (COEF_SHIFT - 1)


def _biquad_row(x: list[int], b0: int, b1: int, b2: int, a1: int, a2: int) -> list[int]:
    """One long signal in Python ints (faster than numpy scalars for a 30-minute record)."""
    x1 = x2 = y1 = y2 = 0
    out = [0] * len(x)
    lim = SAT
    for t, x0 in enumerate(x):
        y = (b0 * x0 + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2 + _HALF) >> COEF_SHIFT
        y = lim if y > lim else (-lim if y < -lim else y)
        out[t] = y
        x2, x1, y2, y1 = x1, x0, y1, y
    return out


def _biquad_rows(x: np.ndarray, b0: int, b1: int, b2: int, a1: int, a2: int) -> np.ndarray:
    """Many windows at once: one numpy step per time sample across all rows."""
    n, T = x.shape
    out = np.empty_like(x)
    x1 = np.zeros(n, np.int64)
    x2 = np.zeros(n, np.int64)
    y1 = np.zeros(n, np.int64)
    y2 = np.zeros(n, np.int64)
    B0, B1, B2, A1, A2 = (np.int64(v) for v in (b0, b1, b2, a1, a2))
    for t in range(T):
        x0 = x[:, t]
        y = np.clip((B0 * x0 + B1 * x1 + B2 * x2 - A1 * y1 - A2 * y2 + _HALF) >> COEF_SHIFT, -SAT, SAT)
        out[:, t] = y
        x2, x1, y2, y1 = x1, x0, y1, y
    return out


def condition(codes: np.ndarray, adc_fs: int, fs: int, sos_q29: np.ndarray | tuple[int, ...],
              sample_type: str = "int16") -> np.ndarray:
    """Steps 1-3 over whole recordings (..., leads, time) of ADC codes -> int64 at fs."""
    up, down = resample_factors(int(fs), int(adc_fs))
    return biquad_cascade(resample_linear(offset_scale(codes, sample_type), up, down), np.asarray(sos_q29))


def window_stats(xw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer mean (half up) and isqrt of the integer variance of each lead, xw (..., leads, N)."""
    x = np.asarray(xw, dtype=np.int64)
    N = x.shape[-1]
    if not 1 <= N <= MAX_WINDOW:
        raise ChainError(f"window of {N} samples: the device chain supports 1..{MAX_WINDOW}")
    mu = (x.sum(axis=-1) + N // 2) // N
    var = ((x - mu[..., None]) ** 2).sum(axis=-1) // N
    sd = np.vectorize(math.isqrt, otypes=[np.int64])(var) if var.size else var
    return mu, sd


def zscore_float(xw: np.ndarray) -> np.ndarray:
    """The training view of a window: (x - mu) / sd with the device's integer mu and sd (a flat
    lead stays 0), float32 (..., leads, N)."""
    mu, sd = window_stats(xw)
    z = (np.asarray(xw, dtype=np.float64) - mu[..., None]) / np.where(sd > 0, sd, 1)[..., None]
    return np.where((sd > 0)[..., None], z, 0.0).astype(np.float32)


def quantize_window(xw: np.ndarray, chain: DeviceChain) -> np.ndarray:
    """Step 4: one window (leads, N) int64 -> the model input int8 [N][leads]:
    q = clamp(rshift_round(x - mu, M, n) + zp), M = floor(M0 * 2^k / sd), n = n0 + k,
    k = bit_length(sd) - 1, so M * 2^-n ~= 1 / (sd * input_scale); sd = 0 gives zp."""
    x = np.asarray(xw, dtype=np.int64)
    mu, sd = window_stats(x)
    out = np.full(x.shape, chain.zero_point, dtype=np.int64)
    for c in range(x.shape[0]):
        s = int(sd[c])
        if s == 0:
            continue
        k = s.bit_length() - 1
        m, n = (chain.input_mult << k) // s, chain.input_shift + k
        v = x[c] - mu[c]
        out[c] = ((v * m + (1 << (n - 1))) >> n) + chain.zero_point
    return np.clip(out, -128, 127).astype(np.int8).T.copy()


def window_starts(n_out: int, window: int, hop: int) -> np.ndarray:
    """Start (at fs) of every complete window: window w covers [w * hop, w * hop + window)."""
    if n_out < window:
        return np.zeros(0, dtype=np.int64)
    return np.arange((n_out - window) // hop + 1, dtype=np.int64) * hop


def stream_windows(codes: np.ndarray, chain: DeviceChain, adc_fs: int | None = None, hop: int | None = None,
                   sample_type: str = "int16") -> np.ndarray:
    """The offline twin of the C stream: a whole recording (leads, T) of ADC codes -> int8 model
    inputs (W, window, leads), one per hop."""
    y = condition(codes, adc_fs or chain.adc_fs, chain.fs, chain.sos(), sample_type)
    hop = hop or chain.hop
    starts = window_starts(y.shape[-1], chain.window, hop)
    out = np.empty((len(starts), chain.window, y.shape[0]), dtype=np.int8)
    for w, s in enumerate(starts):
        out[w] = quantize_window(y[:, s:s + chain.window], chain)
    return out


def prepare_record(x_mv: np.ndarray, rec_fs: float, fs: float, band: tuple[float, float] | None,
                   order: int, gain: float) -> np.ndarray:
    """Training side: a record in mV (..., leads, T) at rec_fs -> the device's filtered int64 signal
    at fs (cut windows from it and z-score them with zscore_float)."""
    if abs(rec_fs - round(rec_fs)) > 1e-9 or abs(fs - round(fs)) > 1e-9:
        raise ChainError(f"device chain: rates must be integers (record {rec_fs:g} Hz, model {fs:g} Hz)")
    return condition(mv_to_codes(x_mv, gain), int(round(rec_fs)), int(round(fs)), design_sos_q29(fs, band, order))
