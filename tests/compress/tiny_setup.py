"""Tiny model + tiny dataset shared by the compression and report tests (seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ecg_edge.checkpoint import Checkpoint, save_checkpoint
from ecg_edge.models.resnet1d import ResNet1D, ResNet1DConfig
from tests.tinydata import make_dataset

CLASSES = ["slow", "fast", "noisy"]
N_SAMPLES = 256


def tiny_config() -> ResNet1DConfig:
    return ResNet1DConfig(n_samples=N_SAMPLES, n_classes=3, stem_channels=8, stem_kernel=7,
                          widths=[8, 12], strides=[1, 2], kernel=5, dropout=0.0)


def build_tiny(root: Path) -> tuple[Path, Path]:
    """(checkpoint path, dataset dir): a briefly trained tiny ResNet1D on a 3-class toy set."""
    ds_dir = root / "data"
    ds = make_dataset(ds_dir, "phase-sine", classes=CLASSES, sizes=(160, 96, 96), n_samples=N_SAMPLES, fs=128.0,
                      task="toy3", lead_names=["II"])
    torch.manual_seed(0)
    cfg = tiny_config()
    model = ResNet1D(cfg)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    X, y = (torch.from_numpy(np.array(a)) for a in ds.split("train"))
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
