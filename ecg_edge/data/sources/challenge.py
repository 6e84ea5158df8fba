"""PhysioNet/CinC Challenge 2020/2021 layout: <id>.hea + <id>.mat, SNOMED-CT codes on '# Dx:'.

This is how Chapman-Shaoxing, CPSC 2018, Georgia, PTB-XL and Ningbo reach most users. A record
belongs to a task when its codes map to exactly one of the task's classes; others are counted
by reason. The challenge headers carry no patient id, so splits are by record here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ecg_edge.data.labels import SNOMED
from ecg_edge.data.records import Record, SkipReport
from ecg_edge.data.sources.wfdbio import dx_codes, read_wfdb
from ecg_edge.errors import DataError


def find_headers(root: Path) -> list[Path]:
    if root.is_file() and root.suffix == ".hea":
        return [root]
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    return sorted(root.rglob("*.hea"))


def challenge_labels(codes: list[str], task: str) -> tuple[list[str], list[str]]:
    """(classes the codes map to, codes that are not SNOMED numbers)."""
    cmap = SNOMED[task]
    bad = [c for c in codes if not c.isdigit()]
    return sorted({cmap[c] for c in codes if c in cmap}), bad


def iter_challenge(root: Path, task: str, skip: SkipReport) -> Iterator[Record]:
    if task not in SNOMED:
        raise DataError(f"challenge layout: task {task!r} has no SNOMED map; use chapman4 or cpsc9")
    heads = find_headers(root)
    if not heads:
        raise DataError(f"{root}: no .hea files; expected the PhysioNet/CinC challenge layout (<id>.hea + <id>.mat)")
    for hea in heads:
        try:
            text = hea.read_text(errors="replace")
        except OSError as exc:
            skip.add("unreadable header", f"{hea}: {exc}")
            continue
        codes = dx_codes(text)
        if codes is None:
            skip.add("no Dx line", str(hea))
            continue
        classes, bad = challenge_labels(codes, task)
        if bad:
            skip.add("malformed Dx codes", f"{hea}: {','.join(bad)}")
            continue
        if not classes:
            skip.add("no class of the task", f"{hea}: {','.join(codes)}")
            continue
        if len(classes) > 1:
            skip.add("several classes", f"{hea}: {'+'.join(classes)}")
            continue
        rec = skip.read_or_skip(read_wfdb, hea.with_suffix(""))
        if rec is None:
            continue
        x, fs, names, _ = rec
        yield Record(hea.stem, hea.stem, x, fs, names, labels=classes, source_file=str(hea))
