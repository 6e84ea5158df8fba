"""A tiny seeded ResNet1D (random weights, non-trivial BN statistics), a tiny prepared dataset
and a mixed-precision plan, shared by the mobile export tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from ecg_edge.checkpoint import Checkpoint, save_checkpoint
from ecg_edge.data.prepared import PreparedManifest, save_prepared
from ecg_edge.layerplan.plan import CompressionPlan, LayerPlan
from ecg_edge.models import build_model

CLASSES = ["AF", "GSVT", "SB", "SR"]
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
    torch.manual_seed(seed)
    m = build_model("resnet1d", cfg)
    g = torch.Generator().manual_seed(seed)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm1d):
            n = mod.num_features
            mod.running_mean.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
            mod.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) * 3 - 1.5)  # some negative BN gains
            mod.bias.data.copy_(torch.rand(n, generator=g) * 0.6 - 0.3)
    m.eval()
    return Checkpoint("resnet1d", m.cfg.to_dict(), m.state_dict(), list(CLASSES),
                      {"task": "chapman4", "fs": 500.0, "leads": ["II"], "n_samples": cfg["n_samples"]})


def mixed_plan() -> CompressionPlan:
    bits = [8, 4, 2, 6, 3, 8, 5, 1, 4, 8]
    return CompressionPlan("laq+lap", "cortex-m4",
                           [LayerPlan(n, bits=b, sparsity=0.0 if b == 1 else 0.3) for n, b in zip(LAYERS, bits, strict=True)])


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Tiny:
    root = tmp_path_factory.mktemp("mobile")
    ckpt = make_ckpt(TINY)
    save_checkpoint(root / "tiny.pt", ckpt)
    rng = np.random.default_rng(0)

    def split(n: int):
        X = rng.standard_normal((n, 1, TINY["n_samples"])).astype(np.float32)
        return X, rng.integers(0, 4, n), np.array([f"p{i}" for i in range(n)])

    splits = {"train": split(48), "val": split(8), "test": split(32)}
    manifest = PreparedManifest(task="chapman4", classes=list(CLASSES), fs=500.0,
                                n_samples=TINY["n_samples"], leads=["II"])
    save_prepared(root / "data", manifest, splits)
    plan = mixed_plan()
    plan.save(root / "plan.json")
    return Tiny(ckpt, root / "tiny.pt", root / "data", splits["test"][0], splits["train"][0], plan,
                root / "plan.json")


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
