"""Training-curve and confusion-matrix PNGs (matplotlib's object API: no global pyplot state,
safe in worker processes), written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ecg_edge.atomic import atomic_path


def _save(fig: Figure, path: str | Path) -> None:
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def plot_history(history: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Loss (train, val) and validation accuracy / macro-F1 per epoch."""
    ep = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.6))
    a1, a2 = fig.subplots(1, 2)
    a1.plot(ep, [h["train_loss"] for h in history], "o-", label="train loss")
    a1.plot(ep, [h["val_loss"] for h in history], "s-", label="val loss")
    a1.set_xlabel("epoch")
    a1.set_ylabel("cross-entropy")
    a1.legend()
    a2.plot(ep, [h["val_accuracy"] for h in history], "o-", label="val accuracy")
    a2.plot(ep, [h["val_macro_f1"] for h in history], "s-", label="val macro-F1")
    a2.set_xlabel("epoch")
    a2.set_ylim(0, 1.02)
    a2.legend()
    if title:
        fig.suptitle(title)
    _save(fig, path)


def plot_confusion(metrics: dict[str, Any], path: str | Path, title: str = "") -> None:
    """Confusion matrix (rows: true class, columns: predicted) with counts in each cell."""
    cm = np.asarray(metrics["confusion"])
    classes = metrics["classes"]
    n = len(classes)
    fig = Figure(figsize=(1.2 + 0.7 * n, 1.0 + 0.6 * n))
    ax = fig.subplots()
    row = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, row, out=np.zeros(cm.shape, dtype=float), where=row > 0)
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if frac[i, j] > 0.6 else "black", fontsize=8)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    _save(fig, path)


def plot_runs(runs: dict[str, Any], path: str | Path, title: str = "") -> None:
    """Macro-F1 of every run of both recipes (dots, mean as a bar) and the difference of the
    means with its two 95% intervals (patients; runs and patients)."""
    m = runs["macro_f1"]
    fig = Figure(figsize=(9, 3.6))
    a1, a2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    for x, key in ((0, "reference_runs"), (1, "new_runs")):
        v = np.asarray(m[key])
        a1.plot(np.full(v.size, x) + np.linspace(-0.08, 0.08, v.size), v, "o", alpha=0.8)
        a1.hlines(v.mean(), x - 0.25, x + 0.25, colors="k")
        a1.text(x + 0.27, v.mean(), f"{v.mean():.4f}", va="center", fontsize=8)
    a1.set_xticks(
        [0, 1], [f"reference ({runs['runs_reference']} runs)", f"new ({runs['runs_new']} runs)"]
    )
    a1.set_xlim(-0.5, 1.8)
    a1.set_ylabel("macro-F1")
    d = 100 * m["delta"]
    for y, key in ((1, "delta_ci95_patients"), (0, "delta_ci95_runs_and_patients")):
        lo, hi = (100 * v for v in m[key])
        a2.errorbar([d], [y], xerr=[[d - lo], [hi - d]], fmt="o", capsize=4)
        a2.text(hi, y + 0.12, f"[{lo:+.2f}, {hi:+.2f}]", ha="right", fontsize=8)
    a2.axvline(0, color="grey", lw=0.8)
    a2.set_yticks([0, 1], ["runs + patients", "patients"])
    a2.set_ylim(-0.6, 1.6)
    a2.set_xlabel("new - reference macro-F1 (pt), 95% CI")
    if title:
        fig.suptitle(title)
    _save(fig, path)
