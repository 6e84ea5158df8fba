"""Original CPSC 2018 and Chapman layouts, own-data folders and malformed inputs, on small files
written here."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

from ecg_edge.data.prepare import PrepareConfig, prepare
from ecg_edge.data.preprocess import PreprocessConfig
from ecg_edge.data.records import SkipReport
from ecg_edge.data.sources.chapman import iter_chapman
from ecg_edge.data.sources.cpsc2018 import iter_cpsc2018
from ecg_edge.data.sources.folder import iter_folder, read_labels_csv
from ecg_edge.data.sources.wfdbio import read_wfdb
from ecg_edge.data.splits import SplitConfig
from ecg_edge.errors import DataError

RNG = np.random.default_rng(0)
SMALL = PreprocessConfig(fs=250.0, n_samples=1000)
SPLIT = SplitConfig(fractions=(0.5, 0.25, 0.25), seed=1)


def _ecg(n_leads: int, n: int) -> np.ndarray:
    return RNG.normal(0, 0.2, (n_leads, n)).astype(np.float64)


def _cpsc_dir(tmp: Path) -> Path:
    root = tmp / "cpsc2018"
    root.mkdir()
    refs = [("A0001", "1", "", ""), ("A0002", "2", "", ""), ("A0003", "5", "6", ""), ("A0004", "9", "", ""),
            ("A0005", "12", "", ""), ("A0006", "3", "", ""), ("A0007", "7", "", ""), ("A0008", "1", "", "")]
    with open(root / "REFERENCE.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Recording", "First_label", "Second_label", "Third_label"])
        w.writerows(refs)
    for rid, *_ in refs:
        if rid == "A0006":
            continue  # listed but missing
        n = 500 if rid == "A0008" else 4000  # A0008 is 1 s long: too short
        scipy.io.savemat(root / f"{rid}.mat", {"ECG": {"sex": "Male", "age": 50, "data": _ecg(12, n)}})
    (root / "A0009.mat").write_bytes(b"not a mat file")  # unlisted and corrupt
    return root


def test_cpsc2018_layout(tmp_path: Path) -> None:
    root = _cpsc_dir(tmp_path)
    skip = SkipReport()
    recs = {r.record_id: r for r in iter_cpsc2018(root, "cpsc9", skip)}
    assert recs["A0001"].labels == ["Normal"] and recs["A0002"].labels == ["AF"] and recs["A0004"].labels == ["STE"]
    assert recs["A0001"].signal.shape == (12, 4000) and recs["A0001"].fs == 500
    assert skip.counts["several classes"] == 1 and skip.counts["unknown label number"] == 1
    assert skip.counts["signal file missing"] == 1 and skip.counts["not in REFERENCE.csv"] == 1
    ds = prepare(PrepareConfig("cpsc2018", str(root), "cpsc9", preprocess=SMALL, split=SPLIT), tmp_path / "out")
    assert ds.manifest.skipped["shorter than 5 s"] == 1
    # A0001, A0002, A0004, A0007: 8 s = 2000 samples at 250 Hz -> two windows of 1000 each
    assert sum(sum(c.values()) for c in ds.manifest.counts.values()) == 8
    assert set(ds.records("train")) | set(ds.records("val")) | set(ds.records("test")) == {
        "A0001", "A0002", "A0004", "A0007"}


def test_chapman_layout_xlsx_and_csv(tmp_path: Path) -> None:
    import openpyxl

    root = tmp_path / "chapman"
    (root / "ECGData").mkdir(parents=True)
    rows = [("MUSE_1", "SB"), ("MUSE_2", "AFIB"), ("MUSE_3", "AF"), ("MUSE_4", "SVT"), ("MUSE_5", "SI"),
            ("MUSE_6", "XYZ"), ("MUSE_7", "ST")]
    for name, _ in rows:
        if name == "MUSE_7":
            (root / "ECGData" / f"{name}.csv").write_text("I,II\n1,2\n")  # wrong columns
            continue
        x = _ecg(12, 5000) * 1000  # microvolts
        with open(root / "ECGData" / f"{name}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"])
            w.writerows(x.T.round(3).tolist())
    wb = openpyxl.Workbook()
    wb.active.append(["FileName", "Rhythm", "Beat", "PatientAge", "Gender"])
    for name, rh in rows:
        wb.active.append([name, rh, "NONE", 60, "MALE"])
    wb.save(root / "Diagnostics.xlsx")
    skip = SkipReport()
    recs = {r.record_id: r for r in iter_chapman(root, "chapman4", skip)}
    assert {k: r.labels[0] for k, r in recs.items()} == {"MUSE_1": "SB", "MUSE_2": "AFIB", "MUSE_3": "AFIB",
                                                         "MUSE_4": "GSVT", "MUSE_5": "SR"}
    assert np.isclose(np.abs(recs["MUSE_1"].signal).max(), np.abs(recs["MUSE_1"].signal).max())
    assert recs["MUSE_1"].signal.shape == (12, 5000) and np.abs(recs["MUSE_1"].signal).max() < 5  # mV
    assert skip.counts["unknown rhythm acronym"] == 1 and skip.counts["unreadable record"] == 1
    (root / "Diagnostics.xlsx").unlink()
    with open(root / "Diagnostics.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["FileName", "Rhythm"], ["MUSE_1", "SR"]])
    assert [r.labels for r in iter_chapman(root, "chapman4", SkipReport())] == [["SR"]]


def _wfdb(dirpath: Path, name: str, fs: float, n: int, names: list[str]) -> np.ndarray:
    x = _ecg(len(names), n)
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(names), sig_name=names, p_signal=x.T, fmt=["16"] * len(names),
                write_dir=str(dirpath))
    return x


def test_header_quirks_fall_back_to_raw_signal(tmp_path: Path) -> None:
    x = _wfdb(tmp_path, "q", 250, 3000, ["II", "V1"])
    hea = tmp_path / "q.hea"
    lines = hea.read_text().splitlines()
    lines[0] = "q 2 250 Hz 3000 25:61:00 2020/01/01"  # unit token, impossible time, non-WFDB date
    lines[1] = lines[1].replace(" 16 ", " i16 ", 1)  # odd format string
    hea.write_text("\n".join(lines) + "\n")
    with pytest.raises(Exception):  # noqa: B017 - wfdb itself refuses this header
        wfdb.rdrecord(str(tmp_path / "q"))
    sig, fs, names, _ = read_wfdb(tmp_path / "q")
    assert fs == 250 and names == ["II", "V1"] and np.abs(sig - x).max() < 1e-3


def test_header_data_disagreement_and_corrupt_mat(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "r.mat", {"val": (_ecg(12, 1000) * 1000).astype(np.int16)})
    head = ["r 12 500 2000"] + [f"r.mat 16 1000/mV 16 0 0 0 0 {n}" for n in
                                 (["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"])]
    (tmp_path / "r.hea").write_text("\n".join(head) + "\n")
    with pytest.raises(DataError, match=r"r.hea: header declares 2000 samples but the .mat holds 1000"):
        read_wfdb(tmp_path / "r")
    (tmp_path / "r.mat").write_bytes(b"\x00garbage")
    with pytest.raises(DataError, match=r"r.mat: not a readable .mat file"):
        read_wfdb(tmp_path / "r")
    (tmp_path / "r.mat").unlink()
    with pytest.raises(DataError, match=r"r.mat: signal file named in r.hea not found"):
        read_wfdb(tmp_path / "r")


def test_folder_source_with_labels_csv(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    for i in range(8):
        _wfdb(root, f"w{i}", 360, 3600, ["MLII", "V5"])
    scipy.io.savemat(root / "m0.mat", {"val": _ecg(1, 2000)})
    bad = _ecg(1, 2000)
    bad[0, 100] = np.nan
    scipy.io.savemat(root / "m1.mat", {"val": bad})
    scipy.io.savemat(root / "m2.mat", {"val": np.zeros((1, 0))})
    labels = tmp_path / "labels.csv"
    rows = [["record", "label", "patient"]] + [[f"w{i}", ["SR", "AFIB"][i % 2], f"p{i // 2}"] for i in range(8)]
    rows += [["m0", "SB", ""], ["m1", "SR", ""], ["m2", "SR", ""], ["w9", "SR", ""], ["w0x", "Flutter", ""]]
    with open(labels, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    table = read_labels_csv(labels)
    assert table["w3"] == (["AFIB"], "p1") and table["m0"] == (["SB"], None)
    with pytest.raises(DataError, match="m0.mat: a .mat record without a .hea has no sampling rate; pass --fs"):
        list(iter_folder(root, labels, SkipReport()))
    cfg = PrepareConfig("folder", str(root), "mitdb-rhythm", labels_csv=str(labels), fs=200.0,
                        preprocess=SMALL, split=SPLIT, min_seconds=2.0)  # fs: bare .mat rate only
    ds = prepare(cfg, tmp_path / "out")
    sk = ds.manifest.skipped
    assert sk["id in labels CSV matches no file"] == 2 and sk["NaN samples"] == 1  # w9, w0x
    assert sk["zero-length record"] == 1
    total = sum(sum(c.values()) for c in ds.manifest.counts.values())
    # w0..w7 and m0, 10 s each = 2500 samples at 250 Hz -> windows at 0, 1000 and 1500 (end-aligned)
    assert total == 27 and ds.manifest.provenance["windows_per_record"] == {"min": 3, "max": 3, "mean": 3.0}
    assert ds.manifest.provenance["split"]["by"] == "patient"


def test_not_a_dataset_and_unknown_lead(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for src, task, msg in [("challenge", "chapman4", "no .hea files"), ("cpsc2018", "cpsc9", "no REFERENCE.csv"),
                           ("chapman", "chapman4", "no Diagnostics.xlsx"), ("mitdb", "mitdb-rhythm", "no WFDB records"),
                           ("cpsc2021", "cpsc2021-af", "no WFDB records")]:
        with pytest.raises(DataError, match=msg):
            prepare(PrepareConfig(src, str(tmp_path / "empty"), task), tmp_path / "o")
    with pytest.raises(DataError, match="no such file or folder"):
        prepare(PrepareConfig("challenge", str(tmp_path / "nope"), "chapman4"), tmp_path / "o")
    with pytest.raises(DataError, match="does not carry task"):
        prepare(PrepareConfig("mitdb", str(tmp_path / "empty"), "chapman4"), tmp_path / "o")
    with pytest.raises(DataError, match="unknown lead name 'V9'"):
        prepare(PrepareConfig("cpsc2018", str(_cpsc_dir(tmp_path)), "cpsc9", leads="II,V9"), tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_header_quirks_keep_a_real_byte_offset(tmp_path: Path) -> None:
    x = _wfdb(tmp_path, "o", 250, 3000, ["II", "V1"])
    raw = (tmp_path / "o.dat").read_bytes()
    (tmp_path / "o.dat").write_bytes(b"\x00" * 24 + raw)  # a 24-byte prefix, declared as '16+24'
    lines = (tmp_path / "o.hea").read_text().splitlines()
    lines[0] = "o 2 250 3000 25:61:00 2020/01/01"
    lines[1:3] = [ln.replace(" 16 ", " 16+24 ", 1) for ln in lines[1:3]]
    (tmp_path / "o.hea").write_text("\n".join(lines) + "\n")
    sig, _, _, _ = read_wfdb(tmp_path / "o")
    assert np.abs(sig - x).max() < 1e-3
