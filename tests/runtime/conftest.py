"""Fixtures for the C runtime tests: the golden vectors and small synthetic datasets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parents[2] / "export" / "golden"
# Full counts (every window of bigger splits, the default-size ResNet1D) behind an env var.
FULL = os.environ.get("ECG_EDGE_PARITY_FULL") == "1"


def golden_names() -> list[str]:
    idx = GOLDEN / "index.json"
    return sorted(json.loads(idx.read_text())["vectors"]) if idx.is_file() else []


def golden(name: str) -> tuple[bytes, np.ndarray, np.ndarray, dict]:
    info = json.loads((GOLDEN / "index.json").read_text())["vectors"][name]
    data = (GOLDEN / f"{name}.bin").read_bytes()
    x = np.fromfile(GOLDEN / f"{name}.input.i8", dtype=np.int8).reshape(info["input_shape"])
    y = np.fromfile(GOLDEN / f"{name}.expected.i8", dtype=np.int8)
    return data, x, y, info


@pytest.fixture(scope="session")
def synth_chapman4(tmp_path_factory):
    """Synthetic chapman4 (the built-in generator), split by patient; 1 lead x 5120 samples."""
    import torch

    from ecg_edge.data.synth import make_synthetic_dataset

    torch.set_num_threads(1)
    n = 2400 if FULL else 240
    return make_synthetic_dataset("chapman4", n=n, leads=1, seed=0,
                                  out_dir=tmp_path_factory.mktemp("chapman4"))
