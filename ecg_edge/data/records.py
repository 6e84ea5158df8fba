"""What every source yields: one recording with its labels, in physical units (mV)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


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

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    def total(self) -> int:
        return int(sum(self.counts.values()))
