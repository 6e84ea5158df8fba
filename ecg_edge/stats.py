"""Intervals for the figures we print: a paired bootstrap of the difference between two
predictions on the same windows, the interval of one metric, and mean +- spread over seeds.

Why a paired bootstrap: a compressed model and its fp32 parent are scored on the same windows,
so most of the sampling noise is shared; resampling the windows (or whole records/patients, when
windows of one record are not independent) together for both predictions keeps that pairing.

The resampling is exact and vectorised: a window is fully described by its category
(true class, prediction A, prediction B), so a window-level resample is a multinomial draw of
category counts, and a group-level resample is a multinomial draw of group counts times the
per-group category counts. Metrics are then computed from confusion counts, by the same
definition as metrics.classification_metrics (macro over the classes present in the truth
or the prediction). Ground level: imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0
METRICS = ("accuracy", "macro_f1")
# Fewer groups than this: resampling groups says nothing (one group always resamples to itself),
# so windows are resampled instead and the result says so. Below FEW_GROUPS it is flagged rough.
MIN_GROUPS = 2
FEW_GROUPS = 10


@dataclass(frozen=True)
class Interval:
    """A point estimate on the data as given and its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    level: float = LEVEL

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def as_list(self) -> list[float]:
        return [self.low, self.high]

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def fmt_points(self, signed: bool = True) -> str:
        """In percentage points, e.g. '-0.31 pt [95% CI -0.80, +0.15]'."""
        f = "{:+.2f}" if signed else "{:.2f}"
        pct = round(100 * self.level)
        return (f"{f.format(100 * self.estimate)} pt [{pct}% CI {f.format(100 * self.low)}, "
                f"{f.format(100 * self.high)}]")

    def to_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "ci": [self.low, self.high], "level": self.level}


@dataclass(frozen=True)
class Comparison:
    """Paired difference new - reference (negative = a drop) for each metric."""

    delta: dict[str, Interval]
    reference: dict[str, float]
    new: dict[str, float]
    n: int
    n_groups: int | None
    resamples: int
    seed: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n, "n_groups": self.n_groups, "resamples": self.resamples,
                               "seed": self.seed, "level": next(iter(self.delta.values())).level,
                               "resampled_by": "group" if self.n_groups is not None else "window",
                               "note": self.note}
        for m, iv in self.delta.items():
            out[m] = {"reference": self.reference[m], "new": self.new[m], "delta": iv.estimate,
                      "delta_ci95": iv.as_list()}
        return out


def delta_line(cmp: dict[str, Any]) -> str:
    """One printable line from Comparison.to_dict() (or the JSON it was saved as), e.g.
    'accuracy -0.29 pt [95% CI -0.86, +0.29]; macro-F1 ... (paired bootstrap over 70 groups)'."""
    parts = []
    for m, name in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
        d, (lo, hi) = cmp[m]["delta"], cmp[m]["delta_ci95"]
        parts.append(f"{name} {100 * d:+.2f} pt [95% CI {100 * lo:+.2f}, {100 * hi:+.2f}]")
    by = f"{cmp['n_groups']} groups" if cmp.get("n_groups") is not None else f"{cmp['n']} windows"
    return "; ".join(parts) + f" (paired bootstrap over {by})" + (f"; {cmp['note']}" if cmp.get("note") else "")


@dataclass(frozen=True)
class Spread:
    """Mean and sample standard deviation (ddof = 1; 0 for one value) over seeds/runs."""

    mean: float
    std: float
    n: int
    min: float
    max: float

    def fmt(self, digits: int = 4) -> str:
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f} (n={self.n})"

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n, "min": self.min, "max": self.max}


def mean_spread(values: Sequence[float]) -> Spread:
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_spread needs at least one value")
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return Spread(float(v.mean()), std, int(v.size), float(v.min()), float(v.max()))


def metrics_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy and macro-F1 of confusion counts (..., C, C) [true, pred], batched."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support, predicted = cm.sum(axis=-1), cm.sum(axis=-2)
    total = support.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(predicted > 0, tp / predicted, 0.0)
        rec = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
        present = (support + predicted) > 0
        n_present = present.sum(axis=-1)
        macro_f1 = np.where(n_present > 0, (f1 * present).sum(axis=-1) / n_present, 0.0)
        accuracy = np.where(total > 0, tp.sum(axis=-1) / total, 0.0)
    return {"accuracy": accuracy, "macro_f1": macro_f1}


