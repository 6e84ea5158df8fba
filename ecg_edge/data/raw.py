"""A recording as the ADC codes the device would see: the stream's input (ecg-edge simulate
--stream, the c-project's example signal, the streaming parity tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecg_edge.data.leadsel import lead_indices
from ecg_edge.errors import DataError


@dataclass
class RawRecord:
    codes: np.ndarray  # int16 (leads, samples): round(mV * gain + baseline), the ADC's output
    fs: float
    lead_names: list[str]
    gain: float  # counts per mV of the first lead kept


def read_adc(record: str | Path, leads: list[str] | None = None, seconds: float | None = None) -> RawRecord:
    """A WFDB record's leads (by name; default all) as int16 ADC codes, optionally only the first
    `seconds`. NaN samples (dropouts) become the lead's baseline code."""
    from ecg_edge.data.sources.wfdbio import read_wfdb

    path = Path(record)
    x, fs, names, h = read_wfdb(path.with_suffix("") if path.suffix in (".hea", ".dat") else path)
    idx = list(range(len(names))) if not leads else lead_indices(names, leads)
    if idx is None:
        raise DataError(f"{path}: lead {'/'.join(leads or [])} absent (record has {','.join(names)})")
    gain = np.array([h.signals[i].gain or 200.0 for i in idx])[:, None]
    base = np.array([h.signals[i].baseline for i in idx])[:, None]
    x = np.asarray(x)[idx]
    if seconds is not None:
        x = x[:, :int(round(seconds * fs))]
    codes = np.round(np.where(np.isfinite(x), x, 0.0) * gain + base)
    if np.abs(codes).max(initial=0) > 32767:
        raise DataError(f"{path}: ADC codes exceed int16 (max |code| {int(np.abs(codes).max())})")
    return RawRecord(codes.astype(np.int16), float(fs), [names[i] for i in idx], float(gain[0, 0]))
