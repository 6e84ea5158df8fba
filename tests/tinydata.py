"""The tests' one tiny prepared-dataset factory. Three seeded signals:

- "sine": classes differ by a sine's frequency (1 + 2c Hz), four windows per patient, so a
  small model learns them in a few epochs (training tests);
- "phase-sine": 2 / 9 / 4 Hz sines with random phase, the third class noisy (compression and
  report tests train their tiny model on it);
- "ecg": ECG-like windows (modelbin.golden.ecg_like_inputs) with random labels (packer,
  executor and runtime parity tests, which need no learnable classes);
- "noise": standard-normal windows with random labels (the mobile export tests).

and the untrained models: seeded_checkpoint (ResNet1D, modelbin.golden.random_resnet) and
small_hubert (a two-layer HuBERT-ECG) with its windows and checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ecg_edge.checkpoint import Checkpoint
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


def _noise(k: int, n: int, rng: np.random.Generator, leads: int, n_samples: int, n_classes: int) -> Split:
    X = rng.standard_normal((n, leads, n_samples)).astype(np.float32)
    return X, rng.integers(0, n_classes, n), np.array([f"p{i}" for i in range(n)])


SIGNALS: dict[str, Callable[..., Split]] = {"sine": _sine, "phase-sine": _phase_sine, "ecg": _ecg, "noise": _noise}


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


def seeded_checkpoint(seed: int, data: dict | None = None, classes: list[str] | None = None, **cfg) -> Checkpoint:
    """An untrained ResNet1D checkpoint (modelbin.golden.random_resnet: seeded weights, non-trivial
    BN statistics; cfg overrides its tiny config), 1 lead II at 100 Hz unless `data` says otherwise."""
    from ecg_edge.modelbin.golden import random_resnet

    model, c = random_resnet(seed, **cfg)
    return Checkpoint("resnet1d", c.to_dict(), model.state_dict(), list(classes or ECG_CLASSES),
                      {"task": "chapman4", "fs": 100.0, "leads": ["II"], "n_samples": c.n_samples, **(data or {})})


# Two transformer layers of width 32 over 8 s at 100 Hz: every HuBERT op, small enough for tests.
HUBERT_SMALL = dict(in_leads=1, n_samples=800, fs=100.0, n_classes=3, window_s=8.0, target_fs=100.0, hidden_size=32,
                    num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, conv_dim=[16] * 5,
                    num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4, classifier_proj_size=16,
                    hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.1, dropout=0.2)


def small_hubert(seed: int = 0):
    """HUBERT_SMALL with torch's seeded initial weights, in eval mode."""
    import torch

    from ecg_edge.models.hubert_ecg import HubertECG, HubertECGConfig

    torch.manual_seed(seed)
    return HubertECG(HubertECGConfig(**HUBERT_SMALL)).eval()


def hubert_windows(seed: int, n: int) -> np.ndarray:
    """(n, 1, HUBERT_SMALL n_samples) float64: a 0.8-2 Hz sine plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(HUBERT_SMALL["n_samples"]) / HUBERT_SMALL["fs"]
    return np.sin(2 * np.pi * rng.uniform(0.8, 2.0, (n, 1, 1)) * t) + rng.normal(0, 0.2, (n, 1, t.size))


def hubert_checkpoint(model) -> Checkpoint:
    """The checkpoint of a small_hubert model (classes a, b, c; lead II)."""
    return Checkpoint("hubert_ecg", model.cfg.to_dict(), model.state_dict(), ["a", "b", "c"],
                      {"task": "test", "fs": HUBERT_SMALL["fs"], "leads": ["II"], "n_samples": HUBERT_SMALL["n_samples"]})
