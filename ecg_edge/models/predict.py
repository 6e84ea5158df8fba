"""Batched float inference of a PyTorch model on windows (the one `predict` every package uses)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def predict(model: nn.Module, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits (N, classes) float32 for inputs X (N, leads, samples), in eval mode."""
    was_training = model.training
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            xb = torch.from_numpy(np.array(X[i:i + batch_size], dtype=np.float32))
            outs.append(model(xb).float().numpy())
    model.train(was_training)
    if not outs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(outs).astype(np.float32, copy=False)
