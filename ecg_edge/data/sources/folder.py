"""Your own data: a folder of records and a labels CSV mapping record id -> label(s), so a
dataset works without code.

Records: WFDB (<id>.hea + its signal files; gain, baseline and rate from the header), a .mat
holding the signal array (`val` as leads x samples, 1 x N or N x 1; rate from --fs), or a
signal .csv (one column per lead, an optional header row of lead names, values in mV; rate
from --fs). Subfolders are searched.

labels CSV (UTF-8, with or without BOM, LF or CRLF): a header row naming `record` (or id /
filename), one or more label columns (`label`, `label1`, ... or one column with labels
separated by ';' or '|'), and optionally `patient`. Without a header row: record id first,
labels after. Ids may carry a signal extension ('a01.hea', 'a01.mat') or a folder. The labels
are passed on as written; the task's LabelPolicy turns them into a class.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ecg_edge.data.records import Record, SkipReport, read_csv_rows
from ecg_edge.data.sources.wfdbio import read_mat_val, read_wfdb
from ecg_edge.data.synth.leads import LEADS_12
from ecg_edge.errors import DataError

_REC_COLS = ("record", "record_id", "recording", "id", "filename", "file", "name")
_PAT_COLS = ("patient", "patient_id", "subject", "subject_id")
SIGNAL_SUFFIXES = (".hea", ".mat", ".csv", ".dat")


def record_key(name: str) -> str:
    """'sub/a01.hea' -> 'a01': the id a labels row and a signal file share."""
    p = Path(name.strip().replace("\\", "/"))
    return p.stem if p.suffix.lower() in SIGNAL_SUFFIXES else p.name


def read_labels_csv(path: Path) -> dict[str, tuple[list[str], str | None]]:
    """record id -> (labels, patient id or None)."""
    rows = read_csv_rows(path, "labels CSV", "rows 'record_id,label[,label...]'")
    head = [h.strip().lower() for h in rows[0]]
    rec_col, pat_col, lab_cols = 0, None, list(range(1, len(head)))
    if any(h in _REC_COLS for h in head):
        rec_col = next(i for i, h in enumerate(head) if h in _REC_COLS)
        pat_col = next((i for i, h in enumerate(head) if h in _PAT_COLS), None)
        lab_cols = [i for i, h in enumerate(head) if i not in (rec_col, pat_col)]
        rows = rows[1:]
    if not lab_cols:
        raise DataError(f"{path}: no label column; expected 'record,label'")
    out: dict[str, tuple[list[str], str | None]] = {}
    for r in rows:
        rid = record_key(r[rec_col]) if rec_col < len(r) else ""
        if not rid:
            continue
        labs = [s.strip() for i in lab_cols if i < len(r) for s in re.split(r"[;|]", r[i]) if s.strip()]
        pid = r[pat_col].strip() if pat_col is not None and pat_col < len(r) and r[pat_col].strip() else None
        if rid in out and out[rid] != (labs, pid):  # the last row must not silently win
            raise DataError(f"{path}: record {rid!r} is listed twice with different labels/patient "
                            f"({out[rid][0]} vs {labs}); keep one row per record")
        out[rid] = (labs, pid)
    if not out:
        raise DataError(f"{path}: no records listed")
    return out


def read_signal_csv(path: Path) -> tuple[np.ndarray, list[str] | None]:
    """(leads, samples) float32 from a signal CSV, and its header's lead names if it has one."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read signal CSV ({exc})") from exc
    if not rows:
        raise DataError(f"{path}: empty signal CSV")
    names = None
    try:
        float(rows[0][0])
    except ValueError:
        names, rows = [c.strip() for c in rows[0]], rows[1:]
    try:
        vals = np.array([[float(c) for c in r] for r in rows], dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"{path}: signal CSV holds a non-numeric value ({exc})") from exc
    if vals.ndim != 2 or vals.shape[0] == 0:
        raise DataError(f"{path}: signal CSV rows have different lengths or no samples")
    return vals.T.astype(np.float32), names


def _lead_names(n: int, given: list[str] | None) -> list[str]:
    if given and len(given) == n:
        return list(given)
    return list(LEADS_12) if n == 12 else ["II"] if n == 1 else [f"lead{i + 1}" for i in range(n)]


def read_record_file(path: Path, fs: float | None) -> tuple[np.ndarray, float, list[str]]:
    """(signal (leads, samples) mV, fs, lead names) of one record file of any supported kind."""
    suffix = path.suffix.lower()
    if suffix in (".hea", ".dat") or (suffix == ".mat" and path.with_suffix(".hea").is_file()):
        x, rfs, names, _ = read_wfdb(path.with_suffix(""))  # the header's rate and gains win
        return x, rfs, names
    if fs is None:
        raise DataError(f"{path}: a {suffix} record without a .hea has no sampling rate; pass --fs HZ")
    if suffix == ".mat":
        val = read_mat_val(path)
        if val.size and val.shape[0] > val.shape[1]:
            val = val.T  # N x leads (N x 1 included) -> leads x N
        return val.astype(np.float32), float(fs), _lead_names(val.shape[0], None)
    if suffix == ".csv":
        x, names = read_signal_csv(path)
        return x, float(fs), _lead_names(x.shape[0], names)
    extra = " (EDF is not read: no EDF reader is installed)" if suffix in (".edf", ".bdf") else ""
    raise DataError(f"{path}: unsupported record file{extra}; expected .hea (WFDB), .mat or a signal .csv")


def find_record_files(root: Path, exclude: Path | None = None) -> dict[str, Path]:
    """id -> the file that opens it: a .hea wins over a .mat or .csv of the same id."""
    rank = {".hea": 0, ".mat": 1, ".csv": 2}
    found: dict[str, Path] = {}
    skip = exclude.resolve() if exclude is not None else None
    for p in sorted(root.rglob("*")):
        s = p.suffix.lower()
        if s not in rank or not p.is_file() or (skip is not None and p.resolve() == skip):
            continue
        k = record_key(p.name)
        if k not in found or rank[s] < rank[found[k].suffix.lower()]:
            found[k] = p
    return found


def iter_folder(root: Path, labels_csv: Path | None, skip: SkipReport, fs: float | None = None,
                lead_names: list[str] | None = None) -> Iterator[Record]:
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    if labels_csv is None:
        raise DataError("folder source needs --labels FILE.csv (record id -> label)")
    table = read_labels_csv(labels_csv)
    files = find_record_files(root, exclude=labels_csv)
    if not files:
        raise DataError(f"{root}: no records (.hea, .mat or signal .csv files) found")
    for rid in sorted(set(files) - set(table)):
        skip.add("file not in labels CSV", str(files[rid]))
    for rid, (labs, pid) in table.items():
        if rid not in files:
            skip.add("id in labels CSV matches no file", f"{labels_csv}: {rid}")
            continue
        path = files[rid]
        try:
            x, rfs, names = read_record_file(path, fs)
        except DataError as exc:
            if "--fs" in str(exc):
                raise
            skip.add("unreadable record", str(exc))
            continue
        if x.size == 0:
            skip.add("zero-length record", str(path))
            continue
        if lead_names and len(lead_names) == x.shape[0]:
            names = list(lead_names)
        yield Record(rid, pid or rid, x, rfs, names, labels=labs, source_file=str(path))
