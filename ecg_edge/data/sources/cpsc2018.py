"""CPSC 2018 original layout: A0001.mat ... (struct ECG with 12 x N 'data' in mV at 500 Hz) and
REFERENCE.csv (Recording, First_label, Second_label, Third_label; numbers 1..9)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ecg_edge.data.labels import CPSC2018_NUMBERS
from ecg_edge.data.records import Record, SkipReport, read_csv_rows
from ecg_edge.data.synth.leads import LEADS_12
from ecg_edge.errors import DataError

FS = 500.0


def read_reference(path: Path) -> dict[str, list[str]]:
    rows = read_csv_rows(path, "REFERENCE.csv", "Recording,First_label,Second_label,Third_label")
    if not rows[0][0].strip().upper().startswith("A") or rows[0][0].strip().lower() == "recording":
        rows = rows[1:]
    return {r[0].strip(): [c.strip() for c in r[1:] if c.strip()] for r in rows}


def read_cpsc_mat(path: Path) -> np.ndarray:
    import scipy.io

    try:
        m = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except Exception as exc:
        raise DataError(f"{path}: not a readable .mat file ({type(exc).__name__}: {exc})") from exc
    data = getattr(m["ECG"], "data", None) if "ECG" in m else m.get("val", m.get("data"))
    if data is None:
        raise DataError(f"{path}: no ECG.data / val array")
    data = np.atleast_2d(np.asarray(data, dtype=np.float64))
    if data.shape[0] != 12 and data.shape[1] == 12:
        data = data.T
    if data.shape[0] != 12:
        raise DataError(f"{path}: expected 12 leads, found an array of shape {data.shape}")
    return data.astype(np.float32)


def iter_cpsc2018(root: Path, task: str, skip: SkipReport) -> Iterator[Record]:
    if task != "cpsc9":
        raise DataError(f"CPSC 2018 layout carries the cpsc9 labels; got task {task!r}")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    refs = sorted(root.rglob("REFERENCE.csv"))
    if not refs:
        raise DataError(f"{root}: no REFERENCE.csv; expected the CPSC 2018 layout (A*.mat + REFERENCE.csv)")
    labels = read_reference(refs[0])
    mats = {p.stem: p for p in root.rglob("A*.mat")}
    if not mats:
        raise DataError(f"{root}: no A*.mat files beside {refs[0].name}")
    for rid in sorted(labels):
        nums = labels[rid]
        bad = [n for n in nums if n not in CPSC2018_NUMBERS]
        if bad:
            skip.add("unknown label number", f"{rid}: {','.join(bad)}")
            continue
        classes = sorted({CPSC2018_NUMBERS[n] for n in nums})
        if not classes:
            skip.add("no label", rid)
            continue
        if len(classes) > 1:
            skip.add("several classes", f"{rid}: {'+'.join(classes)}")
            continue
        x = skip.read_or_skip(read_cpsc_mat, mats.get(rid), f"{root}/{rid}.mat")
        if x is None:
            continue
        yield Record(rid, rid, x, FS, list(LEADS_12), labels=classes, source_file=str(mats[rid]))
    for rid in sorted(set(mats) - set(labels)):
        skip.add("not in REFERENCE.csv", str(mats[rid]))
