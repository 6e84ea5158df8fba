"""Fake quantization for the search and fine-tuning, and the exact per-layer compression.

The levels come from ecg_edge.numerics.quantize_weight_channels itself (called on the detached
weights), so the integers the search measures are the very integers the packer ships; nothing
is re-implemented here. Fine-tuning uses a straight-through estimator around the same function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ecg_edge.compress.layers import to_weight_order
from ecg_edge.layerplan.bitpack import weight_block_bytes
from ecg_edge.layerplan.masks import magnitude_mask
from ecg_edge.numerics import (
    CLIP_RATIOS,
    dequantize_weight_channels,
    qmax_for_bits,
    quantize_weight_channels,
)

ORDERS = ("prune-then-quantize", "quantize-then-prune")


@dataclass(frozen=True)
class CompressedLayer:
    levels: np.ndarray  # int8, PyTorch weight shape
    scales: np.ndarray  # float64 (C_out,)
    bits: int
    mask: np.ndarray  # bool: the pruning mask applied (before quantization rounds more to 0)

    @property
    def weight(self) -> np.ndarray:
        """Dequantized weight (levels * scale): what compressed.pt holds; pruned entries are 0."""
        return dequantize_weight_channels(self.levels, self.scales)

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.levels))

    def block_bytes(self) -> tuple[int, int]:
        """(encoding, exact model.bin weight-block bytes) from the shipped non-zero pattern."""
        return weight_block_bytes(to_weight_order(self.levels != 0), self.bits)


def fake_quant(w: np.ndarray, bits: int, mask: np.ndarray | None = None) -> np.ndarray:
    levels, scales = quantize_weight_channels(w, bits, mask)
    return dequantize_weight_channels(levels, scales)


def compress_weight(w: np.ndarray, bits: int, sparsity: float,
                    order: str = "prune-then-quantize") -> CompressedLayer:
    """One layer at (bits, sparsity).

    prune-then-quantize: mask from |W| (fp32), then quantize the kept weights (scales fit to them).
    quantize-then-prune: quantize W, mask from |dequantized W|, then re-quantize the kept values
    with the mask (the largest level survives, so the scale and the kept levels are unchanged).
    """
    w = np.asarray(w, dtype=np.float64)
    if order == "prune-then-quantize":
        mask = magnitude_mask(w, sparsity)
        levels, scales = quantize_weight_channels(w, bits, mask)
    elif order == "quantize-then-prune":
        wq = fake_quant(w, bits, np.ones(w.shape, dtype=bool))
        mask = magnitude_mask(wq, sparsity)
        levels, scales = quantize_weight_channels(np.where(mask, wq, 0.0), bits, mask)
    else:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    return CompressedLayer(levels, scales, bits, mask)


def fake_quant_fast(w: np.ndarray, bits: int, mask: np.ndarray) -> np.ndarray:
    """Vectorised twin of numerics.quantize_weight_channels (all channels and clip ratios at
    once), dequantized. Used only inside fine-tuning steps, where the per-channel Python loop
    dominated the step time; the same candidates, rounding and first-best tie rule, so it agrees
    with the exact function except where two clip ratios' errors tie to the last ulp. The weights
    that ship are always re-quantized with the exact function (compress_with_mask)."""
    w = np.asarray(w, dtype=np.float64)
    c = w.shape[0]
    flat = w.reshape(c, -1)
    keep = np.asarray(mask, dtype=bool).reshape(c, -1)
    flat = np.where(keep, flat, 0.0)
    any_kept = keep.any(axis=1)
    if bits == 1:
        cnt = np.maximum(keep.sum(axis=1), 1)
        sc = np.abs(flat).sum(axis=1) / cnt
        sc = np.where(any_kept & (sc != 0), sc, 1.0)
        lv = np.where(keep, np.where(flat >= 0, 1.0, -1.0), 0.0)
        return (lv * sc[:, None]).reshape(w.shape)
    qmax = qmax_for_bits(bits)
    amax = np.abs(flat).max(axis=1)
    s = amax[:, None] * CLIP_RATIOS[None, :] / qmax  # (C, R)
    safe = np.where(s > 0, s, 1.0)
    q = np.clip(np.round(flat[:, None, :] / safe[:, :, None]), -qmax, qmax)
    q = np.where(keep[:, None, :], q, 0.0)
    err = ((q * safe[:, :, None] - flat[:, None, :]) ** 2).sum(axis=2)
    best = np.argmin(err, axis=1)  # first minimum, as the exact loop's strict improvement
    rows = np.arange(c)
    out = q[rows, best] * safe[rows, best][:, None]
    out[~any_kept | (amax == 0)] = 0.0
    return out.reshape(w.shape)


class _STEQuant(torch.autograd.Function):
    """Forward: the shipped fake-quant of the masked weight (vectorised twin); backward:
    identity on the kept weights, zero on the pruned ones (masks stay fixed during fine-tuning)."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, mask: torch.Tensor, bits: int) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(mask)
        wn = w.detach().cpu().numpy().astype(np.float64)
        m = mask.cpu().numpy()
        q = fake_quant_fast(np.where(m, wn, 0.0), bits, m)
        return torch.as_tensor(q, dtype=w.dtype, device=w.device)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (mask,) = ctx.saved_tensors
        return grad * mask.to(grad.dtype), None, None


class FakeQuantParam(torch.nn.Module):
    """torch.nn.utils.parametrize parametrization: weight -> STE fake-quant at fixed bits/mask."""

    def __init__(self, bits: int, mask: np.ndarray) -> None:
        super().__init__()
        self.bits = int(bits)
        self.register_buffer("mask", torch.as_tensor(np.asarray(mask, dtype=bool)))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return _STEQuant.apply(w, self.mask, self.bits)


def compress_with_mask(w: np.ndarray, bits: int, mask: np.ndarray) -> CompressedLayer:
    """Quantize with a fixed pruning mask (after fine-tuning: the plan's masks are kept)."""
    mask = np.asarray(mask, dtype=bool)
    levels, scales = quantize_weight_channels(np.where(mask, np.asarray(w, dtype=np.float64), 0.0), bits, mask)
    return CompressedLayer(levels, scales, bits, mask)
