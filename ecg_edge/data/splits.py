"""Train/val/test splits by patient (never by window), stratified by class and seeded.

Windows of one patient always land in one split, so test accuracy measures generalisation to
unseen people, which is what a wearable faces. With few patients (the CPSC 2021 sample has 6)
a single split leaves one or two test patients; patient-wise k-fold (folds > 1) tests every
patient once across the folds, so results pooled over the folds cover all of them.
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
    folds: int = 1  # > 1: patient-wise k-fold; test = fold `fold`, the rest split train:val by fractions
    fold: int = 0

    def __post_init__(self) -> None:
        if len(self.fractions) != 3 or any(f < 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-6:
            raise DataError(f"split fractions {self.fractions} must be three non-negative numbers summing to 1")
        if self.folds < 1 or not 0 <= self.fold < self.folds:
            raise DataError(f"split fold {self.fold} of {self.folds} folds: expected folds >= 1 and "
                            f"0 <= fold < folds")
        if self.folds > 1 and self.fractions[0] + self.fractions[1] <= 0:
            raise DataError(f"split fractions {self.fractions}: k-fold splits the non-test patients "
                            "train:val by the first two fractions, which are both 0")


def _greedy(counts: np.ndarray, order: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Bin of each patient (row of counts), visiting patients in order: each goes to the bin
    whose class counts lag furthest behind its target share."""
    total = counts.sum(0)
    have = np.zeros((len(frac), counts.shape[1]))
    assign = np.full(len(counts), -1, dtype=np.int64)
    for p in order:
        c = counts[p]
        # deficit of each bin on this patient's classes, relative to its target share
        deficit = ((frac[:, None] * total[None, :] - have) / np.maximum(total, 1.0)[None, :] * (c > 0)).sum(1)
        deficit = np.where(frac > 0, deficit, -np.inf)
        s = int(np.argmax(deficit))
        assign[p] = s
        have[s] += c
    return assign


def split_by_patient(y: np.ndarray, groups: np.ndarray, n_classes: int,
                     cfg: SplitConfig) -> dict[str, np.ndarray]:
    """Indices per split. Greedy stratification: patients (largest first, ties shuffled by the
    seed) go to the split whose class counts lag furthest behind their target share. k-fold:
    the same greedy first deals patients into equal folds, then the non-test ones into
    train/val."""
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
    if cfg.folds == 1:
        assign = _greedy(counts, order, frac)
    else:
        if len(uniq) < cfg.folds:
            raise DataError(f"split: {cfg.folds} folds need at least {cfg.folds} patients, the data has {len(uniq)}")
        fold_of = _greedy(counts, order, np.full(cfg.folds, 1.0 / cfg.folds))
        rest = order[fold_of[order] != cfg.fold]
        tv = frac[:2] / frac[:2].sum()
        assign = np.full(len(uniq), 2, dtype=np.int64)
        tv_of = _greedy(counts[rest], np.arange(len(rest)), tv)
        for b in (0, 1):  # a few single-class patients can leave train or val empty; give it the smallest
            other = np.flatnonzero(tv_of == 1 - b)
            if tv[b] > 0 and not (tv_of == b).any() and len(other) >= 2:
                tv_of[other[np.argmin(counts[rest][other].sum(1))]] = b
        assign[rest] = tv_of
    return {name: np.flatnonzero(assign[inv] == i) for i, name in enumerate(SPLITS)}
