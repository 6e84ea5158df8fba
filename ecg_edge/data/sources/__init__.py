"""Record sources, defined once: each turns one archive layout into `Record`s
(ecg_edge.data.records). `prepare` reads them through `SOURCES`, the command line offers
their names; a new layout is a module here and one entry below."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ecg_edge.data.labels import OWN_TASK, TASK_CLASSES
from ecg_edge.data.records import Record, SkipReport


@dataclass(frozen=True)
class SourceOptions:
    """What a reader may need beyond the folder: the task, and the folder source's extras."""

    task: str
    rhythm_map: dict[str, str] | None = None  # '(AUX' rhythm note -> class
    labels_csv: Path | None = None
    fs: float | None = None


Reader = Callable[[Path, SourceOptions, SkipReport], Iterator[Record]]


@dataclass(frozen=True)
class Source:
    name: str
    tasks: tuple[str, ...]  # the tasks its labels can give
    read: Reader
    rhythm_notes: bool = False  # its records carry '(AUX' rhythm notes a --class-map may map


# Readers import their module on first use (wfdb and scipy.io are slow to import).
def _challenge(root: Path, o: SourceOptions, skip: SkipReport) -> Iterator[Record]:
    from ecg_edge.data.sources.challenge import iter_challenge
    return iter_challenge(root, o.task, skip)


def _cpsc2018(root: Path, o: SourceOptions, skip: SkipReport) -> Iterator[Record]:
    from ecg_edge.data.sources.cpsc2018 import iter_cpsc2018
    return iter_cpsc2018(root, o.task, skip)


def _chapman(root: Path, o: SourceOptions, skip: SkipReport) -> Iterator[Record]:
    from ecg_edge.data.sources.chapman import iter_chapman
    return iter_chapman(root, o.task, skip)


def _mitdb(root: Path, o: SourceOptions, skip: SkipReport) -> Iterator[Record]:
    from ecg_edge.data.sources.rhythm_wfdb import iter_mitdb
    return iter_mitdb(root, o.task, skip, o.rhythm_map)


def _cpsc2021(root: Path, o: SourceOptions, skip: SkipReport) -> Iterator[Record]:
    from ecg_edge.data.sources.rhythm_wfdb import iter_cpsc2021
    return iter_cpsc2021(root, o.task, skip)


def _folder(root: Path, o: SourceOptions, skip: SkipReport) -> Iterator[Record]:
    from ecg_edge.data.sources.folder import iter_folder
    return iter_folder(root, o.labels_csv, skip, o.fs)


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("challenge", ("chapman4", "cpsc9"), _challenge),
        Source("cpsc2018", ("cpsc9",), _cpsc2018),
        Source("chapman", ("chapman4",), _chapman),
        Source("mitdb", ("mitdb-rhythm", OWN_TASK), _mitdb, rhythm_notes=True),
        Source("cpsc2021", ("cpsc2021-af", OWN_TASK), _cpsc2021),
        Source("folder", (*TASK_CLASSES, OWN_TASK), _folder),
    )
}
# Every task some source can give (the --task choices of `data prepare`).
TASKS: tuple[str, ...] = tuple(t for t in (*TASK_CLASSES, OWN_TASK) if any(t in s.tasks for s in SOURCES.values()))
