"""The one output policy of every command that writes: ecg-edge never loses a user's data.

- An existing `--out` folder that ecg-edge did not write (no marker of ours in it) is refused;
  so is a folder that is an input (or, when it would be replaced whole, holds one), and an
  existing file where a folder should go.
- Replacing a folder of ours (a dataset) builds the new one beside it and swaps it in only when
  complete; the old content stays until then. Only a folder of the same kind is replaced (a
  dataset never replaces a training run).
- A result set (json + txt + png ...) is staged in a hidden folder inside OUT and moved in as a
  whole, so a failure leaves the previous results, never half of the new ones.
- A lock file per output refuses a second writer (flock: released by the kernel when a process
  dies, so kill -9 never leaves a stale lock).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from ecg_edge.atomic import swap_in, umask_dir, write_text
from ecg_edge.errors import OutputRefused

MARKER = ".ecg-edge-output.json"  # {"written_by": "ecg-edge", "kind": ..., "command": ...}
KINDS = ("dataset", "train", "results", "work")
_STAGE_PREFIX = ".ecg-edge-stage-"

_held: dict[str, tuple[int, int]] = {}  # lock path -> (fd, depth): re-entrant within a process


def _abs(p: str | os.PathLike[str]) -> Path:
    """Absolute and normalised without requiring existence (symlinks of existing parts resolved)."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(p))))


def _inside(a: Path, b: Path) -> bool:
    """a is b or lies inside b."""
    return a == b or b in a.parents


def marker(folder: Path) -> dict | None:
    """Our marker in FOLDER, or the legacy sign of a dataset (its manifest.json), else None."""
    mp = folder / MARKER
    try:
        m = json.loads(mp.read_text(encoding="utf-8"))
        if isinstance(m, dict) and m.get("written_by") == "ecg-edge":
            return m
    except (OSError, ValueError):
        pass
    try:  # datasets written before the marker existed
        m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if isinstance(m, dict) and {"task", "classes", "format_version"} <= set(m):
            return {"written_by": "ecg-edge", "kind": "dataset", "command": "data"}
    except (OSError, ValueError):
        pass
    return None


def _is_empty_dir(p: Path) -> bool:
    return not any(e for e in p.iterdir() if not e.name.startswith(_STAGE_PREFIX))


def write_marker(folder: Path, kind: str, command: str) -> None:
    write_text(folder / MARKER, json.dumps({"written_by": "ecg-edge", "kind": kind, "command": command}) + "\n")


def check_out_dir(out: str | os.PathLike[str], *, kind: str, inputs: Iterable[object] = (),
                  replace: bool = False, explicit: bool = True, option: str = "--out") -> Path:
    """Refuse an output folder that would lose data; returns its absolute path.

    replace: the folder itself is the artifact and will be swapped whole (a dataset).
    explicit: the user named it; a default location beside an input is not ownership-checked
    (only our own file names are added there, nothing is removed).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    p = _abs(out)
    name = f"{option} {out}"
    if p.exists() and not p.is_dir():
        raise OutputRefused(f"{name}: exists and is not a folder; ecg-edge never replaces a file by a folder "
                            "(choose a new folder name)")
    for anc in p.parents:
        if anc.exists() and not anc.is_dir():
            raise OutputRefused(f"{name}: {anc} is a file, so no folder can be made under it")
    cwd = _abs(os.getcwd())
    if replace and _inside(cwd, p):
        raise OutputRefused(f"{name}: is the current folder or holds it; choose a new folder to be replaced whole")
    for inp in inputs:
        if inp is None:
            continue
        q = _abs(inp)
        if not q.exists():
            continue
        if p == q:
            raise OutputRefused(f"{name}: is the input {inp}; inputs are never written to "
                                "(choose another output folder)")
        if replace and _inside(q, p):
            raise OutputRefused(f"{name}: holds the input {inp}; replacing it would delete the input "
                                "(choose an output folder that does not contain the inputs)")
    if p.is_dir() and not _is_empty_dir(p):
        m = marker(p)
        if m is None and (explicit or replace):
            raise OutputRefused(f"{name}: exists and was not written by ecg-edge (no {MARKER}); "
                                "refusing to write into it (choose a new or empty folder)")
        if replace and m is not None and m.get("kind") != kind:
            raise OutputRefused(f"{name}: holds an ecg-edge {m.get('kind')} output ({m.get('command')}); "
                                f"it is only ever replaced by the same kind, not by a {kind} "
                                "(choose another folder)")
    return p


def check_out_file(out: str | os.PathLike[str], *, inputs: Iterable[object] = (), option: str = "--out") -> Path:
    """Refuse an output file that is a folder, an input, or under a file; returns its absolute path."""
    p = _abs(out)
    name = f"{option} {out}"
    if p.is_dir():
        raise OutputRefused(f"{name}: is a folder; expected a file path (e.g. {Path(out) / 'model.bin'})")
    for anc in p.parents:
        if anc.exists() and not anc.is_dir():
            raise OutputRefused(f"{name}: {anc} is a file, so nothing can be written under it")
    for inp in inputs:
        if inp is not None and _abs(inp) == p:
            raise OutputRefused(f"{name}: is the input {inp}; inputs are never overwritten")
    return p


def _lock_path(p: Path) -> Path:
    return p.parent / f".{p.name}.ecg-edge.lock"


@contextlib.contextmanager
def lock(out: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of output OUT (a sibling `.NAME.ecg-edge.lock`); a second writer is refused."""
    lp = _lock_path(_abs(out))
    key = str(lp)
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _held[key]
            _held[key] = (fd, depth - 1)
        return
    lp.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lp, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise OutputRefused(f"{out}: another ecg-edge process is writing it (lock {lp} is held); "
                                    "wait for it to finish or choose another output") from None
            raise
        try:  # the holder before us may have unlinked the file after we opened it: retry on the new one
            same = os.fstat(fd).st_ino == os.stat(lp).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    _held[key] = (fd, 1)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        _, depth = _held[key]
        if depth <= 1:
            del _held[key]
            with contextlib.suppress(OSError):
                os.unlink(lp)
            os.close(fd)


