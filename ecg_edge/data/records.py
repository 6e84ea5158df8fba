"""What every source yields: one recording with its labels, in physical units (mV)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from ecg_edge.errors import DataError

T = TypeVar("T")


@dataclass
class Segment:
    """A labelled stretch [start, end) in samples of the record's own rate."""

    start: int
    end: int
    label: str


@dataclass
class Record:
    """signal: float32 (leads, samples) in mV. Either `labels` (the whole record, one window
    per record) or `segments` (rhythm intervals: windows are cut inside single-label stretches)."""

    record_id: str
    patient_id: str
    signal: np.ndarray
    fs: float
    lead_names: list[str]
    labels: list[str] = field(default_factory=list)
    segments: list[Segment] | None = None
    source_file: str = ""


@dataclass
class SkipReport:
    """Records left out, counted by reason, with a few example files per reason."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, where: str = "", n: int = 1) -> None:
        self.counts[reason] += n
        ex = self.examples.setdefault(reason, [])
        if where and len(ex) < 5:
            ex.append(where)

    def read_or_skip(self, read: Callable[[Path], T], path: Path | None, missing: str = "") -> T | None:
        """read(path), or None with the record counted: "signal file missing" (at `missing`) when
        path is None, "unreadable record" when read raises DataError (its message says why)."""
        if path is None:
            self.add("signal file missing", missing)
            return None
        try:
            return read(path)
        except DataError as exc:
            self.add("unreadable record", str(exc))
            return None

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    def total(self) -> int:
        return int(sum(self.counts.values()))


def read_csv_rows(path: Path, what: str, expected: str) -> list[list[str]]:
    """Non-blank rows of a small CSV label file; a missing, unreadable or empty file is a
    DataError naming the file, what it is and the rows expected."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # a BOM is not part of the id
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: {what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    if not rows:
        raise DataError(f"{path}: empty {what}; expected {expected}")
    return rows
