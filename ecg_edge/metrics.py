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


RECORD_AGGREGATION = "mean of window logits"


def aggregate_records(logits: np.ndarray, records: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(record ids in first-seen order, mean logits per record (R, C), index of each window's record)."""
    records = np.asarray(records).astype(str)
    uniq, first, inv = np.unique(records, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    inv = rank[inv]
    sums = np.zeros((len(uniq), logits.shape[1]), dtype=np.float64)
    np.add.at(sums, inv, np.asarray(logits, dtype=np.float64))
    counts = np.bincount(inv, minlength=len(uniq)).astype(np.float64)
    return uniq[order], sums / counts[:, None], inv


def record_metrics(logits: np.ndarray, y_true: np.ndarray, records: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Record-level figures (what a clinician compares): a record's prediction is the argmax of
    its windows' mean logits; a majority vote of window argmaxes is given beside it. A record's
    truth is its windows' label (they share one by construction)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    ids, mean, inv = aggregate_records(logits, records)
    truth = np.zeros(len(ids), dtype=np.int64)
    truth[inv] = y_true
    mixed = int(sum(len(np.unique(y_true[inv == r])) > 1 for r in range(len(ids))))
    res = classification_metrics(truth, mean.argmax(1), classes)
    votes = np.zeros((len(ids), len(classes)), dtype=np.int64)
    np.add.at(votes, (inv, np.asarray(logits).argmax(1)), 1)
    vote = classification_metrics(truth, votes.argmax(1), classes)
    res.update({"aggregation": RECORD_AGGREGATION, "n_records": len(ids),
                "windows_per_record_mean": float(len(y_true) / max(len(ids), 1)),
                "vote": {"aggregation": "majority vote of window argmax (ties: lowest class index)",
                         "accuracy": vote["accuracy"], "macro_f1": vote["macro_f1"]}})
    if mixed:
        res["records_with_mixed_labels"] = mixed
    return res


def add_record_metrics(res: dict[str, Any], logits: np.ndarray, y: np.ndarray, ds: Any, split: str,
                       classes: list[str]) -> None:
    """res["record"]: record-level metrics, when the dataset knows each window's record."""
    recs = ds.records(split)
    if recs is not None and len(recs) == len(y):
        res["record"] = record_metrics(logits, y, recs, classes)
