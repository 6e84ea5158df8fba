"""What the device computes between the ADC and the model input, as typed fields.

Steps (export/FORMAT.md section 13 states them to the bit):
  1. offset and scale: d = sat24((s - s0) << k), s0 the stream's first sample, k = 8 for int16
     ADC codes, 0 for int32 (24-bit) codes, sat24 the clamp to +-(2^24 - 1);
  2. linear-interpolation resampling from the ADC rate to the model rate (rational, Q15 weights);
  3. a causal Butterworth band-pass as a cascade of biquads, Q29 coefficients, int64 accumulator;
  4. per-window z-score and quantization to the model's input scale and zero point, integer only
     (mean, isqrt of the variance, a per-window multiplier/shift, THE rounding rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecg_edge.errors import EcgEdgeError

CHAIN_VERSION = 1
COEF_SHIFT = 29  # biquad coefficients are Q29 (range +-4)
W_SHIFT = 15  # resampler weights are Q15
SAT = (1 << 24) - 1  # every intermediate signal value is clamped to +-SAT
MAX_SECTIONS = 8  # ECG_RT_STREAM_MAX_SECTIONS
MAX_LEADS = 12  # ECG_RT_STREAM_MAX_LEADS
MAX_WINDOW = 1 << 15  # sum of squares over the window stays below 2^63
MAX_UP = 1 << 16  # resampler: up factor (after gcd) at most this
SAMPLE_SHIFT = {"int16": 8, "int32": 0}  # raw code -> the 24-bit internal scale
DEFAULT_ADC_GAIN = 200.0  # counts per mV when converting mV recordings to ADC codes (MIT-BIH's gain)


class ChainError(EcgEdgeError):
    """A preprocessing configuration the device chain cannot realise."""


@dataclass(frozen=True)
class DeviceChain:
    """The `pp.*` META fields of one model.bin (FORMAT.md section 4 lists them)."""

    fs: int  # model input rate (Hz)
    adc_fs: int  # the ADC rate the firmware is configured for (Hz); the caller may override
    window: int  # samples per window at fs (= the model's input length)
    hop: int  # samples between window ends at fs
    leads: int
    sos_q29: tuple[int, ...]  # 5 per section: b0, b1, b2, a1, a2 (a0 = 1)
    input_mult: int  # input_mult * 2^-input_shift ~= 1 / input_scale
    input_shift: int
    zero_point: int
    adc_gain: float = DEFAULT_ADC_GAIN
    trained_chain: str = "device"  # the chain the training windows went through

    @property
    def n_sections(self) -> int:
        return len(self.sos_q29) // 5

    def sos(self) -> np.ndarray:
        return np.asarray(self.sos_q29, dtype=np.int64).reshape(-1, 5)

    def to_meta(self) -> dict[str, Any]:
        return {"pp.version": CHAIN_VERSION, "pp.fs": self.fs, "pp.adc_fs": self.adc_fs,
                "pp.window": self.window, "pp.hop": self.hop, "pp.sos_q29": list(self.sos_q29),
                "pp.input_mult": self.input_mult, "pp.input_shift": self.input_shift,
                "pp.adc_gain": float(self.adc_gain), "pp.trained_chain": self.trained_chain}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], where: str = "model.bin") -> DeviceChain:
        if "pp.version" not in meta:
            raise ChainError(f"{where}: no device preprocessing in META (pp.* fields); re-export it "
                             "from a checkpoint whose data has an integer fs and a band-pass")
        if int(meta["pp.version"]) != CHAIN_VERSION:
            raise ChainError(f"{where}: META pp.version {meta['pp.version']}, expected {CHAIN_VERSION}")
        return cls(fs=int(meta["pp.fs"]), adc_fs=int(meta["pp.adc_fs"]), window=int(meta["pp.window"]),
                   hop=int(meta["pp.hop"]), leads=int(meta["input_leads"]),
                   sos_q29=tuple(int(v) for v in meta["pp.sos_q29"]),
                   input_mult=int(meta["pp.input_mult"]), input_shift=int(meta["pp.input_shift"]),
                   zero_point=int(meta["input_zero_point"]), adc_gain=float(meta.get("pp.adc_gain", DEFAULT_ADC_GAIN)),
                   trained_chain=str(meta.get("pp.trained_chain", "device")))


def design_sos_q29(fs: float, band: tuple[float, float] | None, order: int) -> tuple[int, ...]:
    """Butterworth band-pass at fs as Q29 biquads (the high edge capped below Nyquist as the
    zero-phase chain does); no band = one identity section."""
    if band is None:
        return (1 << COEF_SHIFT, 0, 0, 0, 0)
    from scipy import signal

    lo, hi = float(band[0]), min(float(band[1]), 0.45 * fs)
    if not 0 < lo < hi:
        raise ChainError(f"band-pass {band}: expected 0 < low < high < 0.45 * fs ({0.45 * fs:g} Hz)")
    sos = signal.butter(order, [lo, hi], btype="bandpass", fs=fs, output="sos")
    if len(sos) > MAX_SECTIONS:
        raise ChainError(f"filter order {order} needs {len(sos)} biquads; the device chain holds {MAX_SECTIONS}")
    sos = _spread_gain(sos)
    out: list[int] = []
    for b0, b1, b2, _a0, a1, a2 in sos:
        for c in (b0, b1, b2, a1, a2):
            q = int(round(c * (1 << COEF_SHIFT)))
            if not -(1 << 31) <= q < (1 << 31):
                raise ChainError(f"biquad coefficient {c:.6g} does not fit Q29 (|c| < 4)")
            out.append(q)
    return tuple(out)


def _spread_gain(sos: np.ndarray) -> np.ndarray:
    """scipy puts the whole gain in the first section's numerator (b ~ 1e-4 at low cut-offs,
    few Q29 bits); share it equally so every numerator keeps its precision."""
    sos = np.array(sos, dtype=np.float64)
    gains = np.abs(sos[:, :3]).max(axis=1)
    g = float(np.prod(gains)) ** (1.0 / len(sos))
    sos[:, :3] *= (g / gains)[:, None]
    return sos


def input_multiplier(input_scale: float) -> tuple[int, int]:
    """1 / input_scale as M * 2^-n, M in [2^30, 2^31)."""
    from ecg_edge.numerics import quantize_multiplier

    return quantize_multiplier(1.0 / float(input_scale))


def chain_for(pre: dict[str, Any], *, input_scale: float, zero_point: int, window: int, leads: int,
              adc_fs: int | None = None, hop: int | None = None) -> DeviceChain:
    """The device chain of a model whose training data used preprocessing `pre` (the manifest's
    preprocess dict). Raises ChainError when it cannot be realised (non-integer fs, no zscore)."""
    fs = float(pre.get("fs", 0.0))
    if fs <= 0 or abs(fs - round(fs)) > 1e-9:
        raise ChainError(f"preprocessing fs {fs!r}: the device chain needs an integer sampling rate")
    if pre.get("normalise", "zscore") != "zscore":
        raise ChainError(f"preprocessing normalise {pre.get('normalise')!r}: the device chain z-scores each window")
    band = pre.get("band")
    m, n = input_multiplier(input_scale)
    return DeviceChain(fs=int(round(fs)), adc_fs=int(adc_fs or pre.get("adc_fs") or round(fs)),
                       window=int(window), hop=int(hop or pre.get("hop") or window), leads=int(leads),
                       sos_q29=design_sos_q29(fs, tuple(band) if band else None, int(pre.get("filter_order", 3))),
                       input_mult=m, input_shift=n, zero_point=int(zero_point),
                       adc_gain=float(pre.get("adc_gain", DEFAULT_ADC_GAIN)),
                       trained_chain=str(pre.get("chain", "zero-phase")))


def resample_factors(fs: int, adc_fs: int) -> tuple[int, int]:
    """(up, down) of the linear resampler, or ChainError for a rate it does not support."""
    if adc_fs <= 0 or fs <= 0:
        raise ChainError(f"ADC rate {adc_fs} Hz: expected a positive integer")
    g = math.gcd(fs, adc_fs)
    up, down = fs // g, adc_fs // g
    if up > MAX_UP:
        raise ChainError(f"ADC rate {adc_fs} Hz -> {fs} Hz needs an up factor {up} > {MAX_UP}; "
                         "pick an ADC rate with a simpler ratio to the model rate")
    if down > 2 * up:
        raise ChainError(f"ADC rate {adc_fs} Hz is more than twice the model rate {fs} Hz; the linear "
                         "resampler has no anti-alias filter (supported: fs/64 < ADC rate <= 2 x fs)")
    if up > 64 * down:
        raise ChainError(f"ADC rate {adc_fs} Hz is below fs/64 = {fs / 64:g} Hz; supported: "
                         f"{fs / 64:g} Hz < ADC rate <= {2 * fs} Hz")
    return up, down
