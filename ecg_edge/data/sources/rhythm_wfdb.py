"""WFDB records with rhythm annotations (MIT-BIH Arrhythmia, CPSC 2021): the '+' annotations'
aux notes ('(N', '(AFIB', ... some NUL-terminated) become labelled segments; windows are then
cut only where one rhythm covers the whole window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ecg_edge.data.labels import MITDB_OTHER, MITDB_RHYTHM
from ecg_edge.data.records import Record, Segment, SkipReport
from ecg_edge.data.sources.challenge import find_headers
from ecg_edge.data.sources.wfdbio import read_wfdb
from ecg_edge.errors import DataError

# MIT-BIH: records 201 and 202 come from the same subject (MIT-BIH Arrhythmia DB directory).
MITDB_SAME_PATIENT = {"201": "201+202", "202": "201+202"}


def rhythm_changes(record_path: Path, ext: str = "atr") -> list[tuple[int, str]]:
    """(sample, rhythm) of every rhythm annotation, in order; NUL bytes and blanks stripped."""
    import wfdb

    try:
        ann = wfdb.rdann(str(record_path), ext)
    except Exception as exc:
        raise DataError(f"{record_path}.{ext}: unreadable annotation file ({type(exc).__name__}: {exc})") from exc
    out = []
    for s, sym, aux in zip(ann.sample, ann.symbol, ann.aux_note, strict=False):
        note = (aux or "").replace("\x00", "").strip()
        if sym == "+" and note.startswith("("):
            out.append((int(s), note))
    return out


def segments_from_changes(changes: list[tuple[int, str]], n: int, cmap: dict[str, str], other: str | None,
                          initial: str | None = None) -> list[Segment]:
    segs: list[Segment] = []
    if initial is not None and (not changes or changes[0][0] > 0):
        changes = [(0, initial)] + changes
    for i, (s, note) in enumerate(changes):
        e = changes[i + 1][0] if i + 1 < len(changes) else n
        label = cmap.get(note, other)
        if label is None or e <= s:
            continue
        if segs and segs[-1].label == label and segs[-1].end == s:
            segs[-1].end = e  # merge consecutive runs of the same class
        else:
            segs.append(Segment(s, e, label))
    return segs



def _read_annotated(rp: Path) -> tuple[tuple, list[tuple[int, str]]]:
    """(read_wfdb's record, its rhythm changes)."""
    return read_wfdb(rp), rhythm_changes(rp)


def _annotated_records(root: Path, skip: SkipReport, expected: str
                       ) -> Iterator[tuple[Path, Path, np.ndarray, float, list[str], list[tuple[int, str]]]]:
    """(header, record path, signal, fs, lead names, rhythm changes) of every WFDB record under
    `root` that has a .atr file; unreadable records are skipped with a report."""
    heads = [h for h in find_headers(root) if h.with_suffix(".atr").is_file()]
    if not heads:
        raise DataError(f"{root}: no WFDB records with .atr annotations; expected {expected}")
    for hea in heads:
        rp = hea.with_suffix("")
        rec = skip.read_or_skip(_read_annotated, rp)
        if rec is None:
            continue
        (x, fs, names, _), changes = rec
        yield hea, rp, x, fs, names, changes

def iter_mitdb(root: Path, task: str, skip: SkipReport, class_map: dict[str, str] | None = None
               ) -> Iterator[Record]:
    if task not in ("mitdb-rhythm", "own"):
        raise DataError(f"MIT-BIH source gives the mitdb-rhythm task; got {task!r}")
    cmap = dict(MITDB_RHYTHM if class_map is None else class_map)
    for hea, rp, x, fs, names, changes in _annotated_records(root, skip, "MIT-BIH Arrhythmia (mitdb)"):
        if not changes:
            skip.add("no rhythm annotations", str(hea))
            continue
        segs = segments_from_changes(changes, x.shape[1], cmap, MITDB_OTHER)
        pid = "mitdb-" + MITDB_SAME_PATIENT.get(rp.name, rp.name)
        yield Record(rp.name, pid, x, fs, names, segments=segs, source_file=str(hea))


def iter_cpsc2021(root: Path, task: str, skip: SkipReport) -> Iterator[Record]:
    """CPSC 2021: '(AFIB' starts and '(N' ends AF episodes; a record without rhythm
    annotations is non-AF throughout. Record data_<patient>_<n>: patient id from the name."""
    if task not in ("cpsc2021-af", "own"):
        raise DataError(f"CPSC 2021 source gives the cpsc2021-af task; got {task!r}")
    cmap = {"(N": "non-AF", "(AFIB": "AF", "(AFL": "AF"}
    for hea, rp, x, fs, names, changes in _annotated_records(root, skip, "CPSC 2021 (data_*_*.hea/.dat/.atr)"):
        unknown = {note for _, note in changes if note not in cmap}
        if unknown:
            skip.add("unknown rhythm annotation", f"{hea}: {','.join(sorted(unknown))}")
            continue
        segs = segments_from_changes(changes, x.shape[1], cmap, None, initial="(N")
        parts = rp.name.split("_")
        pid = "cpsc2021-" + (parts[1] if len(parts) >= 3 else rp.name)
        yield Record(rp.name, pid, x, fs, names, segments=segs, source_file=str(hea))
