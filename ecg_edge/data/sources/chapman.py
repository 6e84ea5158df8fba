"""Chapman-Shaoxing original layout (Zheng et al. 2020): ECGData/MUSE_*.csv (12 columns I..V6,
microvolts, 500 Hz, 10 s) and Diagnostics.xlsx or .csv whose Rhythm column holds one of 11
acronyms, grouped into SB / AFIB / GSVT / SR."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ecg_edge.data.labels import CHAPMAN_RHYTHM
from ecg_edge.data.records import Record, SkipReport
from ecg_edge.data.synth.leads import LEADS_12
from ecg_edge.errors import DataError

FS = 500.0


def read_diagnostics(path: Path) -> list[dict[str, str]]:
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise DataError(f"{path}: not a readable .xlsx ({type(exc).__name__}: {exc})") from exc
        rows = [["" if c is None else str(c) for c in r] for r in wb.active.iter_rows(values_only=True)]
        wb.close()
    else:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    if not rows:
        raise DataError(f"{path}: empty diagnostics table")
    head = [h.strip() for h in rows[0]]
    for need in ("FileName", "Rhythm"):
        if need not in head:
            raise DataError(f"{path}: no {need!r} column; columns are {', '.join(head)}")
    return [dict(zip(head, (c.strip() for c in r), strict=False)) for r in rows[1:] if any(c.strip() for c in r)]


def read_muse_csv(path: Path) -> np.ndarray:
    """(12, samples) mV from a MUSE csv (header row of lead names, values in microvolts)."""
    try:
        with open(path, newline="") as fh:
            rdr = csv.reader(fh)
            head = [h.strip() for h in next(rdr)]
            vals = np.array([[float(v) for v in r] for r in rdr if r], dtype=np.float64)
    except (OSError, StopIteration, ValueError) as exc:
        raise DataError(f"{path}: not a readable MUSE csv ({type(exc).__name__}: {exc})") from exc
    if vals.ndim != 2 or vals.shape[0] == 0:
        raise DataError(f"{path}: no samples")
    idx = {h.lower(): i for i, h in enumerate(head)}
    missing = [L for L in LEADS_12 if L.lower() not in idx]
    if missing or vals.shape[1] != len(head):
        raise DataError(f"{path}: expected 12 columns {','.join(LEADS_12)}; header is {','.join(head)}")
    return (vals[:, [idx[L.lower()] for L in LEADS_12]].T / 1000.0).astype(np.float32)


def iter_chapman(root: Path, task: str, skip: SkipReport) -> Iterator[Record]:
    if task != "chapman4":
        raise DataError(f"Chapman layout carries the chapman4 rhythm labels; got task {task!r}")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    diag = next((p for n in ("Diagnostics.xlsx", "Diagnostics.csv") for p in sorted(root.rglob(n))), None)
    if diag is None:
        raise DataError(f"{root}: no Diagnostics.xlsx or Diagnostics.csv; expected the Chapman-Shaoxing layout")
    # the raw ECGData wins over ECGDataDenoised when both are present (we filter ourselves)
    found = sorted((p for p in root.rglob("*.csv") if p.name != diag.name), key=lambda p: (p.parent.name == "ECGData", str(p)))
    files = {p.stem: p for p in found}
    if not files:
        raise DataError(f"{root}: no ECGData*/MUSE_*.csv signal files")
    for row in read_diagnostics(diag):
        name, rhythm = row.get("FileName", ""), row.get("Rhythm", "").upper()
        if rhythm not in CHAPMAN_RHYTHM:
            skip.add("unknown rhythm acronym", f"{name}: {rhythm!r}")
            continue
        x = skip.read_or_skip(read_muse_csv, files.get(name), f"{root}/ECGData/{name}.csv")
        if x is None:
            continue
        yield Record(name, name, x, FS, list(LEADS_12), labels=[CHAPMAN_RHYTHM[rhythm]],
                     source_file=str(files[name]))
