"""Fine-tuning with the plan fixed: every compressible layer runs through the exact shipped
fake-quant (straight-through estimator), pruned weights stay pruned (fixed masks, zero gradient),
and the bit-widths never change. Adam, a few epochs, BatchNorm statistics re-estimated on the
compressed weights (train mode)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from ecg_edge.compress.quantize import FakeQuantParam


@dataclass
class FinetuneConfig:
    epochs: int = 2
    lr: float = 1e-4
    batch_size: int = 32
    max_train: int = 0  # 0 = the whole training split per epoch; else a seeded subset
    weight_decay: float = 0.0
    seed: int = 0


def finetune(model: nn.Module, bits: dict[str, int], masks: dict[str, np.ndarray],
             X: np.ndarray, y: np.ndarray, cfg: FinetuneConfig) -> nn.Module:
    """Returns a fine-tuned copy whose layer weights are the latent fp32 weights (masked); the
    caller re-quantizes them with the same bits and masks."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    m = copy.deepcopy(model)
    for name, b in bits.items():
        mod = m.get_submodule(name)
        mask = torch.as_tensor(np.asarray(masks[name], dtype=bool))
        with torch.no_grad():
            mod.weight.mul_(mask.to(mod.weight.dtype))
        parametrize.register_parametrization(mod, "weight", FakeQuantParam(b, masks[name]))
    opt = torch.optim.Adam(m.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(y)
    for _ in range(cfg.epochs):
        m.train()
        idx = rng.permutation(n)
        if cfg.max_train and cfg.max_train < n:
            idx = idx[:cfg.max_train]
        for i in range(0, len(idx), cfg.batch_size):
            bi = np.sort(idx[i:i + cfg.batch_size])
            if len(bi) < 2:  # BatchNorm needs more than one sample
                continue
            xb = torch.from_numpy(np.array(X[bi], dtype=np.float32))
            yb = torch.from_numpy(np.asarray(y[bi], dtype=np.int64))
            loss = nn.functional.cross_entropy(m(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    m.eval()
    for name in bits:
        mod = m.get_submodule(name)
        parametrize.remove_parametrizations(mod, "weight", leave_parametrized=False)
        with torch.no_grad():
            mod.weight.mul_(torch.as_tensor(np.asarray(masks[name], dtype=bool)).to(mod.weight.dtype))
    return m
