"""ResNet1D as the paper's eq. (1): stem Conv1d+BN, K residual blocks of two Conv1d-BN-ReLU with
a shortcut (identity, or 1x1 Conv+BN when the shape changes), and a classifier head.

The module names (stem.conv, blocks.N.conv1, blocks.N.shortcut.conv, head.fc, ...) are part of
the export contract: the model.bin graph builder walks exactly this structure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class ResNet1DConfig:
    in_leads: int = 1
    n_samples: int = 5120
    n_classes: int = 4
    stem_channels: int = 16
    stem_kernel: int = 15
    stem_stride: int = 2
    stem_pool: int = 2  # max-pool stride after the stem (kernel = stride + 1); 0 = none
    widths: list[int] = field(default_factory=lambda: [16, 24, 32, 48, 64])
    strides: list[int] = field(default_factory=lambda: [1, 2, 2, 2, 2])
    kernel: int = 7
    dropout: float = 0.25
    head: str = "gap"  # "gap" (global average pool, small head) or "flatten" (the paper's vec(H_K))
    post_add_relu: bool = False  # eq. (1) applies ReLU before the add, none after it

    def __post_init__(self) -> None:
        if len(self.widths) != len(self.strides):
            raise ValueError(f"widths ({len(self.widths)}) and strides ({len(self.strides)}) must have equal length")
        if self.head not in ("gap", "flatten"):
            raise ValueError(f"head must be 'gap' or 'flatten', got {self.head!r}")
        if self.kernel % 2 == 0 or self.stem_kernel % 2 == 0:
            raise ValueError("kernels must be odd (same padding)")
        if self.in_leads < 1 or self.n_classes < 2:
            raise ValueError(f"need in_leads >= 1 and n_classes >= 2, got {self.in_leads} and {self.n_classes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if min(self.strides, default=1) < 1 or self.stem_stride < 1 or self.stem_pool < 0:
            raise ValueError("strides must be >= 1 and stem_pool >= 0")
        total = self.stem_stride * max(self.stem_pool, 1)
        for s in self.strides:
            total *= s
        if self.n_samples < total:
            raise ValueError(f"n_samples={self.n_samples} is shorter than the total stride {total} of the network")

    def to_dict(self) -> dict:
        return asdict(self)


class ConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm1d(cout)


class ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, post_add_relu: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
        self.bn1 = nn.BatchNorm1d(cout)
        self.conv2 = nn.Conv1d(cout, cout, k, stride=1, padding=k // 2, bias=False)
        self.bn2 = nn.BatchNorm1d(cout)
        self.shortcut = ConvBN(cin, cout, 1, stride) if (cin != cout or stride != 1) else nn.Identity()
        self.post_add_relu = post_add_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.relu(self.bn1(self.conv1(x)))
        z = torch.relu(self.bn2(self.conv2(z)))
        h = z + self.shortcut(x)
        return torch.relu(h) if self.post_add_relu else h


class ResNet1D(nn.Module):
    def __init__(self, cfg: ResNet1DConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.stem = ConvBN(cfg.in_leads, cfg.stem_channels, cfg.stem_kernel, cfg.stem_stride)
        self.pool = (nn.MaxPool1d(cfg.stem_pool + 1, stride=cfg.stem_pool, padding=cfg.stem_pool // 2)
                     if cfg.stem_pool else nn.Identity())
        blocks, cin = [], cfg.stem_channels
        for w, s in zip(cfg.widths, cfg.strides, strict=True):
            blocks.append(ResidualBlock(cin, w, cfg.kernel, s, cfg.post_add_relu))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(cfg.dropout)
        feat = cin if cfg.head == "gap" else cin * self.final_length()
        self.head = nn.Sequential()
        self.head.add_module("fc", nn.Linear(feat, cfg.n_classes))

    def final_length(self) -> int:
        with torch.no_grad():
            x = torch.zeros(1, self.cfg.in_leads, self.cfg.n_samples)
            return int(self.features(x).shape[-1])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        # eq. (1): H_0 = BN(Conv1d(X)); the stem's ReLU keeps the first block's input non-negative.
        return self.blocks(self.pool(torch.relu(self.stem(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        h = h.mean(dim=-1) if self.cfg.head == "gap" else h.flatten(1)
        return self.head.fc(self.dropout(h))
