"""Counting the bytes that ship.

- Per layer: the exact model.bin weight-block bytes (header, bias, multipliers, shifts, index,
  values) of the smallest legal encoding, from ecg_edge.layerplan.bitpack.weight_block_bytes.
- Whole file: when the packer lowers the checkpoint's architecture (ecg_edge.modelbin.graph
  .can_lower), the compressed checkpoint is packed and len(model.bin) is the denominator of the
  true compression ratio; otherwise totals are the sum of weight blocks only and are labelled so
  ("weight blocks only").
- Nominal ratio (the paper's): ecg_edge.layerplan.plan.nominal_cr, 32 * N / sum_l b_l * nnz_l.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ecg_edge.models.registry import model_from_checkpoint

EXACT = "model.bin"
BLOCKS_ONLY = "weight blocks only"


@dataclass
class ModelSize:
    total_bytes: int  # model.bin's device image (flashed), or the sum of weight blocks when source == BLOCKS_ONLY
    weight_block_bytes: int
    arena_bytes: int
    source: str  # EXACT | BLOCKS_ONLY
    arena_source: str  # "packer" | "estimate"
    model_bin: bytes | None = None
    pack_info: dict | None = None


def estimate_arena(model: nn.Module, in_leads: int, n_samples: int) -> int:
    """Fallback arena estimate (int8 activations): 3 x the largest activation tensor a leaf
    module produces (a residual block keeps its input live beside two intermediates)."""
    largest = in_leads * n_samples

    def hook(_m: nn.Module, _i: tuple, out: torch.Tensor) -> None:
        nonlocal largest
        if isinstance(out, torch.Tensor):
            largest = max(largest, int(out[0].numel()))

    leaves = [m for m in model.modules() if not list(m.children())]
    hs = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, in_leads, n_samples))
    finally:
        for h in hs:
            h.remove()
    return int(-(-3 * largest // 16) * 16)


def measure(ckpt, plan, calib_X: np.ndarray, block_bytes: int, use_packer: bool = True) -> ModelSize:
    """Exact model.bin size and arena via the packer when it lowers this architecture, else the
    labelled fallback."""
    from ecg_edge.modelbin.graph import can_lower

    if use_packer and can_lower(ckpt.arch):
        from ecg_edge.modelbin.packer import pack

        res = pack(ckpt, plan, calib_X)
        return ModelSize(res.device_size, block_bytes, int(res.arena_bytes), EXACT, "packer", res.data,
                         {"sections": res.sections, "arena_lower_bound": res.arena_lower_bound,
                          "true_cr_packer": res.true_cr, "notes": list(res.notes)})
    model = model_from_checkpoint(ckpt)
    d = ckpt.data
    leads = d.get("leads", 1)
    n_leads = len(leads) if isinstance(leads, (list, tuple)) else int(leads)
    arena = estimate_arena(model, n_leads, int(d["n_samples"]))
    return ModelSize(block_bytes, block_bytes, arena, BLOCKS_ONLY, "estimate")
