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
