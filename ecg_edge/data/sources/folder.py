"""Your own data: a folder of records (WFDB <id>.hea + signal, or <id>.mat holding the signal
array) and a labels CSV mapping record id -> label(s), so a dataset works without code.

labels CSV: a header row naming `record` (or id / filename), one or more label columns
(`label`, `label1`, ... or a single column with labels separated by ';' or '|'), and optionally
`patient`. Without a header row: record id first, labels after. fs comes from the WFDB header,
or from --fs for bare .mat files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ecg_edge.data.records import Record, SkipReport, read_csv_rows
from ecg_edge.data.sources.wfdbio import read_mat_val, read_wfdb
from ecg_edge.data.synth.leads import LEADS_12
from ecg_edge.errors import DataError

_REC_COLS = ("record", "record_id", "recording", "id", "filename", "file", "name")
_PAT_COLS = ("patient", "patient_id", "subject", "subject_id")


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
        rid = Path(r[rec_col].strip()).stem if rec_col < len(r) else ""
        if not rid:
            continue
        labs = [s.strip() for i in lab_cols if i < len(r) for s in re.split(r"[;|]", r[i]) if s.strip()]
        pid = r[pat_col].strip() if pat_col is not None and pat_col < len(r) and r[pat_col].strip() else None
        out[rid] = (labs, pid)
    if not out:
        raise DataError(f"{path}: no records listed")
    return out


def iter_folder(root: Path, task_classes: list[str], labels_csv: Path | None, skip: SkipReport,
                fs: float | None = None, lead_names: list[str] | None = None) -> Iterator[Record]:
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    if labels_csv is None:
        raise DataError("folder source needs --labels FILE.csv (record id -> label)")
    table = read_labels_csv(labels_csv)
    heas = {p.stem: p for p in root.rglob("*.hea")}
    mats = {p.stem: p for p in root.rglob("*.mat")}
    if not heas and not mats:
        raise DataError(f"{root}: no records (.hea or .mat files) found")
    known = {c.lower(): c for c in task_classes}
    for rid, (labs, pid) in table.items():
        bad = [lab for lab in labs if lab.lower() not in known]
        if bad:
            skip.add("unknown label", f"{rid}: {','.join(bad)}")
            continue
        classes = sorted({known[lab.lower()] for lab in labs})
        if not classes:
            skip.add("no label", rid)
            continue
        if len(classes) > 1:
            skip.add("several classes", f"{rid}: {'+'.join(classes)}")
            continue
        try:
            if rid in heas:
                x, rfs, names, _ = read_wfdb(heas[rid].with_suffix(""))  # the header's fs wins
            elif rid in mats:
                if fs is None:
                    raise DataError(f"{mats[rid]}: a bare .mat record has no sampling rate; pass --fs HZ")
                val = read_mat_val(mats[rid])
                if val.size == 0:
                    skip.add("zero-length record", str(mats[rid]))
                    continue
                if val.shape[0] > val.shape[1]:
                    val = val.T  # (samples, leads) -> (leads, samples)
                x, rfs = val.astype("float32"), fs
                names = (list(lead_names) if lead_names and len(lead_names) == x.shape[0]
                         else list(LEADS_12) if x.shape[0] == 12 else [f"lead{i + 1}" for i in range(x.shape[0])])
            else:
                skip.add("signal file missing", f"{root}/{rid}.hea|.mat")
                continue
        except DataError as exc:
            if "--fs" in str(exc):
                raise
            skip.add("unreadable record", str(exc))
            continue
        yield Record(rid, pid or rid, x, rfs, names, labels=classes,
                     source_file=str(heas.get(rid, mats.get(rid))))
