"""Import the compiled cffi extension, building it in place first when it is missing or older
than the C sources (a development checkout after editing runtime_c/). The build runs under a
file lock and replaces the .so atomically, so parallel test workers never see half a file."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
from pathlib import Path
from types import ModuleType

from ecg_edge.errors import ToolchainMissing

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SOURCES = ROOT / "runtime_c"


def _sources_mtime() -> float:
    files = list((SOURCES / "src").glob("*.[ch]")) + list((SOURCES / "include").glob("*.h"))
    files.append(HERE / "build_ffi.py")
    return max((f.stat().st_mtime for f in files if f.exists()), default=0.0)


def _sanitized() -> bool:
    """ECG_EDGE_RT_SANITIZE=1: load the ASan+UBSan build (run with libasan preloaded)."""
    return os.environ.get("ECG_EDGE_RT_SANITIZE") == "1"


def _module() -> str:
    return "_ecg_edge_rt_san" if _sanitized() else "_ecg_edge_rt"


def _built() -> Path | None:
    """The file the import system will load (suffixes in its order of preference: an editable
    install leaves `.abi3.so`, an in-place build `.cpython-3XX-...so`)."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = HERE / f"{_module()}{suffix}"
        if p.is_file():
            return p
    return None


def _needs_build() -> bool:
    if not (SOURCES / "src").is_dir():  # an installed wheel: the extension is all there is
        return False
    so = _built()
    return so is None or so.stat().st_mtime < _sources_mtime()


def _build() -> None:
    import fcntl

    from ecg_edge.runtime import build_ffi

    lock = ROOT / "build" / "cffi.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            if _needs_build():
                build_ffi.build_inplace(sanitize=_sanitized())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_extension() -> ModuleType:
    if _needs_build() and os.environ.get("ECG_EDGE_NO_RUNTIME_BUILD") != "1":
        try:
            _build()
        except Exception as exc:  # no compiler: say what is missing
            raise ToolchainMissing(f"could not build the C runtime binding from {SOURCES} ({exc}); "
                                   "a C compiler (gcc/clang) and cffi are needed") from exc
    return importlib.import_module(f"ecg_edge.runtime.{_module()}")
