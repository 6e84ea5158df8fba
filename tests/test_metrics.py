"""The shared table metrics against hand-computed values (and scikit-learn's conventions)."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.metrics import classification_metrics, confusion_matrix


def test_hand_computed_example() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    m = classification_metrics(y_true, y_pred, ["A", "B", "C"])
    assert m["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    prec = [1.0, 0.5, 0.5]
    rec = [2 / 3, 0.5, 1.0]
    f1 = [2 * p * r / (p + r) for p, r in zip(prec, rec, strict=True)]
    assert m["macro_precision"] == pytest.approx(np.mean(prec))
    assert m["macro_recall"] == pytest.approx(np.mean(rec))
    assert m["macro_f1"] == pytest.approx(np.mean(f1))
    assert m["per_class"]["A"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8),
                                   "support": 3}


def test_absent_class_is_left_out_of_macro_average() -> None:
    m = classification_metrics(np.array([0, 1, 1]), np.array([0, 1, 1]), ["A", "B", "C"])
    assert m["macro_f1"] == 1.0 and m["per_class"]["C"]["support"] == 0
    # a class predicted but never true counts (precision 0)
    m = classification_metrics(np.array([0, 1]), np.array([0, 2]), ["A", "B", "C"])
    assert m["macro_recall"] == pytest.approx((1 + 0 + 0) / 3)


def test_confusion_counts() -> None:
    cm = confusion_matrix(np.array([1, 1, 0]), np.array([0, 1, 0]), 2)
    assert cm.tolist() == [[1, 0], [1, 1]] and cm.sum() == 3
