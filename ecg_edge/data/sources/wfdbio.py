"""Reading WFDB records with wfdb-python, tolerant of the header quirks real archives carry.

wfdb refuses headers with extra or oddly formatted fields (dates in other formats, '500Hz',
format strings like '16+24', unknown units). A record whose signal is readable should not be
lost for that: we re-write a minimal clean header beside a link to the signal file and let wfdb
decode it, or for the challenge's .mat files read the 'val' array with scipy.io.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecg_edge.errors import DataError

_UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "μv": 1e-3, "µv": 1e-3, "v": 1e3, "nu": 1.0, "": 1.0}
_DX = re.compile(r"^#\s*Dx\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)


@dataclass
class SignalSpec:
    file: str
    fmt: str
    gain: float
    baseline: float
    units: str
    name: str


@dataclass
class Header:
    record: str
    n_sig: int
    fs: float | None
    sig_len: int | None
    signals: list[SignalSpec]
    comments: list[str]


def dx_codes(header_text: str) -> list[str] | None:
    """SNOMED codes on a '#Dx:' or '# Dx:' line; None when there is no such line."""
    m = _DX.search(header_text)
    if m is None:
        return None
    return [c.strip() for c in re.split(r"[,;\s]+", m.group(1)) if c.strip()]


def _num(tok: str) -> float:
    m = re.match(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", tok)
    if not m:
        raise ValueError(tok)
    return float(m.group(0))


def parse_header(path: Path) -> Header:
    """A lenient parse of a .hea file (only what we need); DataError when it is not one."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise DataError(f"{path}: cannot read header: {exc.strerror or exc}") from exc
    lines = [ln.strip() for ln in text.splitlines()]
    comments = [ln.lstrip("#").strip() for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    if not body:
        raise DataError(f"{path}: empty header (no record line)")
    tok = body[0].split()
    rest = [t for t in tok[2:] if not t.isalpha()]  # tolerate a unit token: '500 Hz'
    try:
        n_sig = int(tok[1])
        fs = _num(rest[0].split("/")[0]) if rest else None
        sig_len = int(rest[1]) if len(rest) > 1 and rest[1].isdigit() else None
    except (IndexError, ValueError) as exc:
        raise DataError(f"{path}: malformed record line {body[0]!r}; expected 'name n_signals fs n_samples'") from exc
    sigs = []
    for ln in body[1:1 + n_sig]:
        t = ln.split()
        gain, baseline, units = 200.0, 0.0, "mV"
        fmt = t[1] if len(t) > 1 else "16"
        if len(t) > 2:
            m = re.match(r"^([-+\d.eE]+)(?:\(([-+\d]+)\))?(?:/(\S+))?", t[2])
            if m:
                try:
                    gain = float(m.group(1)) or 200.0
                except ValueError:
                    gain = 200.0
                baseline = float(m.group(2)) if m.group(2) else (float(t[4]) if len(t) > 4 and _isint(t[4]) else 0.0)
                units = m.group(3) or "mV"
        name = " ".join(t[8:]) if len(t) > 8 else f"lead{len(sigs) + 1}"
        sigs.append(SignalSpec(t[0], fmt, gain, baseline, units, name))
    if len(sigs) != n_sig:
        raise DataError(f"{path}: header declares {n_sig} signals but describes {len(sigs)}")
    return Header(tok[0], n_sig, fs, sig_len, sigs, comments)


def _isint(s: str) -> bool:
    try:
        int(s)
        return True
    except ValueError:
        return False


def _to_mv(x: np.ndarray, units: list[str]) -> np.ndarray:
    scale = np.array([_UNIT_TO_MV.get(u.lower(), 1.0) for u in units], dtype=np.float64)[:, None]
    return (x * scale).astype(np.float32)


def read_mat_val(path: Path) -> np.ndarray:
    import scipy.io

    try:
        m = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for a corrupt file
        raise DataError(f"{path}: not a readable .mat file ({type(exc).__name__}: {exc})") from exc
    arrays = {k: v for k, v in m.items() if not k.startswith("__") and isinstance(v, np.ndarray) and v.ndim == 2
              and v.dtype.kind in "iuf"}
    key = "val" if "val" in arrays else ("data" if "data" in arrays else (next(iter(arrays)) if len(arrays) == 1 else None))
    if key is None:
        raise DataError(f"{path}: no signal array ('val') found; keys: {', '.join(k for k in m if not k.startswith('__'))}")
    return np.asarray(arrays[key], dtype=np.float64)


def read_wfdb(record_path: str | Path) -> tuple[np.ndarray, float, list[str], Header]:
    """(signal float32 (leads, samples) mV, fs, lead names, header) of <record_path>.hea."""
    record_path = Path(record_path)
    hea = record_path.with_suffix(".hea")
    if not hea.is_file():
        raise DataError(f"{hea}: header file not found")
    h = parse_header(hea)
    if h.fs is None or h.fs <= 0:
        raise DataError(f"{hea}: no valid sampling frequency in the record line")
    if h.n_sig == 0:
        raise DataError(f"{hea}: record has no signals")
    files = {s.file for s in h.signals}
    for f in files:
        if not (hea.parent / f).is_file():
            raise DataError(f"{hea.parent / f}: signal file named in {hea.name} not found")
    if all(f.lower().endswith(".mat") for f in files):
        if len(files) != 1:
            raise DataError(f"{hea}: signals spread over several .mat files are not supported")
        val = read_mat_val(hea.parent / files.pop())
        if val.shape[0] != h.n_sig and val.shape[1] == h.n_sig:
            val = val.T
        if val.shape[0] != h.n_sig:
            raise DataError(f"{hea}: header declares {h.n_sig} signals but the .mat holds {val.shape[0]} rows")
        if h.sig_len is not None and val.shape[1] != h.sig_len:
            raise DataError(f"{hea}: header declares {h.sig_len} samples but the .mat holds {val.shape[1]}")
        gain = np.array([s.gain for s in h.signals])[:, None]
        base = np.array([s.baseline for s in h.signals])[:, None]
        x = _to_mv((val - base) / gain, [s.units for s in h.signals])
        return x, float(h.fs), [s.name for s in h.signals], h
    import wfdb

    try:
        rec = wfdb.rdrecord(str(record_path))
        x, fs, names, units = rec.p_signal.T, float(rec.fs), list(rec.sig_name), list(rec.units)
    except Exception:  # wfdb rejected the header: retry with a cleaned copy of it
        x, fs, names, units = _read_with_clean_header(record_path, h)
    if h.sig_len is not None and x.shape[1] != h.sig_len:
        raise DataError(f"{hea}: header declares {h.sig_len} samples but the signal file holds {x.shape[1]}")
    return _to_mv(np.asarray(x, dtype=np.float64), units), fs, names, h


def _read_with_clean_header(record_path: Path, h: Header) -> tuple[np.ndarray, float, list[str], list[str]]:
    """Re-read with a minimal header; byte offsets ('16+24') are kept first, dropped on a retry."""
    import wfdb

    def header(keep_offset: bool) -> str:
        lines = [f"{record_path.name} {h.n_sig} {h.fs:g}" + (f" {h.sig_len}" if h.sig_len else "")]
        for s in h.signals:
            fmt = re.match(r"\D*(\d+)(?:x\d+)?(\+\d+)?", s.fmt)
            fmt_s = (fmt.group(1) + (fmt.group(2) or "" if keep_offset else "")) if fmt else "16"
            unit = s.units if s.units.lower() in _UNIT_TO_MV else "mV"
            lines.append(f"{s.file} {fmt_s} {s.gain:g}({int(s.baseline)})/{unit} 0 0 0 0 0 {s.name}")
        return "\n".join(lines) + "\n"

    with tempfile.TemporaryDirectory(prefix="ecg-edge-hea-") as tmp:
        t = Path(tmp)
        for s in h.signals:
            link = t / s.file
            if not link.exists():
                os.symlink((record_path.parent / s.file).resolve(), link)
        error: Exception | None = None
        for keep in (True, False):
            (t / f"{record_path.name}.hea").write_text(header(keep))
            try:
                rec = wfdb.rdrecord(str(t / record_path.name))
                return rec.p_signal.T, float(rec.fs), list(rec.sig_name), list(rec.units)
            except Exception as exc:
                error = exc
        raise DataError(f"{record_path}.hea: unreadable record even with a cleaned header "
                        f"({type(error).__name__}: {error})")
