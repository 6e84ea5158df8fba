"""The prepared-dataset cache: the contract between the data layer and everything after it.

A prepared dataset is a folder holding
  manifest.json                  (PreparedManifest below, plus free-form provenance)
  X_train.npy / X_val.npy / X_test.npy   float32 (N, leads, samples), preprocessed, in mV units
                                 after normalisation
  y_train.npy / y_val.npy / y_test.npy   int64 (N,), indices into manifest["classes"]
  groups_{split}.npy             str (N,) patient/record id of each window (split audits)
  records_{split}.npy            str (N,) the record each window was cut from: a whole record, or
                                 for annotated sources one single-rhythm stretch ("id@start-end");
                                 record-level metrics aggregate over it (optional: older datasets)
  starts_{split}.npy             int64 (N,) first sample of each window in its record, at manifest fs
It is written once (atomically, as a whole folder) and loaded with memory mapping.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecg_edge.errors import DataError

SPLITS = ("train", "val", "test")
MANIFEST = "manifest.json"


@dataclass
class PreparedManifest:
    task: str
    classes: list[str]
    fs: float
    n_samples: int
    leads: list[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> n
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> n records
    source: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    format_version: int = 1
    checksums: dict[str, str] = field(default_factory=dict)  # file name -> sha256, checked on first read

    @property
    def n_leads(self) -> int:
        return len(self.leads)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def count_non_finite(X: np.ndarray, chunk: int = 256) -> tuple[int, int]:
    """(number of NaN/inf values, first window holding one or -1), in bounded memory."""
    n, first = 0, -1
    for i in range(0, X.shape[0], chunk):
        bad = ~np.isfinite(np.asarray(X[i:i + chunk]))
        if bad.any():
            n += int(bad.sum())
            if first < 0:
                first = i + int(np.flatnonzero(bad.reshape(bad.shape[0], -1).any(1))[0])
    return n, first


@dataclass
class PreparedDataset:
    root: Path
    manifest: PreparedManifest
    _checked: set[str] = field(default_factory=set, repr=False)

    @property
    def classes(self) -> list[str]:
        return self.manifest.classes

    def _verified(self, p: Path) -> Path:
        """A file whose bytes differ from the checksum written with the dataset is refused."""
        want = self.manifest.checksums.get(p.name)
        if want and p.name not in self._checked:
            if file_sha256(p) != want:
                raise DataError(f"{p}: checksum mismatch with {MANIFEST} (the file was changed or corrupted "
                                "after it was written); re-run `ecg-edge data prepare`/`synth`")
            self._checked.add(p.name)
        return p

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(X float32 (N, leads, samples), y int64 (N,)) of one split, memory-mapped."""
        if name not in SPLITS:
            raise DataError(f"{self.root}: unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        xp, yp = self.root / f"X_{name}.npy", self.root / f"y_{name}.npy"
        for p in (xp, yp):
            if not p.is_file():
                raise DataError(f"{p}: missing; the prepared dataset is incomplete (re-run `ecg-edge data prepare`)")
        try:
            X = np.load(self._verified(xp), mmap_mode="r")
            y = np.load(self._verified(yp))
        except (ValueError, OSError) as exc:
            raise DataError(f"{xp.parent}: cannot read split {name!r}: {exc}") from exc
        if X.ndim != 3 or y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise DataError(f"{xp}: shape {X.shape} does not match labels {y.shape}; expected (N, leads, samples) and (N,)")
        if X.shape[1] != self.manifest.n_leads or X.shape[2] != self.manifest.n_samples:
            raise DataError(
                f"{xp}: shape {X.shape[1:]} disagrees with manifest (leads={self.manifest.n_leads}, samples={self.manifest.n_samples})")
        if f"finite:{name}" not in self._checked:
            bad, first = count_non_finite(X)
            if bad:
                raise DataError(f"{xp}: {bad} NaN/inf sample values (first in window {first}); a model would "
                                "train or predict on them silently. Re-prepare the dataset")
            self._checked.add(f"finite:{name}")
        return X, y

    def groups(self, name: str) -> np.ndarray:
        p = self.root / f"groups_{name}.npy"
        if not p.is_file():
            raise DataError(f"{p}: missing patient/record ids for split {name!r}")
        return np.load(self._verified(p), allow_pickle=False)

    def records(self, name: str) -> np.ndarray | None:
        """Record id of each window of a split; None for a dataset written without them (each
        window then stands alone and there are no record-level metrics)."""
        p = self.root / f"records_{name}.npy"
        return np.load(self._verified(p), allow_pickle=False) if p.is_file() else None

    def starts(self, name: str) -> np.ndarray | None:
        p = self.root / f"starts_{name}.npy"
        return np.load(self._verified(p), allow_pickle=False) if p.is_file() else None


def load_prepared(root: str | Path) -> PreparedDataset:
    root = Path(root)
    mp = root / MANIFEST
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; expected a prepared dataset (from `ecg-edge data prepare` or `data synth`)")
    if not mp.is_file():
        raise DataError(f"{root}: not a prepared dataset (no {MANIFEST}); run `ecg-edge data prepare` or `ecg-edge data synth` first")
    try:
        raw = json.loads(mp.read_text())
        known = {f for f in PreparedManifest.__dataclass_fields__}
        manifest = PreparedManifest(**{k: v for k, v in raw.items() if k in known})
    except (json.JSONDecodeError, TypeError) as exc:
        raise DataError(f"{mp}: malformed manifest: {exc}") from exc
    return PreparedDataset(root, manifest)


def save_prepared(root: str | Path, manifest: PreparedManifest,
                  splits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                  windows: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> PreparedDataset:
    """Write a whole prepared dataset atomically. splits: name -> (X, y, groups); windows:
    name -> (record id, start sample) of each window, when the source has records."""
    from ecg_edge.atomic import write_json
    from ecg_edge.outputs import replace_dir

    root = Path(root)
    manifest.counts = {
        s: {c: int((y == i).sum()) for i, c in enumerate(manifest.classes)} for s, (_, y, _) in splits.items()
    }
    for s, (X, _, _) in splits.items():
        bad, first = count_non_finite(np.asarray(X))
        if bad:
            raise DataError(f"split {s!r}: {bad} NaN/inf sample values (first in window {first}); refusing to "
                            f"write a dataset to {root} that a model would silently train or predict on")
    with replace_dir(root, kind="dataset", command="data") as tmp:
        for s, (X, y, g) in splits.items():
            np.save(tmp / f"X_{s}.npy", np.ascontiguousarray(X, dtype=np.float32))
            np.save(tmp / f"y_{s}.npy", np.asarray(y, dtype=np.int64))
            np.save(tmp / f"groups_{s}.npy", np.asarray(g).astype(str))
            if windows is not None and s in windows:
                rec, start = windows[s]
                np.save(tmp / f"records_{s}.npy", np.asarray(rec).astype(str))
                np.save(tmp / f"starts_{s}.npy", np.asarray(start, dtype=np.int64))
        manifest.checksums = {f.name: file_sha256(f) for f in sorted(tmp.glob("*.npy"))}
        write_json(tmp / MANIFEST, asdict(manifest))
    return load_prepared(root)
