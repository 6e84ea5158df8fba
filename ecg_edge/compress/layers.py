"""Which layers a plan covers: every nn.Conv1d / nn.Linear of any nn.Module, by dotted name.

Architecture-agnostic on purpose (ResNet1D, HuBERT-ECG's conv feature extractor and attention
projections alike). The weight is also viewed in model.bin's weight order (export/FORMAT.md
section 8: output channel major, then kernel tap, then input channel), because the run-length
encoding's size depends on that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

COMPRESSIBLE = (nn.Conv1d, nn.Linear)


@dataclass(frozen=True)
class LayerInfo:
    """A compressible layer of a model, the unit a plan assigns bits and sparsity to."""

    name: str
    kind: str  # "conv1d" | "linear"
    shape: tuple[int, ...]  # PyTorch weight shape
    params: int  # weights only (the bias ships as int32 and is not compressed)


def discover_layers(model: nn.Module) -> list[LayerInfo]:
    """Every Conv1d / Linear in module order (the order `named_modules` walks, i.e. definition order)."""
    out = []
    for name, mod in model.named_modules():
        if isinstance(mod, COMPRESSIBLE):
            w = mod.weight
            out.append(LayerInfo(name, "conv1d" if isinstance(mod, nn.Conv1d) else "linear",
                                 tuple(w.shape), int(w.numel())))
    return out


def get_module(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name)


def to_weight_order(w: np.ndarray) -> np.ndarray:
    """(C_out, span) view in model.bin weight order: conv [c][i][k] -> [c][k][i]."""
    w = np.asarray(w)
    if w.ndim == 3:
        return np.ascontiguousarray(w.transpose(0, 2, 1)).reshape(w.shape[0], -1)
    return w.reshape(w.shape[0], -1)


def weight_numpy(model: nn.Module, name: str) -> np.ndarray:
    return get_module(model, name).weight.detach().cpu().numpy().astype(np.float64)


def fp32_parameter_bytes(model: nn.Module) -> int:
    """Bytes of the trained model's fp32 parameters (the numerator of the true compression ratio)."""
    return 4 * sum(int(p.numel()) for p in model.parameters())


def set_weight(model: nn.Module, name: str, w: np.ndarray | torch.Tensor) -> None:
    mod = get_module(model, name)
    t = torch.as_tensor(np.asarray(w), dtype=mod.weight.dtype).reshape(mod.weight.shape)
    with torch.no_grad():
        mod.weight.copy_(t)
