"""Tiny prepared datasets for the training tests (classes differ by a sine's frequency, so a
small model can learn them in a few epochs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ecg_edge.data.prepared import PreparedDataset, PreparedManifest, save_prepared
from ecg_edge.models.resnet1d import ResNet1D, ResNet1DConfig

CLASSES = ["NSR", "AF", "BRADY"]
N_SAMPLES = 256


def make_split(n: int, leads: int, seed: int, n_samples: int = N_SAMPLES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(CLASSES)
    t = np.arange(n_samples) / 64.0
    X = np.stack([np.repeat(np.sin(2 * np.pi * (1 + 2 * c) * t)[None], leads, 0) for c in y])
    X = X + 0.3 * rng.standard_normal(X.shape)
    return X.astype(np.float32), y, np.array([f"rec{seed}_{i // 4}" for i in range(n)])


def make_dataset(root: Path, leads: int = 1, n_train: int = 48, n_val: int = 18, n_test: int = 18,
                 classes: list[str] | None = None, n_samples: int = N_SAMPLES) -> PreparedDataset:
    splits = {"train": make_split(n_train, leads, 1, n_samples), "val": make_split(n_val, leads, 2, n_samples),
              "test": make_split(n_test, leads, 3, n_samples)}
    man = PreparedManifest(task="tiny3", classes=list(classes or CLASSES), fs=64.0, n_samples=n_samples,
                           leads=["I", "II", "III"][:leads] if leads <= 3 else [f"L{i}" for i in range(leads)])
    return save_prepared(root, man, splits)


def tiny_config(leads: int = 1, n_classes: int = 3, head: str = "gap", n_samples: int = N_SAMPLES) -> ResNet1DConfig:
    return ResNet1DConfig(in_leads=leads, n_samples=n_samples, n_classes=n_classes, stem_channels=4, stem_kernel=5,
                          widths=[4, 8], strides=[1, 2], kernel=3, dropout=0.25, head=head)


def tiny_model(seed: int = 0, **kw: object) -> ResNet1D:
    torch.manual_seed(seed)
    return ResNet1D(tiny_config(**kw))  # type: ignore[arg-type]
