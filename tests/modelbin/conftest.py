"""Tiny ResNet1D checkpoint for the model.bin tests on the shared `tiny_dataset` (no training:
seeded weights and BN statistics, so the tests stay fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecg_edge.checkpoint import Checkpoint, save_checkpoint
from tests.tinydata import seeded_checkpoint


def make_checkpoint(tiny_dataset: Path, seed: int = 3, **cfg) -> Checkpoint:
    return seeded_checkpoint(seed, {"n_samples": 256, "dataset_dir": str(tiny_dataset),
                                    "preprocessing": {"bandpass": [0.5, 40]}}, **cfg)


@pytest.fixture(scope="session")
def tiny_ckpt_path(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("mb_ckpt") / "best.pt"
    save_checkpoint(p, make_checkpoint(tiny_dataset))
    return p
