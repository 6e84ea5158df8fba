"""Tiny labelled ECG-like datasets for the HuBERT-ECG tests (prepared-dataset layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecg_edge.data.prepared import PreparedDataset, PreparedManifest, save_prepared


def make_toy_dataset(root: Path, n: int = 48, leads: int = 1, fs: float = 250.0, samples: int = 1250,
                     seed: int = 0) -> PreparedDataset:
    """Two classes told apart by heart rate (pulse trains), with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / fs

    def split(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, m)
        hr = np.where(y == 0, 1.0, 2.0)[:, None, None] * (1 + 0.1 * rng.standard_normal((m, 1, 1)))
        ph = rng.uniform(0, 1, (m, 1, 1))
        X = np.exp(-((((t[None, None, :] * hr + ph) % 1.0) - 0.5) ** 2) / 0.002)
        X = X + 0.05 * rng.standard_normal((m, leads, samples))
        return X.astype(np.float32), y, np.array([f"p{i}" for i in range(m)])

    man = PreparedManifest(task="toy", classes=["slow", "fast"], fs=fs, n_samples=samples,
                           leads=[f"L{i}" for i in range(leads)])
    return save_prepared(root, man, {"train": split(n), "val": split(max(8, n // 4)),
                                     "test": split(max(8, n // 4))})
