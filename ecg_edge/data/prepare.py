"""From an archive to a prepared dataset: read records, turn their labels into classes (a
built-in task's, or --task own: the archive's own), pick leads, resample, band-pass, cut every
record into windows (or windows inside single-rhythm stretches), normalise, split by patient,
save atomically with provenance, skipped-by-reason counts and warnings."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ecg_edge.data.labels import MIN_RECORDS_PER_CLASS, OWN_TASK, LabelPolicy, is_aux_key
from ecg_edge.data.leadsel import lead_indices, parse_leads
from ecg_edge.data.prepared import PreparedDataset, PreparedManifest, save_prepared
from ecg_edge.data.preprocess import PreprocessConfig, window_normalise
from ecg_edge.data.records import Record, SkipReport
from ecg_edge.data.sources import SOURCES, SourceOptions
from ecg_edge.data.splits import SplitConfig, split_by_patient
from ecg_edge.data.windows import WindowingConfig, cut_windows, filter_record
from ecg_edge.errors import DataError
from ecg_edge.progress import progress


@dataclass
class PrepareConfig:
    source: str
    path: str
    task: str
    leads: list[str] = field(default_factory=lambda: ["II"])
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    stride: int | None = None  # window hop (target-rate samples); None = n_samples
    min_seconds: float = 5.0  # records shorter than this are skipped (whole-record tasks)
    labels_csv: str | None = None  # folder source
    fs: float | None = None  # folder source: rate of bare .mat / .csv records
    class_map: dict[str, str] | None = None  # '(AUX' notes -> class (annotated sources); label -> label
    classes: list[str] | None = None  # --classes: subset and order
    multi_label: str = "skip"  # a record with several labels: skip it, or take the first
    windows_per_record: int | None = None  # None: every window of a record; N: at most N

    def windowing(self) -> WindowingConfig:
        return WindowingConfig(self.windows_per_record, self.stride, self.min_seconds)

    def label_policy(self) -> LabelPolicy:
        renames = {k: v for k, v in (self.class_map or {}).items() if not is_aux_key(k)}
        return LabelPolicy(self.task, self.classes, renames, self.multi_label)

    def aux_map(self) -> dict[str, str] | None:
        aux = {k: v for k, v in (self.class_map or {}).items() if is_aux_key(k)}
        return aux or None


@dataclass
class Window:
    x: np.ndarray  # (leads, n_samples), normalised
    label: str
    start: int  # first sample in the record, at the target rate
    unit: str  # the record (or single-rhythm stretch) whose windows share one label


@dataclass
class PrepareStats:
    """What the user should hear about beyond skipped records."""

    padded: int = 0  # records shorter than one window, zero-padded
    record_fs: Counter = field(default_factory=Counter)
    per_record: list[int] = field(default_factory=list)
    records_of_class: dict[str, set[str]] = field(default_factory=dict)


def iter_records(cfg: PrepareConfig, skip: SkipReport) -> Iterator[Record]:
    root = Path(cfg.path)
    if not root.exists():
        raise DataError(f"{root}: no such file or folder")
    if cfg.source not in SOURCES:
        raise DataError(f"unknown source {cfg.source!r}; expected one of {', '.join(SOURCES)}")
    source = SOURCES[cfg.source]
    if cfg.task not in source.tasks:
        raise DataError(f"source {cfg.source!r} does not carry task {cfg.task!r}; "
                        f"it gives {', '.join(source.tasks)}")
    if cfg.aux_map() and not source.rhythm_notes:
        rhythm = ", ".join(n for n, s in SOURCES.items() if s.rhythm_notes)
        raise DataError(f"--class-map: rhythm-note entries ('(AFIB=...') apply to the {rhythm} source, not {cfg.source!r}")
    if cfg.aux_map() and cfg.task != OWN_TASK:
        from ecg_edge.data.labels import task_classes
        bad = {k: v for k, v in (cfg.aux_map() or {}).items() if v not in task_classes(cfg.task)}
        if bad:
            k, v = next(iter(bad.items()))
            raise DataError(f"--class-map entry {k}={v}: class {v!r} is not one of task {cfg.task}'s classes "
                            f"{', '.join(task_classes(cfg.task))} (use --task own for new names)")
    return source.read(root, SourceOptions(cfg.task, cfg.aux_map(), Path(cfg.labels_csv) if cfg.labels_csv else None,
                                           cfg.fs), skip)


def record_windows(rec: Record, cfg: PrepareConfig, policy: LabelPolicy, skip: SkipReport,
                   stats: PrepareStats | None = None) -> list[Window]:
    """The windows of one record with their label; a record or stretch that cannot give any is
    counted in `skip` by reason."""
    stats = stats if stats is not None else PrepareStats()
    pre, win = cfg.preprocess, cfg.windowing()
    where = rec.source_file or rec.record_id
    whole = rec.segments is None
    label = None
    if whole:
        label, why = policy.resolve(rec.labels)
        if label is None:
            skip.add(why, f"{where}: {'+'.join(rec.labels) or '(none)'}")
            return []
    x = np.asarray(rec.signal, dtype=np.float32)
    if x.ndim != 2 or x.size == 0:
        skip.add("zero-length record", where)
        return []
    idx = lead_indices(rec.lead_names, cfg.leads)
    if idx is None:
        skip.add(f"lead {'/'.join(cfg.leads)} absent", f"{where} has {','.join(rec.lead_names)}")
        return []
    x = x[idx]
    if not rec.fs > 0:
        skip.add("invalid sampling rate", where)
        return []
    nan_rows = ~np.isfinite(x)
    if whole and nan_rows.any():
        skip.add("NaN samples", where)
        return []
    if whole and x.shape[1] < cfg.min_seconds * rec.fs:
        skip.add(f"shorter than {cfg.min_seconds:g} s", f"{where} ({x.shape[1] / rec.fs:.2f} s)")
        return []
    stats.record_fs[float(rec.fs)] += 1
    x = filter_record(np.nan_to_num(x), rec.fs, pre)
    n = pre.n_samples
    if whole:
        w, starts, padded = cut_windows(x, pre, win)
        stats.padded += int(padded)
        stats.per_record.append(len(w))
        stats.records_of_class.setdefault(label, set()).add(rec.record_id)
        return [Window(wi, label, int(s), rec.record_id) for wi, s in zip(w, starts, strict=True)]
    bad = nan_rows.any(0)
    ratio = pre.fs / rec.fs
    stride = cfg.stride or n
    out: list[Window] = []
    for seg in rec.segments or []:
        seg_label, why = policy.resolve([seg.label])
        if seg_label is None:
            skip.add(f"stretch skipped: {why}", f"{where}: {seg.label} at {seg.start}")
            continue
        a, b = int(round(seg.start * ratio)), min(int(round(seg.end * ratio)), x.shape[1])
        starts = list(range(a, b - n + 1, stride))
        if win.windows_per_record is not None and len(starts) > win.windows_per_record:
            pick = np.unique(np.round(np.linspace(0, len(starts) - 1, win.windows_per_record)).astype(int))
            starts = [starts[i] for i in pick]
        unit = f"{rec.record_id}@{seg.start}-{seg.end}"
        got = 0
        for s in starts:
            s0, s1 = int(s / ratio), int(np.ceil((s + n) / ratio))
            if bad[s0:s1].any():
                skip.add("window with NaN samples", where)
                continue
            out.append(Window(window_normalise(x[:, s:s + n], pre), seg_label, s, unit))
            got += 1
        if got:
            stats.per_record.append(got)
            stats.records_of_class.setdefault(seg_label, set()).add(rec.record_id)
    if not out:
        skip.add("no window inside a single rhythm", where)
    return out


def check_classes(classes: list[str], stats: PrepareStats, task: str, cfg_path: str) -> list[str]:
    """Refuse an own-labels class too small to split (or a single class); warnings otherwise."""
    if task == OWN_TASK and len(classes) < 2:
        raise DataError(f"{cfg_path}: only {len(classes)} class ({', '.join(classes) or 'none'}) left after "
                        "--classes/--class-map; a classifier needs at least 2")
    small = {c: len(stats.records_of_class.get(c, ())) for c in classes
             if len(stats.records_of_class.get(c, ())) < MIN_RECORDS_PER_CLASS}
    if task != OWN_TASK and stats.records_of_class:  # a built-in task's class may be absent here
        small = {c: k for c, k in small.items() if k > 0}
    if small and task == OWN_TASK:
        c, k = next(iter(small.items()))
        others = [o for o in classes if o != c]
        raise DataError(f"{cfg_path}: class {c!r} has {k} usable record(s), fewer than the {MIN_RECORDS_PER_CLASS} a "
                        f"train/val/test split needs; merge it (--class-map '{c}={others[0] if others else 'OTHER'}') "
                        f"or leave it out (--classes {','.join(others)})")
    if not small:
        return []
    return ["fewer than 3 records, so not in every split: " + ", ".join(f"{c!r} {k}" for c, k in small.items())]


def split_warnings(classes: list[str], counts: dict[str, dict[str, int]]) -> list[str]:
    out = []
    for c in classes:
        per = {s: counts.get(s, {}).get(c, 0) for s in ("train", "val", "test")}
        missing = [s for s in ("val", "test") if per[s] == 0 and sum(per.values()) > 0]
        if missing:
            out.append(f"class {c!r} has no window in {' or '.join(missing)} "
                       f"(train {per['train']}, val {per['val']}, test {per['test']} windows); "
                       "its figures there are undefined")
    return out


def _warn(msg: str) -> None:
    print(f"ecg-edge: warning: {msg}", file=sys.stderr, flush=True)


def prepare(cfg: PrepareConfig, out_dir: str | Path, log: Callable[[str], None] | None = _warn) -> PreparedDataset:
    t0 = time.perf_counter()
    cfg.leads = parse_leads(cfg.leads)
    policy = cfg.label_policy()
    win = cfg.windowing()
    skip = SkipReport()
    stats = PrepareStats()
    wins: list[Window] = []
    groups: list[str] = []
    n_records = 0
    records = iter_records(cfg, skip)
    for rec in progress(records, desc=f"prepare {cfg.source}", unit="rec"):
        n_records += 1
        got = record_windows(rec, cfg, policy, skip, stats)
        wins.extend(got)
        groups.extend([rec.patient_id] * len(got))
    if not wins:
        reasons = "; ".join(f"{k}: {v}" for k, v in skip.as_dict().items()) or "no records"
        raise DataError(f"{cfg.path}: no usable windows for task {cfg.task!r} ({reasons})")
    classes = policy.final_classes([w.label for w in wins])
    warnings = check_classes(classes, stats, cfg.task, cfg.path)
    Xa = np.stack([w.x for w in wins]).astype(np.float32)
    ya = np.asarray([classes.index(w.label) for w in wins], dtype=np.int64)
    ga = np.asarray(groups)
    units = np.asarray([w.unit for w in wins])
    starts = np.asarray([w.start for w in wins], dtype=np.int64)
    idx = split_by_patient(ya, ga, len(classes), cfg.split)
    counts = {s: {c: int((ya[i] == k).sum()) for k, c in enumerate(classes)} for s, i in idx.items()}
    warnings += split_warnings(classes, counts)
    if len(stats.record_fs) > 1:
        warnings.append("mixed sampling rates: records at " + ", ".join(
            f"{f:g} Hz ({k})" for f, k in sorted(stats.record_fs.items())) + f" were resampled to {cfg.preprocess.fs:g} Hz")
    if stats.padded:
        warnings.append(f"{stats.padded} record(s) shorter than one window ({cfg.preprocess.n_samples} samples) "
                        "were zero-padded")
    for msg in warnings:
        if log is not None:
            log(msg)
    by = "record" if all(g == r for g, r in zip(groups, (w.unit.split("@")[0] for w in wins), strict=True)) else "patient"
    per = np.asarray(stats.per_record or [0])
    manifest = PreparedManifest(
        task=cfg.task, classes=list(classes), fs=cfg.preprocess.fs, n_samples=cfg.preprocess.n_samples,
        leads=list(cfg.leads), skipped=skip.as_dict(), source=f"{cfg.source}:{Path(cfg.path).resolve()}",
        provenance={"config": {k: v for k, v in asdict(cfg).items() if k not in ("preprocess", "split")},
                    "preprocess": {**cfg.preprocess.to_dict(), "windowing": win.to_dict()},
                    "split": {"fractions": list(cfg.split.fractions), "seed": cfg.split.seed, "by": by,
                              **({"folds": cfg.split.folds, "fold": cfg.split.fold} if cfg.split.folds > 1 else {})},
                    "records_read": n_records, "windows": len(ya), "patients": int(len(np.unique(ga))),
                    "records_used": int(len(np.unique(units))), "padded_records": stats.padded,
                    "windows_per_record": {"min": int(per.min()), "max": int(per.max()),
                                           "mean": round(float(per.mean()), 2)},
                    "record_fs": {f"{f:g}": k for f, k in sorted(stats.record_fs.items())},
                    "warnings": warnings,
                    "skipped_examples": skip.examples, "seconds": round(time.perf_counter() - t0, 2)})
    splits = {s: (Xa[i], ya[i], ga[i]) for s, i in idx.items()}
    return save_prepared(out_dir, manifest, splits, {s: (units[i], starts[i]) for s, i in idx.items()})
