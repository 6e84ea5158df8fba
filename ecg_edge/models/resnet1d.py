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
    # Inner width of each block (conv1's outputs = conv2's inputs); None = widths. Channel pruning
    # (compress/channels.py) narrows these: the residual ADD's channels are left as they are.
    mid_widths: list[int] | None = None

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
        if self.mid_widths is not None and (len(self.mid_widths) != len(self.widths)
                                            or min(self.mid_widths, default=1) < 1):
            raise ValueError(f"mid_widths {self.mid_widths}: expected {len(self.widths)} widths >= 1 (one per block)")
        total = self.stem_stride * max(self.stem_pool, 1)
        for s in self.strides:
            total *= s
        if self.n_samples < total:
            raise ValueError(f"n_samples={self.n_samples} is shorter than the total stride {total} of the network")

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["mid_widths"] is None:  # unpruned configs stay as they were before the field existed
            del d["mid_widths"]
        return d

    def inner_widths(self) -> list[int]:
        return list(self.widths) if self.mid_widths is None else [int(m) for m in self.mid_widths]


class ConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm1d(cout)


class ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, post_add_relu: bool, mid: int | None = None) -> None:
        super().__init__()
        mid = cout if mid is None else mid
        self.conv1 = nn.Conv1d(cin, mid, k, stride=stride, padding=k // 2, bias=False)
        self.bn1 = nn.BatchNorm1d(mid)
        self.conv2 = nn.Conv1d(mid, cout, k, stride=1, padding=k // 2, bias=False)
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
        for w, s, m in zip(cfg.widths, cfg.strides, cfg.inner_widths(), strict=True):
            blocks.append(ResidualBlock(cin, w, cfg.kernel, s, cfg.post_add_relu, m))
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
