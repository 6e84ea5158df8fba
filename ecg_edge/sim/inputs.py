"""Input windows for a simulation: the first N windows of a prepared dataset's split, quantized
with the model's input scale, or (without data) seeded random int8 windows, which exercise the
same code paths for instruction counts and parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecg_edge.errors import ModelFormatError


def model_input_shape(model_bytes: bytes, source: str = "model.bin") -> tuple[int, int]:
    from ecg_edge.modelbin.reader import read_model

    return read_model(model_bytes, source).input_shape


def dataset_windows(model_bytes: bytes, data_dir: str | Path, split: str, n: int,
                    source: str = "model.bin") -> tuple[np.ndarray, np.ndarray]:
    """(int8 windows (n, L, C), labels (n,)) from a prepared dataset."""
    from ecg_edge.data.prepared import load_prepared
    from ecg_edge.modelbin.executor import quantize_inputs
    from ecg_edge.modelbin.reader import read_model

    mb = read_model(model_bytes, source)
    X, y = load_prepared(data_dir).split(split)
    n = min(n, X.shape[0])
    if n < 1:
        raise ModelFormatError(f"{data_dir}: split {split!r} has no windows to simulate")
    return quantize_inputs(mb, np.asarray(X[:n])), np.asarray(y[:n])


def random_windows(model_bytes: bytes, n: int, seed: int = 0, source: str = "model.bin") -> np.ndarray:
    L, C = model_input_shape(model_bytes, source)
    return np.random.default_rng(seed).integers(-128, 128, size=(n, L, C), dtype=np.int8)