@contextlib.contextmanager
def reserve_dir(out: str | os.PathLike[str], *, kind: str, inputs: Iterable[object] = (), replace: bool = True,
                option: str = "--out") -> Iterator[Path]:
    """Check and lock an output folder before any work starts; the writer (replace_dir) comes later."""
    p = check_out_dir(out, kind=kind, inputs=list(inputs), replace=replace, option=option)
    with lock(p):
        yield p


@contextlib.contextmanager
def claim_dir(out: str | os.PathLike[str], *, kind: str, command: str, inputs: Iterable[object] = (),
              explicit: bool = True, option: str = "--out") -> Iterator[Path]:
    """Check and lock an output folder that is written into in place (a training run), marking it ours."""
    p = check_out_dir(out, kind=kind, inputs=list(inputs), explicit=explicit, option=option)
    with lock(p):
        p.mkdir(parents=True, exist_ok=True)
        if marker(p) is None:
            write_marker(p, kind, command)
        yield p


@contextlib.contextmanager
def claim_file(out: str | os.PathLike[str], *, inputs: Iterable[object] = (), option: str = "--out") -> Iterator[Path]:
    """Check and lock one output file; the caller writes it atomically (ecg_edge.atomic)."""
    p = check_out_file(out, inputs=list(inputs), option=option)
    with lock(p):
        yield p


@contextlib.contextmanager
def replace_dir(out: str | os.PathLike[str], *, kind: str, command: str, inputs: Iterable[object] = (),
                option: str = "--out") -> Iterator[Path]:
    """Build a whole output folder in a hidden sibling and swap it in on success (datasets)."""
    p = check_out_dir(out, kind=kind, inputs=list(inputs), replace=True, option=option)
    with lock(p):
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.ecg-edge-new-", dir=p.parent))
        try:
            umask_dir(tmp)
            yield tmp
            write_marker(tmp, kind, command)
            check_out_dir(p, kind=kind, replace=True, option=option)  # still ours after the work
            swap_in(tmp, p)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def result_set(out: str | os.PathLike[str], *, command: str, inputs: Iterable[object] = (),
               explicit: bool = True, kind: str = "results", option: str = "--out") -> Iterator[Path]:
    """Stage a set of result files and move them into OUT together, only if the block succeeds."""
    inputs = list(inputs)
    p = check_out_dir(out, kind=kind, inputs=inputs, explicit=explicit, option=option)
    with lock(p):
        created = not p.exists()
        p.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=_STAGE_PREFIX, dir=p))
        ok = False
        try:
            umask_dir(stage)
            yield stage
            ins = {_abs(i) for i in inputs if i is not None}
            entries = sorted(stage.iterdir())
            for e in entries:
                if _abs(p / e.name) in ins:
                    raise OutputRefused(f"{p / e.name}: is an input; inputs are never overwritten")
                if (p / e.name).is_dir() != e.is_dir() and (p / e.name).exists():
                    raise OutputRefused(f"{p / e.name}: exists as a {'folder' if (p / e.name).is_dir() else 'file'}; "
                                        "ecg-edge never replaces one by the other")
            if marker(p) is None:
                write_marker(p, kind, command)
            for e in entries:
                if e.is_dir():
                    swap_in(e, p / e.name)
                else:
                    os.replace(e, p / e.name)
            ok = True
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            if created and not ok:  # a failed first run leaves no empty folder behind
                with contextlib.suppress(OSError):
                    p.rmdir()
