"""Recording noise: real baseline wander (bw) and muscle artefact (ma) from the MIT-BIH Noise
Stress Test Database when it is present under $ECG_EDGE_DATA/nstdb_noise, synthetic
equivalents otherwise; plus electrode white noise and mains hum."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import signal

from ecg_edge.data.preprocess import resample
from ecg_edge.paths import data_root


@lru_cache(maxsize=8)
def _nstdb(path: str, name: str, fs: float) -> np.ndarray | None:
    """(channels, samples) of one NSTDB noise record at fs, zero-mean, unit std per channel."""
    rec_path = Path(path) / name
    if not rec_path.with_suffix(".hea").is_file():
        return None
    import wfdb

    try:
        rec = wfdb.rdrecord(str(rec_path))
    except Exception:  # an unreadable noise file must not break synthesis: fall back
        return None
    x = np.nan_to_num(rec.p_signal.T.astype(np.float64))
    x = resample(x, float(rec.fs), fs).astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    x /= np.maximum(x.std(axis=1, keepdims=True), 1e-9)
    return x.astype(np.float32)


class NoiseSource:
    """Draws noise segments; `kind` says whether the real NSTDB records were used."""

    def __init__(self, fs: float, noise_dir: str | Path | None = None, use_real: bool = True) -> None:
        self.fs = fs
        d = Path(noise_dir) if noise_dir is not None else data_root() / "nstdb_noise"
        self.bw = _nstdb(str(d), "bw", fs) if use_real else None
        self.ma = _nstdb(str(d), "ma", fs) if use_real else None
        self.kind = "nstdb" if (self.bw is not None and self.ma is not None) else "synthetic"
        self.source = str(d) if self.kind == "nstdb" else ""

    def _segments(self, rec: np.ndarray, rng: np.random.Generator, n: int, L: int, T: int) -> np.ndarray:
        ch = rng.integers(0, rec.shape[0], (n, L))
        off = rng.integers(0, rec.shape[1] - T, (n, L))
        return rec[ch[..., None], off[..., None] + np.arange(T)]

    def baseline(self, rng: np.random.Generator, n: int, L: int, T: int) -> np.ndarray:
        if self.bw is not None:
            return self._segments(self.bw, rng, n, L, T)
        t = np.arange(T) / self.fs
        f = rng.uniform(0.05, 0.5, (n, L, 3, 1))
        ph = rng.uniform(0, 2 * np.pi, (n, L, 3, 1))
        a = rng.uniform(0.3, 1.0, (n, L, 3, 1))
        x = (a * np.sin(2 * np.pi * f * t + ph)).sum(2)
        return (x / np.maximum(x.std(-1, keepdims=True), 1e-9)).astype(np.float32)

    def muscle(self, rng: np.random.Generator, n: int, L: int, T: int) -> np.ndarray:
        if self.ma is not None:
            return self._segments(self.ma, rng, n, L, T)
        sos = signal.butter(4, [10.0, min(150.0, 0.45 * self.fs)], btype="bandpass", fs=self.fs, output="sos")
        x = signal.sosfilt(sos, rng.standard_normal((n, L, T)), axis=-1)
        env = 1.0 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0, (n, L, 1)) * np.arange(T) / self.fs
                                  + rng.uniform(0, 2 * np.pi, (n, L, 1)))
        x = x * env
        return (x / np.maximum(x.std(-1, keepdims=True), 1e-9)).astype(np.float32)

    def mixture(self, rng: np.random.Generator, n: int, L: int, T: int, level: np.ndarray) -> np.ndarray:
        """(n, L, T) mV of noise; level (n,) in [0, 1] scales every component per window."""
        lv = level[:, None, None]
        bw_sd = rng.uniform(0.03, 0.20, (n, 1, 1)) * rng.uniform(0.7, 1.3, (n, L, 1))
        ma_sd = rng.uniform(0.004, 0.045, (n, 1, 1)) * rng.uniform(0.7, 1.3, (n, L, 1))
        wn_sd = rng.uniform(0.002, 0.012, (n, 1, 1))
        hum = rng.uniform(0.0, 0.02, (n, 1, 1)) * rng.uniform(0.5, 1.0, (n, L, 1))
        mains = rng.choice([50.0, 60.0], (n, 1, 1))
        t = np.arange(T) / self.fs
        x = bw_sd * self.baseline(rng, n, L, T)
        x += lv * ma_sd * self.muscle(rng, n, L, T)
        x += lv * wn_sd * rng.standard_normal((n, L, T))
        x += hum * np.sin(2 * np.pi * mains * t + rng.uniform(0, 2 * np.pi, (n, L, 1)))
        return x.astype(np.float32)
