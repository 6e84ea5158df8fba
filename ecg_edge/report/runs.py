"""Compare training recipes run over seeds on one prepared dataset: window and record-level
accuracy / macro-F1 of every run's best.pt on a split, mean and spread over seeds, and the paired
bootstrap 95% interval of NEW - REF (seed i of NEW paired with seed i of REF, whole groups
resampled: patients, or records where the split holds a single patient).

    python -m ecg_edge.report.runs --data D --ref RUN_A0 --ref RUN_A1 --new RUN_B0 --new RUN_B1 \\
        --label "item 4" --out OUT.json
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.data.prepared import load_prepared
from ecg_edge.errors import EcgEdgeError
from ecg_edge.metrics import aggregate_records, classification_metrics
from ecg_edge.models.predict import predict
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.options import entry_point
from ecg_edge.stats import delta_line, mean_spread, paired_bootstrap


def run_predictions(run: Path, X: np.ndarray, records: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(window argmax, record ids, record argmax of mean logits) of RUN/best.pt."""
    ck = load_checkpoint(run / "best.pt")
    logits = predict(model_from_checkpoint(ck, run / "best.pt"), X)
    ids, mean, _ = aggregate_records(logits, records)
    return logits.argmax(1), ids, mean.argmax(1)


def compare(data: Path, refs: list[Path], news: list[Path], split: str = "test") -> dict[str, Any]:
    if len(refs) != len(news):
        raise EcgEdgeError("give as many --ref runs as --new runs (paired by seed)")
    ds = load_prepared(data)
    X, y = ds.split(split)
    X = np.asarray(X)
    recs = ds.records(split)
    if recs is None:
        raise EcgEdgeError(f"{data}: no record ids; re-prepare it with this version")
    groups = ds.groups(split)
    classes = list(ds.classes)
    rec_ids, _, inv = aggregate_records(np.zeros((len(y), 1)), recs)
    rec_y = np.zeros(len(rec_ids), dtype=np.int64)
    rec_y[inv] = y
    rec_group = np.empty(len(rec_ids), dtype=object)
    rec_group[inv] = groups
    by_patient = len(np.unique(groups)) > 1
    out: dict[str, Any] = {"data": str(data), "split": split, "windows": int(len(y)), "records": int(len(rec_ids)),
                           "patients": int(len(np.unique(groups))), "runs": {}}
    pooled: dict[str, list[np.ndarray]] = {k: [] for k in ("wy", "wa", "wb", "wg", "ry", "ra", "rb", "rg")}
    for a, b in zip(refs, news, strict=True):
        pa, _, ra = run_predictions(a, X, recs)
        pb, _, rb = run_predictions(b, X, recs)
        for run, pw, pr in ((a, pa, ra), (b, pb, rb)):
            w = classification_metrics(y, pw, classes)
            r = classification_metrics(rec_y, pr, classes)
            out["runs"][str(run)] = {"window_accuracy": w["accuracy"], "window_macro_f1": w["macro_f1"],
                                     "record_accuracy": r["accuracy"], "record_macro_f1": r["macro_f1"]}
        pooled["wy"].append(y)
        pooled["wa"].append(pa)
        pooled["wb"].append(pb)
        # the same patient (or record) across seeds is one group
        pooled["wg"].append(np.asarray(groups if by_patient else recs, dtype=object))
        pooled["ry"].append(rec_y)
        pooled["ra"].append(ra)
        pooled["rb"].append(rb)
        pooled["rg"].append(rec_group if by_patient else np.asarray(rec_ids, dtype=object))
    cat = {k: np.concatenate(v) for k, v in pooled.items()}
    win = paired_bootstrap(cat["wy"], cat["wa"], cat["wb"], groups=cat["wg"].astype(str), n_classes=len(classes))
    rec = paired_bootstrap(cat["ry"], cat["ra"], cat["rb"], groups=cat["rg"].astype(str), n_classes=len(classes))
    for side, runs in (("ref", refs), ("new", news)):
        vals = [out["runs"][str(r)] for r in runs]
        out[side] = {k: mean_spread([v[k] for v in vals]).to_dict() for k in vals[0]}
    out["delta_window"] = win.to_dict()
    out["delta_record"] = rec.to_dict()
    out["groups"] = "patient" if by_patient else "record (the split holds one patient)"
    return out


def to_text(res: dict[str, Any], label: str) -> str:
    lines = [f"{res['data']} {res['split']}: {res['windows']} windows, {res['records']} records, "
             f"{res['patients']} patients",
             f"{'run':<48} {'win acc':>8} {'win F1':>8} {'rec acc':>8} {'rec F1':>8}"]
    for run, m in res["runs"].items():
        lines.append(f"{run[-48:]:<48} {m['window_accuracy']:>8.4f} {m['window_macro_f1']:>8.4f} "
                     f"{m['record_accuracy']:>8.4f} {m['record_macro_f1']:>8.4f}")
    for side in ("ref", "new"):
        s = res[side]
        lines.append(f"{side} mean +- sd: " + ", ".join(
            f"{k} {s[k]['mean']:.4f} +- {s[k]['std']:.4f}" for k in ("window_macro_f1", "record_macro_f1")))
    lines.append(f"groups resampled: {res['groups']}")
    lines.append(f"{label} - ref, windows: {delta_line(res['delta_window'])}")
    lines.append(f"{label} - ref, records: {delta_line(res['delta_record'])}")
    return "\n".join(lines)


@click.command(help=__doc__.splitlines()[0])
@click.option("--data", type=click.Path(path_type=Path), required=True)
@click.option("--ref", type=click.Path(path_type=Path), multiple=True, required=True, help="repeated, one per seed")
@click.option("--new", type=click.Path(path_type=Path), multiple=True, required=True, help="repeated, one per seed")
@click.option("--split", default="test", show_default=True)
@click.option("--label", default="new", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def command(data: Path, ref: tuple[Path, ...], new: tuple[Path, ...], split: str, label: str,
            out: Path | None) -> None:
    res = compare(data, list(ref), list(new), split)
    print(to_text(res, label))
    if out is not None:
        from ecg_edge.atomic import write_json

        write_json(out, res)


main = entry_point(command, "python -m ecg_edge.report.runs")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