def _check(y: np.ndarray, preds: list[np.ndarray], groups: np.ndarray | None, n_classes: int | None
           ) -> tuple[np.ndarray, list[np.ndarray], int]:
    y = np.asarray(y).astype(np.int64).ravel()
    preds = [np.asarray(p).astype(np.int64).ravel() for p in preds]
    if y.size == 0:
        raise ValueError("bootstrap needs at least one window")
    for p in preds:
        if p.shape != y.shape:
            raise ValueError(f"predictions have {p.size} windows, labels {y.size}: they must be the same windows")
    if groups is not None and np.asarray(groups).ravel().shape != y.shape:
        raise ValueError(f"groups has {np.asarray(groups).size} entries, labels {y.size}")
    lo = min(int(a.min()) for a in [y, *preds])
    if lo < 0:
        raise ValueError(f"class indices must be >= 0, got {lo}")
    hi = max(int(a.max()) for a in [y, *preds]) + 1
    c = hi if n_classes is None else int(n_classes)
    if c < hi:
        raise ValueError(f"n_classes={c} but a class index {hi - 1} occurs")
    return y, preds, c


def _group_index(groups: np.ndarray | None) -> tuple[np.ndarray | None, str]:
    """Dense group index per window, or None (resample windows) with the reason."""
    if groups is None:
        return None, ""
    _, gidx = np.unique(np.asarray(groups).ravel(), return_inverse=True)
    k = int(gidx.max()) + 1
    if k < MIN_GROUPS:
        return None, (f"all windows come from {k} patient/record, so windows were resampled: the interval "
                      "ignores within-patient correlation and is too narrow")
    return gidx, (f"only {k} patients/records: a rough interval" if k < FEW_GROUPS else "")


