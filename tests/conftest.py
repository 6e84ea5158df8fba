"""Shared fixtures: real data is read in place from $ECG_EDGE_DATA (default ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("ECG_EDGE_NO_PROGRESS", "1")

from ecg_edge.paths import data_root  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"real ECG data not found at {root} (set ECG_EDGE_DATA)")
    return root


@pytest.fixture(scope="session")
def toolchain():
    """The Cortex-M cross toolchain and QEMU, or a skip with the install line (CI installs them
    through `make toolchain`)."""
    from ecg_edge.errors import ToolchainMissing
    from ecg_edge.sim.toolchain import find_toolchain

    try:
        return find_toolchain()
    except ToolchainMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def device_model():
    """A factory of seeded tiny ResNet1D model.bin files carrying the device chain's pp.* META:
    device_model(fs, n_samples, leads=1, band=(0.5, 40)) -> bytes."""
    import numpy as np

    from ecg_edge.checkpoint import Checkpoint
    from ecg_edge.modelbin.golden import random_resnet
    from ecg_edge.modelbin.packer import pack

    cache: dict = {}

    def make(fs: int, n_samples: int, leads: int = 1, band: tuple | None = (0.5, 40.0)) -> bytes:
        key = (fs, n_samples, leads, band)
        if key not in cache:
            model, cfg = random_resnet(7, n_samples=n_samples, in_leads=leads)
            pre = {"fs": float(fs), "n_samples": n_samples, "band": list(band) if band else None,
                   "filter_order": 3, "normalise": "zscore", "chain": "device"}
            ck = Checkpoint("resnet1d", cfg.to_dict(), model.state_dict(), [f"c{i}" for i in range(cfg.n_classes)],
                            {"task": "t", "fs": float(fs), "leads": ["II", "V5", "V1", "V2"][:leads],
                             "n_samples": n_samples, "preprocessing": pre})
            calib = np.random.default_rng(1).normal(size=(16, leads, n_samples))
            cache[key] = pack(ck, None, calib).data
        return cache[key]

    return make


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ECG-like windows, random labels of 4 classes, 1 lead x 256 samples at 100 Hz, 48/16/40
    windows (tests/tinydata.py): for tests that need a dataset but no learnable classes."""
    from tests.tinydata import ECG_CLASSES, make_dataset

    root = tmp_path_factory.mktemp("tiny_data") / "ds"
    make_dataset(root, "ecg", classes=ECG_CLASSES, sizes=(48, 16, 40), fs=100.0, task="chapman4", lead_names=["II"])
    return root


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint, dataset): a briefly trained tiny ResNet1D on the "phase-sine" toy set
    (tests/compress/tiny_setup.py); tests/mobile overrides it with its own seeded model."""
    from tests.compress.tiny_setup import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The CI machine has 2 cores shared by pytest-xdist workers: one torch thread each."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
