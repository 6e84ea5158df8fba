"""A small own-data archive written by the tests: single-lead records of several lengths and
rates in WFDB (header with date and time), .mat (val 1 x N and N x 1) and signal CSV, and a
labels CSV with a BOM, CRLF line ends, ids with and without extensions, an id that matches no
file, a multi-label row and a class with too few records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import wfdb

FREQ = {"sinus": 1.0, "afib": 3.0, "other": 5.5, "noisy": 0.0}
LENGTHS = (6.0, 9.5, 17.0, 33.0, 3.0)  # seconds; 3 s is shorter than one 4 s window (padded)


def signal(label: str, seconds: float, fs: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    if label == "noisy":
        return (0.8 * rng.standard_normal(t.size)).astype(np.float64)
    return (np.sin(2 * np.pi * FREQ[label] * t) + 0.25 * rng.standard_normal(t.size)).astype(np.float64)


def write_wfdb(root: Path, name: str, x: np.ndarray, fs: float) -> None:
    wfdb.wrsamp(name, fs=fs, units=["mV"], sig_name=["II"], p_signal=x[:, None], fmt=["16"], adc_gain=[400.0],
                baseline=[12], write_dir=str(root))
    hea = root / f"{name}.hea"
    lines = hea.read_text().splitlines()
    lines[0] = f"{lines[0]} 10:21:33 04/05/2019"  # a header carrying a start time and date
    hea.write_text("\n".join(lines) + "\n")


def write_archive(root: Path, rare: int = 2) -> Path:
    """Records + labels.csv under root; returns the labels CSV path."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [("record", "label", "patient")]
    k = 0
    for label in FREQ:
        for i, secs in enumerate(LENGTHS):
            name = f"{label[:2]}{i:02d}"
            kind = k % 4
            fs = 360.0 if kind == 1 else 250.0  # bare .mat / .csv records take --fs 250
            x = signal(label, secs, fs, k)
            if kind in (0, 1):
                write_wfdb(root, name, x, fs)
                rid = f"{name}.hea" if kind == 0 else name
            elif kind == 2:
                (root / "sub").mkdir(exist_ok=True)
                val = x[None, :] if k % 8 == 2 else x[:, None]  # 1 x N and N x 1
                scipy.io.savemat(root / "sub" / f"{name}.mat", {"val": val})
                rid = f"sub/{name}.mat"
            else:
                text = "II\n" + "\n".join(f"{v:.5f}" for v in x) + "\n"
                (root / f"{name}.csv").write_text(text)
                rid = name
            rows.append((rid, label, f"p{k // 2}"))
            k += 1
    for j in range(rare):
        write_wfdb(root, f"ra{j}", signal("other", 8.0, 250.0, 100 + j), 250.0)
        rows.append((f"ra{j}", "rare", f"q{j}"))
    write_wfdb(root, "mx0", signal("sinus", 8.0, 250.0, 200), 250.0)
    rows.append(("mx0", "afib;noisy", "m0"))  # multi-label
    write_wfdb(root, "sh0", signal("sinus", 1.0, 250.0, 201), 250.0)
    rows.append(("sh0", "sinus", "s0"))  # shorter than --min-seconds 2
    rows.append(("ghost", "sinus", "g0"))  # matches no file
    write_wfdb(root, "xx0", signal("sinus", 8.0, 250.0, 202), 250.0)  # a file with no labels row
    labels = root / "labels.csv"
    labels.write_bytes(b"\xef\xbb\xbf" + "".join(",".join(r) + "\r\n" for r in rows).encode())
    return labels
