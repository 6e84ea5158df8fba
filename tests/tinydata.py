"""The tests' one tiny prepared-dataset factory. Three seeded signals:

- "sine": classes differ by a sine's frequency (1 + 2c Hz), four windows per patient, so a
  small model learns them in a few epochs (training tests);
- "phase-sine": 2 / 9 / 4 Hz sines with random phase, the third class noisy (compression and
  report tests train their tiny model on it);
- "ecg": ECG-like windows (modelbin.golden.ecg_like_inputs) with random labels (packer,
  executor and runtime parity tests, which need no learnable classes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ecg_edge.data.prepared import PreparedDataset, PreparedManifest, save_prepared

CLASSES = ["NSR", "AF", "BRADY"]
ECG_CLASSES = ["AF", "GSVT", "SB", "SR"]  # the "ecg" tiny_dataset fixture's (tests/conftest.py)
N_SAMPLES = 256
SPLITS = ("train", "val", "test")
Split = tuple[np.ndarray, np.ndarray, np.ndarray]  # X (n, leads, samples) float32, y, patient ids


def make_split(n: int, leads: int, seed: int, n_samples: int = N_SAMPLES, n_classes: int = len(CLASSES)) -> Split:
    """A "sine" split: y = i mod n_classes, windows 4i..4i+3 share a patient."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    t = np.arange(n_samples) / 64.0
    X = np.stack([np.repeat(np.sin(2 * np.pi * (1 + 2 * c) * t)[None], leads, 0) for c in y])
    X = X + 0.3 * rng.standard_normal(X.shape)
    return X.astype(np.float32), y, np.array([f"rec{seed}_{i // 4}" for i in range(n)])


def _sine(k: int, n: int, rng: np.random.Generator, leads: int, n_samples: int, n_classes: int) -> Split:
    return make_split(n, leads, k + 1, n_samples, n_classes)


def _phase_sine(k: int, n: int, rng: np.random.Generator, leads: int, n_samples: int, n_classes: int) -> Split:
    y = rng.integers(0, 3, n)
    t = np.arange(n_samples) / 128.0
    X = np.zeros((n, leads, n_samples), dtype=np.float32)
    for i, c in enumerate(y):
        f = (2.0, 9.0, 4.0)[c] * rng.uniform(0.9, 1.1)
        X[i, :] = np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) + (0.8 if c == 2 else 0.1) * rng.standard_normal(n_samples)
    return X, y, np.array([f"p{i}" for i in range(n)])


def _ecg(k: int, n: int, rng: np.random.Generator, leads: int, n_samples: int, n_classes: int) -> Split:
    from ecg_edge.modelbin.golden import ecg_like_inputs

    X = ecg_like_inputs(100 + k, n, leads, n_samples).astype(np.float32)
    return X, rng.integers(0, n_classes, n), np.array([f"p{j}" for j in range(n)])


SIGNALS: dict[str, Callable[..., Split]] = {"sine": _sine, "phase-sine": _phase_sine, "ecg": _ecg}


def make_dataset(root: Path, signal: str = "sine", *, classes: list[str] | None = None,
                 sizes: tuple[int, int, int] = (48, 18, 18), leads: int = 1, n_samples: int = N_SAMPLES,
                 fs: float = 64.0, task: str = "tiny3", lead_names: list[str] | None = None,
                 seed: int = 0) -> PreparedDataset:
    """A prepared dataset at root: splits of sizes (train, val, test) drawn from SIGNALS[signal]."""
    classes = list(classes or CLASSES)
    rng = np.random.default_rng(seed)
    gen = SIGNALS[signal]
    splits = {s: gen(k, n, rng, leads, n_samples, len(classes)) for k, (s, n) in enumerate(zip(SPLITS, sizes, strict=True))}
    names = lead_names or (["I", "II", "III"][:leads] if leads <= 3 else [f"L{i}" for i in range(leads)])
    return save_prepared(root, PreparedManifest(task=task, classes=classes, fs=fs, n_samples=n_samples, leads=names),
                         splits)
