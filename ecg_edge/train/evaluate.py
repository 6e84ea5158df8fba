"""Evaluate a checkpoint on a prepared split: the paper's table metrics, per-class figures and
the confusion matrix, after refusing any checkpoint/dataset mismatch by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ecg_edge.atomic import write_json, write_text
from ecg_edge.checkpoint import Checkpoint, load_checkpoint
from ecg_edge.data.prepared import PreparedDataset, load_prepared
from ecg_edge.errors import DataError, EcgEdgeError
from ecg_edge.metrics import add_record_metrics, classification_metrics
from ecg_edge.models.predict import predict
from ecg_edge.models.registry import ARCHITECTURES, model_from_checkpoint
from ecg_edge.stats import Comparison, RunsComparison, delta_line, paired_bootstrap, runs_bootstrap


def check_compatible(ck: Checkpoint, ds: PreparedDataset, ckpt_path: str | Path) -> None:
    """A checkpoint evaluated on data it was not built for fails here, naming both sides."""
    m = ds.manifest
    if ck.arch not in ARCHITECTURES:
        raise EcgEdgeError(f"{ckpt_path}: unknown architecture {ck.arch!r}; expected one of {', '.join(ARCHITECTURES)}")
    if list(ck.classes) != list(m.classes):
        raise EcgEdgeError(
            f"{ckpt_path}: trained for {len(ck.classes)} classes {list(ck.classes)} but dataset {ds.root} "
            f"(task {m.task!r}) has {len(m.classes)} classes {list(m.classes)}")
    leads = ck.data.get("leads")
    if isinstance(leads, list) and len(leads) != m.n_leads:
        raise EcgEdgeError(f"{ckpt_path}: {ck.arch} expects {len(leads)} leads {leads} but dataset {ds.root} has "
                           f"{m.n_leads} leads {list(m.leads)}")
    n = ck.data.get("n_samples")
    if n is not None and int(n) != m.n_samples:
        raise EcgEdgeError(f"{ckpt_path}: {ck.arch} expects windows of {n} samples but dataset {ds.root} has {m.n_samples}")
    fs = ck.data.get("fs")
    if fs is not None and float(fs) != float(m.fs):
        raise EcgEdgeError(f"{ckpt_path}: trained at {fs} Hz but dataset {ds.root} is sampled at {m.fs} Hz")


def evaluate_checkpoint(ckpt_path: str | Path, data_dir: str | Path, split: str = "test",
                        batch_size: int = 256) -> dict[str, Any]:
    ck = load_checkpoint(ckpt_path)
    ds = load_prepared(data_dir)
    check_compatible(ck, ds, ckpt_path)
    X, y = ds.split(split)
    if len(y) == 0:
        raise DataError(f"{ds.root}: split {split!r} is empty (0 windows); nothing to evaluate")
    logits = predict(model_from_checkpoint(ck, str(ckpt_path)), X, batch_size)
    res = classification_metrics(np.asarray(y), logits.argmax(1), list(ck.classes))
    add_record_metrics(res, logits, np.asarray(y), ds, split, list(ck.classes))
    res.update({"checkpoint": str(ckpt_path), "arch": ck.arch, "dataset": str(ds.root), "task": ds.manifest.task,
                "split": split, "runtime": "torch-fp32"})
    res.update(per_window(np.asarray(y), logits.argmax(1)))
    return res


def per_window(y: np.ndarray, pred: np.ndarray) -> dict[str, list[int]]:
    """Labels and predictions of every window, kept in the results so that two evaluations of the
    same split can be compared pairwise (compare_results)."""
    return {"labels": [int(v) for v in y], "predictions": [int(v) for v in pred]}


def split_groups(data_dir: str | Path, split: str) -> np.ndarray | None:
    """Patient/record id of each window of a split, or None when the dataset has none."""
    try:
        return load_prepared(data_dir).groups(split)
    except DataError:
        return None


def compare_results(ref: dict[str, Any], new: dict[str, Any], groups: np.ndarray | None = None) -> Comparison:
    """Paired bootstrap 95% CI of new - ref (accuracy, macro-F1) over the same windows; resampled
    by patient/record when groups are given. Refuses results of different windows."""
    for r in (ref, new):
        if "predictions" not in r or "labels" not in r:
            raise EcgEdgeError(f"{r.get('checkpoint') or r.get('model_bin') or 'result'}: no per-window predictions "
                               "to compare (re-run `ecg-edge evaluate`)")
    if ref["labels"] != new["labels"] or ref.get("split") != new.get("split"):
        raise EcgEdgeError(f"cannot compare: {ref.get('split')!r} split of {ref.get('dataset')} ({len(ref['labels'])} windows) "
                           f"and {new.get('split')!r} split of {new.get('dataset')} ({len(new['labels'])} windows) "
                           "are not the same windows")
    if groups is not None and len(groups) != len(ref["labels"]):
        groups = None
    return paired_bootstrap(np.asarray(ref["labels"]), np.asarray(ref["predictions"]), np.asarray(new["predictions"]),
                            groups=groups, n_classes=len(ref["classes"]))


def comparison_text(cmp: Comparison, ref_name: str, new_name: str) -> str:
    return f"{new_name} - {ref_name} on {cmp.n} windows: {delta_line(cmp.to_dict())}"


def format_report(res: dict[str, Any]) -> str:
    """Plain-text tables: the paper's columns, per-class figures, the confusion matrix."""
    classes = res["classes"]
    w = max(8, *(len(c) for c in classes)) + 1
    lines = [f"{res.get('split', '?')} split of {res.get('dataset', '?')}: {res['n']} windows",
             "", f"{'accuracy':>10} {'macro_P':>9} {'macro_R':>9} {'macro_F1':>9}",
             f"{res['accuracy']:>10.4f} {res['macro_precision']:>9.4f} {res['macro_recall']:>9.4f} {res['macro_f1']:>9.4f}",
             "", f"{'class':<{w}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for c in classes:
        pc = res["per_class"][c]
        lines.append(f"{c:<{w}}{pc['precision']:>10.4f}{pc['recall']:>10.4f}{pc['f1']:>10.4f}{pc['support']:>9d}")
    lines += ["", "confusion (rows: true, columns: predicted)",
              f"{'':<{w}}" + "".join(f"{c[:w - 1]:>{w}}" for c in classes)]
    for c, row in zip(classes, res["confusion"], strict=True):
        lines.append(f"{c:<{w}}" + "".join(f"{v:>{w}d}" for v in row))
    if res.get("agreement_fakequant") is not None:
        lines += ["", f"argmax agreement with the fake-quant model: {res['agreement_fakequant']:.4f}"]
        if res.get("vs_fakequant"):
            lines.append("model.bin - fake-quant: " + delta_line(res["vs_fakequant"]))
    rec = res.get("record")
    if rec:
        lines += ["", f"record level: {rec['n_records']} records (prediction = {rec['aggregation']}; "
                      f"{rec['windows_per_record_mean']:.2f} windows per record)",
                  f"{'accuracy':>10} {'macro_P':>9} {'macro_R':>9} {'macro_F1':>9}",
                  f"{rec['accuracy']:>10.4f} {rec['macro_precision']:>9.4f} {rec['macro_recall']:>9.4f} "
                  f"{rec['macro_f1']:>9.4f}",
                  f"(a majority vote of window predictions instead: accuracy {rec['vote']['accuracy']:.4f}, "
                  f"macro-F1 {rec['vote']['macro_f1']:.4f})",
                  f"{'class':<{w}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
        for c in classes:
            pc = rec["per_class"][c]
            lines.append(f"{c:<{w}}{pc['precision']:>10.4f}{pc['recall']:>10.4f}{pc['f1']:>10.4f}{pc['support']:>9d}")
    return "\n".join(lines)


def write_report(res: dict[str, Any], out_dir: str | Path, stem: str) -> list[Path]:
    """OUT/STEM.json, OUT/STEM.txt and OUT/STEM_confusion.png."""
    from ecg_edge.train.plots import plot_confusion

    out = Path(out_dir)
    paths = [out / f"{stem}.json", out / f"{stem}.txt", out / f"{stem}_confusion.png"]
    write_json(paths[0], res)
    write_text(paths[1], format_report(res) + "\n")
    plot_confusion(res, paths[2], title=f"{res.get('arch', '')} {res.get('task', '')} {res.get('split', '')}".strip())
    return paths


def compare_runs(
    refs: list[dict[str, Any]], news: list[dict[str, Any]], groups: np.ndarray | None = None
) -> RunsComparison:
    """Mean(new runs) - mean(reference runs) on the same windows (stats.runs_bootstrap); refuses
    results of different windows or classes."""
    first = (refs + news)[0]
    for r in refs + news:
        name = r.get("checkpoint") or r.get("model_bin") or "result"
        if "predictions" not in r or "labels" not in r:
            raise EcgEdgeError(
                f"{name}: no per-window predictions to compare (re-run `ecg-edge evaluate`)"
            )
        if (
            r["labels"] != first["labels"]
            or r.get("split") != first.get("split")
            or list(r["classes"]) != list(first["classes"])
        ):
            raise EcgEdgeError(
                f"cannot compare: {name} was scored on other windows or classes than "
                f"{first.get('checkpoint') or first.get('model_bin')}"
            )
    if groups is not None and len(groups) != len(first["labels"]):
        groups = None
    return runs_bootstrap(
        np.asarray(first["labels"]),
        [np.asarray(r["predictions"]) for r in refs],
        [np.asarray(r["predictions"]) for r in news],
        groups=groups,
        n_classes=len(first["classes"]),
    )


def runs_text(cmp: RunsComparison, ref_names: list[str], new_names: list[str]) -> str:
    """Per-run table, mean +- std of each recipe and the difference with both intervals."""
    by = f"{cmp.n_groups} patients/records" if cmp.n_groups is not None else f"{cmp.n} windows"
    lines = [
        f"{cmp.n} windows, resampled by {by} ({cmp.resamples} resamples)",
        "",
        f"{'side':<10}{'accuracy':>10}{'macro_F1':>10}  run",
    ]
    for side, names, runs in (
        ("reference", ref_names, cmp.reference_runs),
        ("new", new_names, cmp.new_runs),
    ):
        for i, name in enumerate(names):
            lines.append(
                f"{side:<10}{runs['accuracy'][i]:>10.4f}{runs['macro_f1'][i]:>10.4f}  {name}"
            )
    lines.append("")
    for m, label in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
        lines.append(f"{label}: reference {cmp.reference[m].fmt()}, new {cmp.new[m].fmt()}")
        lines.append(
            f"  new - reference {cmp.patients[m].fmt_points()} over patients (runs fixed); "
            f"[95% CI {100 * cmp.runs_and_patients[m].low:+.2f}, {100 * cmp.runs_and_patients[m].high:+.2f}] "
            "redrawing runs too"
        )
    if cmp.note:
        lines.append(cmp.note)
    return "\n".join(lines)


def write_runs_report(
    out_dir: str | Path, cmp: RunsComparison, text: str, ref_names: list[str], new_names: list[str]
) -> list[Path]:
    """OUT/compare.json, OUT/compare.txt and OUT/compare.png."""
    from ecg_edge.train.plots import plot_runs

    out = Path(out_dir)
    paths = [out / "compare.json", out / "compare.txt", out / "compare.png"]
    data = cmp.to_dict() | {"reference_paths": ref_names, "new_paths": new_names}
    write_json(paths[0], data)
    write_text(paths[1], text + "\n")
    plot_runs(data, paths[2])
    return paths
