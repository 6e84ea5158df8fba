"""Recordings of any length -> fixed windows, one way for `data prepare` and `predict`, so a
deployed model sees exactly the windows it was trained and evaluated on.

A record is resampled and band-passed whole (no filter edge inside it), then cut into windows
of n_samples with hop `stride`; the last window is aligned to the record's end so no tail is
lost. A record shorter than one window becomes one zero-padded window (counted). Each window is
normalised on its own, as in training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ecg_edge.data.preprocess import (
    PreprocessConfig,
    bandpass,
    device_condition,
    pad_crop,
    resample,
    window_normalise,
)
from ecg_edge.errors import DataError


@dataclass
class WindowingConfig:
    windows_per_record: int | None = None  # None: every window; N: at most N, evenly spread
    stride: int | None = None  # hop in samples at the target rate; None: n_samples (no overlap)
    min_seconds: float = 5.0  # records shorter than this are skipped

    def __post_init__(self) -> None:
        if self.windows_per_record is not None and self.windows_per_record < 1:
            raise DataError(f"--windows-per-record {self.windows_per_record}: expected 'all' or a number >= 1")
        if self.stride is not None and self.stride < 1:
            raise DataError(f"--stride {self.stride}: expected a hop of at least 1 sample")
        if self.min_seconds < 0:
            raise DataError(f"--min-seconds {self.min_seconds}: expected a non-negative number of seconds")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> WindowingConfig:
        d = d or {}
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def parse_windows_per_record(value: str | int | None) -> int | None:
    """'all' -> None, '3' -> 3; anything else is the user's error."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"--windows-per-record {value!r}: expected 'all' or a number >= 1") from exc
    if n < 1:
        raise DataError(f"--windows-per-record {value!r}: expected 'all' or a number >= 1")
    return n


def window_starts(length: int, n: int, stride: int | None, per_record: int | None) -> list[int]:
    """Start samples of the windows of a `length`-sample signal. Shorter than n: [0] (padded).
    One window per record (per_record=1) is the centre crop; N > 1 picks N evenly spread starts."""
    if length <= n:
        return [0]
    if per_record == 1:
        return [(length - n) // 2]
    hop = stride or n
    starts = list(range(0, length - n + 1, hop))
    if starts[-1] + n < length:
        starts.append(length - n)  # end-aligned last window: the tail is covered
    if per_record is not None and len(starts) > per_record:
        pick = np.unique(np.round(np.linspace(0, len(starts) - 1, per_record)).astype(int))
        starts = [starts[i] for i in pick]
    return starts


def filter_record(x: np.ndarray, fs_in: float, pre: PreprocessConfig) -> np.ndarray:
    """(leads, samples) at fs_in -> resampled to pre.fs and band-passed, whole record at once
    (the device chain: causal over the record, as the stream sees it)."""
    if pre.chain == "device":
        return device_condition(x, fs_in, pre)
    x = resample(np.asarray(x, dtype=np.float32), fs_in, pre.fs)
    if pre.band is not None:
        x = bandpass(x, pre.fs, pre.band, pre.filter_order)
    return x


def cut_windows(x: np.ndarray, pre: PreprocessConfig, win: WindowingConfig
                ) -> tuple[np.ndarray, np.ndarray, bool]:
    """(windows (k, leads, n) normalised, start samples (k,), padded?) of a filtered record."""
    n = pre.n_samples
    starts = window_starts(x.shape[1], n, win.stride, win.windows_per_record)
    padded = x.shape[1] < n
    w = np.stack([window_normalise(pad_crop(x[:, s:s + n], n), pre) for s in starts])
    return w.astype(np.float32), np.asarray(starts, dtype=np.int64), padded


def record_to_windows(x: np.ndarray, fs_in: float, pre: PreprocessConfig, win: WindowingConfig
                      ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Raw (leads, samples) in mV at fs_in -> the model's windows (see cut_windows)."""
    return cut_windows(filter_record(x, fs_in, pre), pre, win)
