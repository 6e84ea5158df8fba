"""Train/val/test splits by patient (never by window), stratified by class and seeded.

Windows of one patient always land in one split, so test accuracy measures generalisation to
unseen people, which is what a wearable faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecg_edge.data.prepared import SPLITS
from ecg_edge.errors import DataError


@dataclass
class SplitConfig:
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.fractions) != 3 or any(f < 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-6:
            raise DataError(f"split fractions {self.fractions} must be three non-negative numbers summing to 1")


def split_by_patient(y: np.ndarray, groups: np.ndarray, n_classes: int,
                     cfg: SplitConfig) -> dict[str, np.ndarray]:
    """Indices per split. Greedy stratification: patients (largest first, ties shuffled by the
    seed) go to the split whose class counts lag furthest behind their target share."""
    y = np.asarray(y, dtype=np.int64)
    groups = np.asarray(groups).astype(str)
    if y.shape[0] != groups.shape[0]:
        raise DataError(f"split: {y.shape[0]} labels but {groups.shape[0]} patient ids")
    rng = np.random.default_rng(cfg.seed)
    uniq, inv = np.unique(groups, return_inverse=True)
    counts = np.zeros((len(uniq), n_classes), dtype=np.float64)
    np.add.at(counts, (inv, y), 1.0)
    order = rng.permutation(len(uniq))
    order = order[np.argsort(-counts[order].sum(1), kind="stable")]
    frac = np.asarray(cfg.fractions, dtype=np.float64)
    total = counts.sum(0)
    have = np.zeros((3, n_classes))
    assign = np.empty(len(uniq), dtype=np.int64)
    for p in order:
        c = counts[p]
        # deficit of each split on this patient's classes, relative to its target share
        deficit = ((frac[:, None] * total[None, :] - have) / np.maximum(total, 1.0)[None, :] * (c > 0)).sum(1)
        deficit = np.where(frac > 0, deficit, -np.inf)
        s = int(np.argmax(deficit))
        assign[p] = s
        have[s] += c
    return {name: np.flatnonzero(assign[inv] == i) for i, name in enumerate(SPLITS)}
