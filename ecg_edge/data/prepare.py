"""From an archive to a prepared dataset: read records, pick leads, resample, band-pass, cut
windows (one per record, or fixed windows inside single-rhythm stretches), normalise, split by
patient, save atomically with provenance and skipped-by-reason counts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ecg_edge.data.labels import task_classes
from ecg_edge.data.leadsel import lead_indices, parse_leads
from ecg_edge.data.prepared import PreparedDataset, PreparedManifest, save_prepared
from ecg_edge.data.preprocess import (
    PreprocessConfig,
    bandpass,
    device_condition,
    device_normalise,
    normalise,
    pad_crop,
    resample,
)
from ecg_edge.data.records import Record, SkipReport
from ecg_edge.data.sources import SOURCES
from ecg_edge.data.splits import SplitConfig, split_by_patient
from ecg_edge.errors import DataError
from ecg_edge.progress import progress

TASKS_OF_SOURCE = {
    "challenge": ("chapman4", "cpsc9"),
    "cpsc2018": ("cpsc9",),
    "chapman": ("chapman4",),
    "mitdb": ("mitdb-rhythm",),
    "cpsc2021": ("cpsc2021-af",),
    "folder": ("chapman4", "cpsc9", "mitdb-rhythm", "cpsc2021-af"),
}


@dataclass
class PrepareConfig:
    source: str
    path: str
    task: str
    leads: list[str] = field(default_factory=lambda: ["II"])
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    stride: int | None = None  # window hop (target-rate samples) for rhythm sources; None = n_samples
    min_seconds: float = 5.0  # records shorter than this are skipped (whole-record tasks)
    labels_csv: str | None = None  # folder source
    fs: float | None = None  # folder source: rate of bare .mat records (or override headers)
    class_map: dict[str, str] | None = None  # mitdb: aux note -> class


def iter_records(cfg: PrepareConfig, skip: SkipReport) -> Iterator[Record]:
    root = Path(cfg.path)
    if not root.exists():
        raise DataError(f"{root}: no such file or folder")
    if cfg.source not in SOURCES:
        raise DataError(f"unknown source {cfg.source!r}; expected one of {', '.join(SOURCES)}")
    if cfg.task not in TASKS_OF_SOURCE[cfg.source]:
        raise DataError(f"source {cfg.source!r} does not carry task {cfg.task!r}; "
                        f"it gives {', '.join(TASKS_OF_SOURCE[cfg.source])}")
    if cfg.source == "challenge":
        from ecg_edge.data.sources.challenge import iter_challenge
        return iter_challenge(root, cfg.task, skip)
    if cfg.source == "cpsc2018":
        from ecg_edge.data.sources.cpsc2018 import iter_cpsc2018
        return iter_cpsc2018(root, cfg.task, skip)
    if cfg.source == "chapman":
        from ecg_edge.data.sources.chapman import iter_chapman
        return iter_chapman(root, cfg.task, skip)
    if cfg.source == "mitdb":
        from ecg_edge.data.sources.rhythm_wfdb import iter_mitdb
        return iter_mitdb(root, cfg.task, skip, cfg.class_map)
    if cfg.source == "cpsc2021":
        from ecg_edge.data.sources.rhythm_wfdb import iter_cpsc2021
        return iter_cpsc2021(root, cfg.task, skip)
    from ecg_edge.data.sources.folder import iter_folder
    return iter_folder(root, task_classes(cfg.task), Path(cfg.labels_csv) if cfg.labels_csv else None,
                       skip, cfg.fs)


def record_windows(rec: Record, cfg: PrepareConfig, classes: list[str], skip: SkipReport
                   ) -> list[tuple[np.ndarray, int]]:
    """(window (leads, n_samples) normalised, class index) of one record."""
    pre = cfg.preprocess
    where = rec.source_file or rec.record_id
    x = np.asarray(rec.signal, dtype=np.float32)
    if x.ndim != 2 or x.size == 0:
        skip.add("zero-length record", where)
        return []
    idx = lead_indices(rec.lead_names, cfg.leads)
    if idx is None:
        skip.add(f"lead {'/'.join(cfg.leads)} absent", f"{where} has {','.join(rec.lead_names)}")
        return []
    x = x[idx]
    if rec.fs <= 0:
        skip.add("invalid sampling rate", where)
        return []
    nan_rows = ~np.isfinite(x)
    whole = rec.segments is None
    if whole and nan_rows.any():
        skip.add("NaN samples", where)
        return []
    device = pre.chain == "device"
    if device:  # causal over the whole record, as the stream sees it
        x = device_condition(np.nan_to_num(x), rec.fs, pre)
    else:
        x = resample(np.nan_to_num(x), rec.fs, pre.fs)
        if pre.band is not None:
            x = bandpass(x, pre.fs, pre.band, pre.filter_order)
    norm = device_normalise if device else (lambda w: normalise(w, pre.normalise))
    n = pre.n_samples
    if whole:
        if x.shape[1] < cfg.min_seconds * pre.fs:
            skip.add(f"shorter than {cfg.min_seconds:g} s", f"{where} ({rec.signal.shape[1] / rec.fs:.2f} s)")
            return []
        return [(norm(pad_crop(x, n)), classes.index(rec.labels[0]))]
    bad = nan_rows.any(0)
    ratio = pre.fs / rec.fs
    stride = cfg.stride or n
    out = []
    for seg in rec.segments or []:
        a, b = int(round(seg.start * ratio)), int(round(seg.end * ratio))
        b = min(b, x.shape[1])
        for s in range(a, b - n + 1, stride):
            s0, s1 = int(s / ratio), int(np.ceil((s + n) / ratio))
            if bad[s0:s1].any():
                skip.add("window with NaN samples", where)
                continue
            out.append((norm(x[:, s:s + n]), classes.index(seg.label)))
    if not out:
        skip.add("no window inside a single rhythm", where)
    return out


def prepare(cfg: PrepareConfig, out_dir: str | Path) -> PreparedDataset:
    t0 = time.perf_counter()
    classes = task_classes(cfg.task)
    cfg.leads = parse_leads(cfg.leads)
    skip = SkipReport()
    X, y, groups, rec_ids = [], [], [], []
    n_records = 0
    records = iter_records(cfg, skip)
    for rec in progress(records, desc=f"prepare {cfg.source}", unit="rec"):
        n_records += 1
        for w, c in record_windows(rec, cfg, classes, skip):
            X.append(w)
            y.append(c)
            groups.append(rec.patient_id)
            rec_ids.append(rec.record_id)
    if not X:
        reasons = "; ".join(f"{k}: {v}" for k, v in skip.as_dict().items()) or "no records"
        raise DataError(f"{cfg.path}: no usable windows for task {cfg.task!r} ({reasons})")
    Xa = np.stack(X).astype(np.float32)
    ya = np.asarray(y, dtype=np.int64)
    ga = np.asarray(groups)
    idx = split_by_patient(ya, ga, len(classes), cfg.split)
    by = "record" if all(g == r for g, r in zip(groups, rec_ids, strict=True)) else "patient"
    manifest = PreparedManifest(
        task=cfg.task, classes=list(classes), fs=cfg.preprocess.fs, n_samples=cfg.preprocess.n_samples,
        leads=list(cfg.leads), skipped=skip.as_dict(), source=f"{cfg.source}:{Path(cfg.path).resolve()}",
        provenance={"config": {k: v for k, v in asdict(cfg).items() if k not in ("preprocess", "split")},
                    "preprocess": cfg.preprocess.to_dict(),
                    "split": {"fractions": list(cfg.split.fractions), "seed": cfg.split.seed, "by": by},
                    "records_read": n_records, "windows": len(ya), "patients": int(len(np.unique(ga))),
                    "skipped_examples": skip.examples, "seconds": round(time.perf_counter() - t0, 2)})
    splits = {s: (Xa[i], ya[i], ga[i]) for s, i in idx.items()}
    return save_prepared(out_dir, manifest, splits)
