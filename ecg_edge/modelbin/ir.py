"""The lowered graph every exporter reads: tensors and int8-ready nodes, weights already quantized
to the per-channel levels model.bin holds. Activations are laid out [N][L][C] (time-major,
channels last), as in model.bin."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class GTensor:
    name: str
    length: int
    channels: int
    scale: float = 0.0
    zero_point: int = 0

    @property
    def size(self) -> int:
        return self.length * self.channels


@dataclass
class QuantWeights:
    """levels int8 (C_out, span) in model.bin weight order (w[c][k][i], or the [L][C] input
    order for LINEAR); scale float64 (C_out,) > 0 with BN folded in; bias float64 (C_out,)."""
    levels: np.ndarray
    scale: np.ndarray
    bias: np.ndarray
    bits: int
    sparsity_plan: float = 0.0


@dataclass
class GNode:
    op: int
    name: str  # module path for weighted ops ("blocks.0.conv1"), descriptive otherwise
    inputs: list[int]
    output: int
    relu: bool = False
    kernel: int = 1
    stride: int = 1
    pad_left: int = 0
    pad_right: int = 0
    dilation: int = 1
    groups: int = 1
    weights: QuantWeights | None = None
    # transformer ops (format version 2): LAYERNORM/GROUPNORM eps, MATMUL heads / transpose_b /
    # a real factor folded into its requantization (attention's 1/sqrt(d)), SOFTMAX segment
    eps: float = 1e-5
    heads: int = 1
    transpose_b: bool = False
    alpha: float = 1.0
    segment: int = 0
    # LUT (format version 3): the elementwise function it tabulates (ecg_edge.modelbin.intops.LUT_FUNCS)
    func: str = ""


@dataclass
class Graph:
    tensors: list[GTensor]
    nodes: list[GNode]
    input: int = 0
    output: int = 0
    notes: list[str] = field(default_factory=list)
    # activation calibration (modelbin.calibrate): "minmax", or "mse" (per-tensor clip by least
    # squared error), unless an explicit percentile is given
    calib_method: str = "minmax"

    def add_tensor(self, name: str, length: int, channels: int) -> int:
        self.tensors.append(GTensor(name, int(length), int(channels)))
        return len(self.tensors) - 1


def conv_out_len(length: int, k: int, stride: int, pl: int, pr: int, dilation: int = 1) -> int:
    return (length + pl + pr - dilation * (k - 1) - 1) // stride + 1
