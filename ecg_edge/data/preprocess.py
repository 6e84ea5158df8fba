"""Signal preprocessing shared by every source (real and synthetic), so a model sees the same
kind of input whatever the recordings were: polyphase resampling, zero-phase band-pass,
zero-pad/crop to a fixed length and per-window normalisation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np
from scipy import signal

from ecg_edge.errors import DataError

NORMALISATIONS = ("zscore", "none")
# "zero-phase": polyphase resampling + sosfiltfilt (offline only); "device": the integer chain the
# C stream runs (ecg_edge.devicepre), so training sees exactly what the device computes.
CHAINS = ("zero-phase", "device")


@dataclass
class PreprocessConfig:
    fs: float = 500.0  # target sampling rate (Hz)
    n_samples: int = 5120  # window length after pad/crop (the paper's 5120)
    band: tuple[float, float] | None = (0.5, 40.0)  # band-pass edges (Hz); None = no filter
    filter_order: int = 3
    normalise: str = "zscore"  # per window and lead: (x - mean) / std; "none" keeps mV
    chain: str = "zero-phase"  # one of CHAINS
    adc_gain: float = 200.0  # device chain: ADC counts per mV the recordings are converted to

    def __post_init__(self) -> None:
        if self.fs <= 0 or self.n_samples <= 0:
            raise DataError(f"preprocessing: fs ({self.fs}) and n_samples ({self.n_samples}) must be positive")
        if self.normalise not in NORMALISATIONS:
            raise DataError(f"preprocessing: normalise must be one of {', '.join(NORMALISATIONS)}, got {self.normalise!r}")
        if self.chain not in CHAINS:
            raise DataError(f"preprocessing: chain must be one of {', '.join(CHAINS)}, got {self.chain!r}")
        if self.chain == "device" and (self.normalise != "zscore" or abs(self.fs - round(self.fs)) > 1e-9
                                       or self.adc_gain <= 0):
            raise DataError(f"preprocessing: the device chain needs an integer fs (got {self.fs:g}), "
                            f"normalise zscore (got {self.normalise!r}) and adc_gain > 0 (got {self.adc_gain:g})")
        if self.band is not None:
            self.band = (float(self.band[0]), float(self.band[1]))

    def to_dict(self) -> dict:
        return asdict(self)


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling along the last axis (anti-aliased); exact rational ratio."""
    if abs(fs_in - fs_out) < 1e-9:
        return np.asarray(x, dtype=np.float32)
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    up, down = ratio.numerator, ratio.denominator
    return signal.resample_poly(np.asarray(x, dtype=np.float64), up, down, axis=-1).astype(np.float32)


def bandpass(x: np.ndarray, fs: float, band: tuple[float, float], order: int = 3) -> np.ndarray:
    """Zero-phase Butterworth band-pass along the last axis (high edge capped below Nyquist)."""
    lo, hi = band
    hi = min(hi, 0.45 * fs)
    if x.shape[-1] < 3 * (2 * order + 1) * 2:
        return np.asarray(x, dtype=np.float32)
    sos = signal.butter(order, [lo, hi], btype="bandpass", fs=fs, output="sos")
    padlen = min(x.shape[-1] - 1, int(3 * fs / max(lo, 1e-3)))
    return signal.sosfiltfilt(sos, np.asarray(x, dtype=np.float64), axis=-1, padlen=padlen).astype(np.float32)


def pad_crop(x: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad at the end or centre-crop along the last axis to exactly n samples."""
    m = x.shape[-1]
    if m == n:
        return x
    if m > n:
        start = (m - n) // 2
        return x[..., start:start + n]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, n - m)]
    return np.pad(x, pad)


def normalise(x: np.ndarray, method: str) -> np.ndarray:
    """Per window and lead; a flat lead (std 0) stays at zero instead of dividing by zero."""
    if method == "none":
        return np.asarray(x, dtype=np.float32)
    x = np.asarray(x, dtype=np.float32)
    mu = x.mean(axis=-1, keepdims=True)
    sd = x.std(axis=-1, keepdims=True)
    return ((x - mu) / np.where(sd > 1e-6, sd, 1.0)).astype(np.float32)


def device_condition(x: np.ndarray, fs_in: float, cfg: PreprocessConfig) -> np.ndarray:
    """The device chain's steps 1-3 (ADC codes, offset, linear resampling, causal biquads) on whole
    records (..., samples) in mV at fs_in -> int64 at cfg.fs (ecg_edge.devicepre.reference)."""
    from ecg_edge.devicepre.chain import ChainError
    from ecg_edge.devicepre.reference import prepare_record

    try:
        return prepare_record(x, fs_in, cfg.fs, cfg.band, cfg.filter_order, cfg.adc_gain)
    except ChainError as exc:
        raise DataError(f"preprocessing: {exc}") from exc


def device_normalise(x: np.ndarray) -> np.ndarray:
    """Per-window z-score with the device's integer mean and standard deviation."""
    from ecg_edge.devicepre.reference import zscore_float

    return zscore_float(x)


def window_normalise(x: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """The per-window normalisation of cfg's chain (float32 windows for the model)."""
    return device_normalise(x) if cfg.chain == "device" else normalise(x, cfg.normalise)


def filter_and_normalise(x: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """Band-pass then normalise windows already at cfg.fs and cfg.n_samples: (..., samples)."""
    if cfg.chain == "device":
        return device_normalise(device_condition(x, cfg.fs, cfg))
    if cfg.band is not None:
        x = bandpass(x, cfg.fs, cfg.band, cfg.filter_order)
    return normalise(x, cfg.normalise)
