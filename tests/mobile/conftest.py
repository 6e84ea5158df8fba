"""A tiny seeded ResNet1D (tests/tinydata.py: random weights, non-trivial BN statistics), a tiny
prepared dataset of noise windows and a mixed-precision plan, shared by the mobile export tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ecg_edge.checkpoint import Checkpoint, save_checkpoint
from ecg_edge.layerplan.plan import CompressionPlan, LayerPlan
from tests.tinydata import make_dataset, seeded_checkpoint

TINY = {"in_leads": 1, "n_samples": 256, "n_classes": 4, "stem_channels": 8, "stem_kernel": 7,
        "widths": [8, 12, 16], "strides": [1, 2, 2], "kernel": 5}
LAYERS = ["stem.conv", "blocks.0.conv1", "blocks.0.conv2", "blocks.1.conv1", "blocks.1.conv2",
          "blocks.1.shortcut.conv", "blocks.2.conv1", "blocks.2.conv2", "blocks.2.shortcut.conv", "head.fc"]


@dataclass
class Tiny:
    ckpt: Checkpoint
    ckpt_path: Path
    data: Path
    X: np.ndarray  # test windows
    calib: np.ndarray
    plan: CompressionPlan
    plan_path: Path


def make_ckpt(cfg: dict, seed: int = 0) -> Checkpoint:
    return seeded_checkpoint(seed, {"fs": 500.0}, **cfg)


def mixed_plan() -> CompressionPlan:
    bits = [8, 4, 2, 6, 3, 8, 5, 1, 4, 8]
    return CompressionPlan("laq+lap", "cortex-m4",
                           [LayerPlan(n, bits=b, sparsity=0.0 if b == 1 else 0.3) for n, b in zip(LAYERS, bits, strict=True)])


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Tiny:
    root = tmp_path_factory.mktemp("mobile")
    ckpt = make_ckpt(TINY)
    save_checkpoint(root / "tiny.pt", ckpt)
    ds = make_dataset(root / "data", "noise", classes=ckpt.classes, sizes=(48, 8, 32), n_samples=TINY["n_samples"],
                      fs=500.0, task="chapman4", lead_names=["II"])
    plan = mixed_plan()
    plan.save(root / "plan.json")
    return Tiny(ckpt, root / "tiny.pt", root / "data", np.array(ds.split("test")[0]), np.array(ds.split("train")[0]),
                plan, root / "plan.json")


def model_bin_logits(ckpt: Checkpoint, plan: CompressionPlan | None, calib: np.ndarray, X: np.ndarray):
    """model.bin of ckpt (+ plan) calibrated on `calib` (the packer's defaults) and its int8
    logits on X from the numpy reference executor: the reference every export is held to."""
    from ecg_edge.modelbin import executor, packer, reader

    mb = reader.read_model(packer.pack(ckpt, plan, calib).data)
    return mb, executor.run(mb, executor.quantize_inputs(mb, X))


def to_steps(logits: np.ndarray, mb) -> np.ndarray:
    """Dequantized logits back to model.bin's int8 output steps."""
    t = mb.tensors[mb.output_tensor]
    return np.round(np.asarray(logits) / t.scale + t.zero_point).astype(np.int64)
