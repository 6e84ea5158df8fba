"""The paper's table metrics (accuracy, macro precision/recall/F1) plus per-class figures and
the confusion matrix, computed one way for every model and runtime. Ground level: imports
nothing of ours."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Macro averages over classes present in y_true or y_pred (a class absent from both is
    left out, as scikit-learn's labels= default does)."""
    n = len(classes)
    cm = confusion_matrix(y_true, y_pred, n)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(predicted > 0, tp / predicted, 0.0)
        rec = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    present = (support + predicted) > 0
    total = cm.sum()
    return {
        "n": int(total),
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_precision": float(prec[present].mean()) if present.any() else 0.0,
        "macro_recall": float(rec[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            c: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "confusion": cm.tolist(),
        "classes": list(classes),
    }