def _resampled_counts(codes: np.ndarray, n_codes: int, gidx: np.ndarray | None, resamples: int,
                      seed: int) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Category counts of the data (n_codes,) and of each resample (resamples, n_codes)."""
    rng = np.random.default_rng(seed)
    full = np.bincount(codes, minlength=n_codes).astype(np.float64)
    if gidx is None:
        draws = rng.multinomial(codes.size, full / full.sum(), size=resamples).astype(np.float64)
        return full, draws, None
    n_groups = int(gidx.max()) + 1
    per_group = np.zeros((n_groups, n_codes), dtype=np.float64)
    np.add.at(per_group, (gidx, codes), 1.0)
    gdraws = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=resamples).astype(np.float64)
    return full, gdraws @ per_group, n_groups


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [a, 1.0 - a])
    return float(lo), float(hi)


def _validate(resamples: int, level: float) -> None:
    if resamples < 100:
        raise ValueError(f"resamples must be >= 100 for a 95% interval, got {resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def paired_bootstrap(y: np.ndarray, pred_ref: np.ndarray, pred_new: np.ndarray, *,
                     groups: np.ndarray | None = None, n_classes: int | None = None,
                     resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL) -> Comparison:
    """Paired bootstrap interval of metric(pred_new) - metric(pred_ref) on the same windows.

    groups (record or patient id per window) resamples whole groups, for windows that are not
    independent; without it windows are resampled. Fixed seed: the same inputs give the same
    interval.
    """
    _validate(resamples, level)
    y, (a, b), c = _check(y, [pred_ref, pred_new], groups, n_classes)
    codes = (y * c + a) * c + b
    gidx, note = _group_index(groups)
    full, draws, n_groups = _resampled_counts(codes, c ** 3, gidx, resamples, seed)
    cube = np.concatenate([full[None], draws]).reshape(-1, c, c, c)  # [resample, true, a, b]
    ma = metrics_from_confusion(cube.sum(axis=3))
    mb = metrics_from_confusion(cube.sum(axis=2))
    delta, ref, new = {}, {}, {}
    for m in METRICS:
        d = mb[m] - ma[m]
        delta[m] = Interval(float(d[0]), *_percentiles(d[1:], level), level=level)
        ref[m], new[m] = float(ma[m][0]), float(mb[m][0])
    return Comparison(delta, ref, new, int(y.size), n_groups, resamples, seed, note)


def bootstrap_metrics(y: np.ndarray, pred: np.ndarray, *, groups: np.ndarray | None = None,
                      n_classes: int | None = None, resamples: int = RESAMPLES, seed: int = SEED,
                      level: float = LEVEL) -> dict[str, Interval]:
    """Bootstrap interval of accuracy and macro-F1 of one prediction."""
    _validate(resamples, level)
    y, (p,), c = _check(y, [pred], groups, n_classes)
    full, draws, _ = _resampled_counts(y * c + p, c * c, _group_index(groups)[0], resamples, seed)
    m = metrics_from_confusion(np.concatenate([full[None], draws]).reshape(-1, c, c))
    return {k: Interval(float(m[k][0]), *_percentiles(m[k][1:], level), level=level) for k in METRICS}


@dataclass(frozen=True)
class RunsComparison:
    """Two training recipes, several runs (seeds) each, scored on the same windows.

    delta is mean(new runs) - mean(reference runs) with two intervals: `patients` resamples the
    test patients (or windows) once per resample, common to every run, with the runs fixed: it
    answers "on other patients, would these runs differ?"; `runs_and_patients` also redraws each
    side's runs with replacement, so seed-to-seed spread widens it: "would other seeds?".
    """

    reference: dict[str, Spread]
    new: dict[str, Spread]
    reference_runs: dict[str, list[float]]
    new_runs: dict[str, list[float]]
    patients: dict[str, Interval]
    runs_and_patients: dict[str, Interval]
    n: int
    n_groups: int | None
    resamples: int
    seed: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": self.n,
            "n_groups": self.n_groups,
            "resamples": self.resamples,
            "seed": self.seed,
            "resampled_by": "group" if self.n_groups is not None else "window",
            "note": self.note,
            "runs_reference": len(next(iter(self.reference_runs.values()))),
            "runs_new": len(next(iter(self.new_runs.values()))),
        }
        for m in METRICS:
            out[m] = {
                "reference": self.reference[m].to_dict(),
                "new": self.new[m].to_dict(),
                "reference_runs": self.reference_runs[m],
                "new_runs": self.new_runs[m],
                "delta": self.patients[m].estimate,
                "delta_ci95_patients": self.patients[m].as_list(),
                "delta_ci95_runs_and_patients": self.runs_and_patients[m].as_list(),
            }
        return out


def runs_bootstrap(
    y: np.ndarray,
    preds_ref: Sequence[np.ndarray],
    preds_new: Sequence[np.ndarray],
    *,
    groups: np.ndarray | None = None,
    n_classes: int | None = None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> RunsComparison:
    """Mean over runs of new minus mean over runs of reference, with the two intervals of
    RunsComparison. The runs of the two sides need not be paired or equal in number."""
    _validate(resamples, level)
    if not preds_ref or not preds_new:
        raise ValueError("runs_bootstrap needs at least one run on each side")
    y, preds, c = _check(y, [*preds_ref, *preds_new], groups, n_classes)
    gidx, note = _group_index(groups)
    rng = np.random.default_rng(seed)
    if gidx is None:
        w = rng.multinomial(y.size, np.full(y.size, 1.0 / y.size), size=resamples).astype(
            np.float64
        )
        member, n_groups = np.arange(y.size), None
    else:
        n_groups = int(gidx.max()) + 1
        w = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=resamples).astype(
            np.float64
        )
        member = gidx
    w = np.concatenate([np.ones((1, w.shape[1])), w])  # row 0: the data as given
    scores: dict[str, np.ndarray] = {m: np.empty((len(preds), w.shape[0])) for m in METRICS}
    for r, p in enumerate(preds):
        per_unit = np.zeros((w.shape[1], c * c))
        np.add.at(per_unit, (member, y * c + p), 1.0)
        mr = metrics_from_confusion((w @ per_unit).reshape(-1, c, c))
        for m in METRICS:
            scores[m][r] = mr[m]
    k = len(preds_ref)
    ia = rng.integers(0, k, size=(resamples, k))
    ib = rng.integers(0, len(preds_new), size=(resamples, len(preds_new)))
    cols = np.arange(1, resamples + 1)
    fixed, drawn = {}, {}
    for m in METRICS:
        a, b = scores[m][:k], scores[m][k:]
        d = b.mean(axis=0) - a.mean(axis=0)
        fixed[m] = Interval(float(d[0]), *_percentiles(d[1:], level), level=level)
        dr = b[ib, cols[:, None]].mean(axis=1) - a[ia, cols[:, None]].mean(axis=1)
        drawn[m] = Interval(float(d[0]), *_percentiles(dr, level), level=level)
    ref = {m: mean_spread(scores[m][:k, 0]) for m in METRICS}
    new = {m: mean_spread(scores[m][k:, 0]) for m in METRICS}
    return RunsComparison(
        ref,
        new,
        {m: [float(v) for v in scores[m][:k, 0]] for m in METRICS},
        {m: [float(v) for v in scores[m][k:, 0]] for m in METRICS},
        fixed,
        drawn,
        int(y.size),
        n_groups,
        resamples,
        seed,
        note,
    )
