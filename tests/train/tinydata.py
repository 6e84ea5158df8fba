"""The tiny ResNet1D of the training tests (their datasets: tests/tinydata.py)."""

from __future__ import annotations

import torch

from ecg_edge.models.resnet1d import ResNet1D, ResNet1DConfig
from tests.tinydata import N_SAMPLES


def tiny_config(leads: int = 1, n_classes: int = 3, head: str = "gap", n_samples: int = N_SAMPLES) -> ResNet1DConfig:
    return ResNet1DConfig(in_leads=leads, n_samples=n_samples, n_classes=n_classes, stem_channels=4, stem_kernel=5,
                          widths=[4, 8], strides=[1, 2], kernel=3, dropout=0.25, head=head)


def tiny_model(seed: int = 0, **kw: object) -> ResNet1D:
    torch.manual_seed(seed)
    return ResNet1D(tiny_config(**kw))  # type: ignore[arg-type]
