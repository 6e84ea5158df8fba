"""Magnitude pruning (paper eq. 4): keep W where |W| > theta_l, theta_l = the p_l-th percentile of |W_l|."""

from __future__ import annotations

import numpy as np


def magnitude_threshold(w: np.ndarray, sparsity: float) -> float:
    """theta = the (100 * sparsity)-th percentile of |w| (numpy's linear interpolation)."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    return float(np.percentile(np.abs(np.asarray(w, dtype=np.float64)), 100.0 * sparsity))


def magnitude_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Boolean keep-mask of w's shape. Sparsity 0 keeps every weight (even the smallest, which a
    strict '> 0th percentile' would drop)."""
    w = np.asarray(w, dtype=np.float64)
    if sparsity <= 0.0:
        return np.ones(w.shape, dtype=bool)
    return np.abs(w) > magnitude_threshold(w, sparsity)


def layer_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Kept weights: exact zeros stay pruned; if the plan asks for more sparsity than the zeros
    present, prune by magnitude below the layer's sparsity-quantile of |W|."""
    keep = w != 0
    if sparsity > 0 and (1.0 - keep.mean()) < sparsity - 1e-9:
        keep &= magnitude_mask(w, sparsity)
    return keep
