"""Tiny prepared dataset + ResNet1D checkpoint for the model.bin tests (no training: seeded
weights and BN statistics, so the tests stay fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecg_edge.checkpoint import Checkpoint, save_checkpoint
from ecg_edge.data.prepared import PreparedManifest, save_prepared
from ecg_edge.modelbin.golden import ecg_like_inputs, random_resnet

CLASSES = ["AF", "GSVT", "SB", "SR"]


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mb_data") / "ds"
    rng = np.random.default_rng(0)
    splits = {}
    for i, (name, n) in enumerate((("train", 48), ("val", 16), ("test", 40))):
        X = ecg_like_inputs(100 + i, n, 1, 256).astype(np.float32)
        y = rng.integers(0, 4, n)
        splits[name] = (X, y, np.array([f"p{j}" for j in range(n)]))
    save_prepared(root, PreparedManifest("chapman4", CLASSES, 100.0, 256, ["II"]), splits)
    return root


def make_checkpoint(tiny_dataset: Path, seed: int = 3, **cfg) -> Checkpoint:
    model, c = random_resnet(seed, **cfg)
    return Checkpoint("resnet1d", c.to_dict(), model.state_dict(), list(CLASSES),
                      {"task": "chapman4", "fs": 100.0, "leads": ["II"], "n_samples": 256,
                       "dataset_dir": str(tiny_dataset), "preprocessing": {"bandpass": [0.5, 40]}})


@pytest.fixture(scope="session")
def tiny_ckpt_path(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("mb_ckpt") / "best.pt"
    save_checkpoint(p, make_checkpoint(tiny_dataset))
    return p
