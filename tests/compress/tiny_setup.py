"""Tiny model + tiny dataset shared by the compression and report tests (seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ecg_edge.checkpoint import Checkpoint, save_checkpoint
from ecg_edge.data.prepared import PreparedManifest, save_prepared
from ecg_edge.models.resnet1d import ResNet1D, ResNet1DConfig

CLASSES = ["slow", "fast", "noisy"]
N_SAMPLES = 256


def _make_split(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = rng.integers(0, 3, n)
    t = np.arange(N_SAMPLES) / 128.0
    X = np.zeros((n, 1, N_SAMPLES), dtype=np.float32)
    for i, c in enumerate(y):
        f = (2.0, 9.0, 4.0)[c] * rng.uniform(0.9, 1.1)
        X[i, 0] = np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) + (0.8 if c == 2 else 0.1) * rng.standard_normal(N_SAMPLES)
    return X, y, np.array([f"p{i}" for i in range(n)])


def tiny_config() -> ResNet1DConfig:
    return ResNet1DConfig(n_samples=N_SAMPLES, n_classes=3, stem_channels=8, stem_kernel=7,
                          widths=[8, 12], strides=[1, 2], kernel=5, dropout=0.0)


def build_tiny(root: Path) -> tuple[Path, Path]:
    """(checkpoint path, dataset dir): a briefly trained tiny ResNet1D on a 3-class toy set."""
    rng = np.random.default_rng(0)
    splits = {"train": _make_split(rng, 160), "val": _make_split(rng, 96), "test": _make_split(rng, 96)}
    man = PreparedManifest(task="toy3", classes=CLASSES, fs=128.0, n_samples=N_SAMPLES, leads=["II"])
    ds_dir = root / "data"
    save_prepared(ds_dir, man, splits)
    torch.manual_seed(0)
    cfg = tiny_config()
    model = ResNet1D(cfg)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    X, y = torch.from_numpy(splits["train"][0]), torch.from_numpy(splits["train"][1])
    for _ in range(4):
        for i in range(0, len(y), 32):
            loss = torch.nn.functional.cross_entropy(model(X[i:i + 32]), y[i:i + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    ck = Checkpoint("resnet1d", cfg.to_dict(), model.state_dict(), CLASSES,
                    {"task": "toy3", "fs": 128.0, "leads": ["II"], "n_samples": N_SAMPLES, "dataset_dir": str(ds_dir)})
    path = root / "best.pt"
    save_checkpoint(path, ck)
    return path, ds_dir
