"""--task own on a folder the test writes: classes from the labels CSV, --classes, --class-map,
--multi-label, every record cut into windows, file quirks and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecg_edge.cli import main
from ecg_edge.data.prepare import PrepareConfig, prepare
from ecg_edge.data.prepared import SPLITS
from ecg_edge.data.preprocess import PreprocessConfig
from ecg_edge.data.splits import SplitConfig
from ecg_edge.data.windows import window_starts
from ecg_edge.errors import DataError

from .ownfolder import write_archive

PRE = PreprocessConfig(fs=64.0, n_samples=256, band=(0.5, 20.0))
SPLIT = SplitConfig(fractions=(0.5, 0.25, 0.25), seed=0)


def _cfg(root: Path, labels: Path, **kw) -> PrepareConfig:
    kw.setdefault("split", SPLIT)
    return PrepareConfig("folder", str(root), "own", labels_csv=str(labels), fs=250.0, preprocess=PRE,
                         min_seconds=2.0, **kw)


def test_window_starts_cover_the_record() -> None:
    assert window_starts(100, 256, None, None) == [0]  # shorter: one padded window
    assert window_starts(600, 256, None, None) == [0, 256, 344]  # the last one is end-aligned
    assert window_starts(600, 256, 128, None) == [0, 128, 256, 344]
    assert window_starts(600, 256, None, 1) == [172]  # one per record: the centre crop
    assert window_starts(2560, 256, None, 3) == [0, 1024, 2304]


def test_own_classes_quirks_and_bad_input(tmp_path: Path) -> None:
    root = tmp_path / "arch"
    labels = write_archive(root)
    with pytest.raises(DataError, match=r"class 'rare' has 2 usable record\(s\), fewer than the 3 .*--class-map 'rare="):
        prepare(_cfg(root, labels), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written
    warnings: list[str] = []
    ds = prepare(_cfg(root, labels, class_map={"rare": "other"}), tmp_path / "out", log=warnings.append)
    m = ds.manifest
    assert m.task == "own" and m.classes == ["afib", "noisy", "other", "sinus"]  # sorted: a stable order
    sk = m.skipped
    assert sk["id in labels CSV matches no file"] == 1 and sk["file not in labels CSV"] == 1
    assert sk["several labels (--multi-label skip)"] == 1 and sk["shorter than 2 s"] == 1
    assert "unreadable record" not in sk  # WFDB with a date, .mat 1xN / Nx1, CSV with BOM + CRLF: all read
    prov = m.provenance
    assert prov["records_used"] == 22 and prov["padded_records"] == 4  # 4 x 3 s records, one window each
    assert prov["record_fs"] == {"250": 17, "360": 5}
    assert any("mixed sampling rates" in w for w in warnings) and any("zero-padded" in w for w in warnings)
    assert prov["preprocess"]["windowing"] == {"windows_per_record": None, "stride": None, "min_seconds": 2.0}
    seen: dict[str, str] = {}
    for s in SPLITS:
        recs, starts = ds.records(s), ds.starts(s)
        assert len(recs) == len(starts) == len(ds.split(s)[1])
        for r in recs:
            assert seen.setdefault(str(r), s) == s  # the windows of a record share its split
    # a 33 s record at 64 Hz = 2112 samples -> windows at 0, 256, ..., 1792 and an end-aligned 1856
    all_recs = np.concatenate([ds.records(s) for s in SPLITS])
    assert (all_recs == "si03").sum() == 9


def test_classes_subset_multi_label_first_and_per_record(tmp_path: Path) -> None:
    root = tmp_path / "arch"
    labels = write_archive(root, rare=0)
    ds = prepare(_cfg(root, labels, classes=["sinus", "afib", "other"], multi_label="first", windows_per_record=2),
                 tmp_path / "out", log=None)
    assert ds.manifest.classes == ["sinus", "afib", "other"]  # the order given
    sk = ds.manifest.skipped
    assert sk["label not in --classes"] == 5  # the noisy records
    assert "several labels (--multi-label skip)" not in sk  # mx0 'afib;noisy' -> afib
    recs = np.concatenate([ds.records(s) for s in SPLITS])
    assert "mx0" in set(recs) and max(np.unique(recs, return_counts=True)[1]) == 2


def test_warns_when_a_split_lacks_a_class(tmp_path: Path) -> None:
    root = tmp_path / "arch"
    labels = write_archive(root, rare=3)
    warnings: list[str] = []
    prepare(_cfg(root, labels, split=SplitConfig((0.9, 0.05, 0.05), 0)), tmp_path / "out", log=warnings.append)
    assert any("has no window in" in w and "(train " in w for w in warnings)


@pytest.mark.parametrize("extra, msg", [
    (["--class-map", "rare"], "class map entry 'rare': expected CODE=CLASS"),
    (["--windows-per-record", "0"], "--windows-per-record '0': expected 'all' or a number >= 1"),
    (["--classes", "sinus"], "only 1 class (sinus) left"),
])
def test_cli_own_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                                       msg: str) -> None:
    root = tmp_path / "arch"
    labels = write_archive(root, rare=3)
    argv = ["data", "prepare", "folder", str(root), "--task", "own", "--labels", str(labels), "--fs", "250",
            "--target-fs", "64", "--samples", "256", "--band", "0.5,20", "--min-seconds", "2",
            "--out", str(tmp_path / "o"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("ecg-edge: error:") and msg in err[-1], err
    assert not (tmp_path / "o").exists()


def test_cli_own_prepare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "arch"
    labels = write_archive(root, rare=3)
    assert main(["data", "prepare", "folder", str(root), "--task", "own", "--labels", str(labels), "--fs", "250",
                 "--target-fs", "64", "--samples", "256", "--band", "0.5,20", "--min-seconds", "2",
                 "--class-map", "noisy=artefact", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr()
    assert "artefact" in out.out and "rare" in out.out and "windows per record 1-9" in out.out
    assert "mixed sampling rates" in out.err
    assert "skipped (id in labels CSV matches no file): 1, e.g. " in out.err and "ghost" in out.err


def test_quirky_files_are_read_and_unreadable_ones_skipped_with_reason(tmp_path: Path) -> None:
    from ecg_edge.data.sources.folder import read_labels_csv, read_record_file

    from .ownfolder import signal, write_wfdb

    root = tmp_path / "arch"
    labels = write_archive(root, rare=3)
    x = signal("sinus", 6.0, 250.0, 0)
    write_wfdb(root, "gb0", x, 250.0)  # gain 400, baseline 12, a date and time on the record line
    sig, fs, names = read_record_file(root / "gb0.hea", None)
    assert fs == 250.0 and names == ["II"] and np.abs(sig[0] - x).max() <= 0.5 / 400 + 1e-6
    n1 = read_record_file(root / "sub" / "af01.mat", 250.0)[0]  # val stored N x 1
    assert n1.shape[0] == 1 and n1.shape[1] > 1
    (root / "bad0.mat").write_bytes(b"not a mat file")
    (root / "bad1.hea").write_text("bad1 1 250 1000\nbad1.dat 16 200 16 0 0 0 0 II\n")  # its .dat is missing
    (root / "bad2.csv").write_text("II\n0.1\nzz\n")
    with open(labels, "ab") as fh:
        fh.write(b"bad0,sinus,b0\r\nbad1,afib,b1\r\nbad2.csv,other,b2\r\n")
    table = read_labels_csv(labels)
    assert "record" not in table and table["si00"][0] == ["sinus"]  # the BOM is not part of the header
    ds = prepare(_cfg(root, labels), tmp_path / "out", log=None)
    assert ds.manifest.skipped["unreadable record"] == 3
    ex = " | ".join(ds.manifest.provenance["skipped_examples"]["unreadable record"])
    assert "bad0.mat: not a readable .mat file" in ex and "bad1.dat" in ex and "bad2.csv" in ex


def test_label_policy_for_builtin_tasks() -> None:
    from ecg_edge.data.labels import LabelPolicy

    p = LabelPolicy("chapman4", class_map={"GSVT": "SR", "flutter": "afib"})
    assert p.resolve(["GSVT"]) == ("SR", "") and p.resolve(["flutter"]) == ("AFIB", "")  # case-insensitive
    assert p.resolve(["LBBB"]) == (None, "unknown label")
    assert p.resolve(["SR", "SB"]) == (None, "several labels (--multi-label skip)")
    assert LabelPolicy("chapman4", multi_label="first").resolve(["sb", "SR"]) == ("SB", "")
    assert p.final_classes([]) == ["SB", "AFIB", "GSVT", "SR"]
    with pytest.raises(DataError, match=r"--class-map entry x=Foo: class 'Foo' is not one of task chapman4"):
        LabelPolicy("chapman4", class_map={"x": "Foo"})
    with pytest.raises(DataError, match=r"--classes SR,XX: XX not among task chapman4's classes"):
        LabelPolicy("chapman4", classes=["SR", "XX"])


def test_labels_csv_duplicate_ids_with_conflicting_labels_are_refused(tmp_path: Path) -> None:
    from ecg_edge.data.sources.folder import read_labels_csv
    from ecg_edge.errors import DataError

    p = tmp_path / "labels.csv"
    p.write_bytes("\ufeffrecord,label\nr1,AF\nr2,SR\nr1,AF\n".encode())  # BOM, and a harmless repeat
    assert read_labels_csv(p) == {"r1": (["AF"], None), "r2": (["SR"], None)}
    p.write_text("record,label\nr1,AF\nr2,SR\nr1,SR\n")
    with pytest.raises(DataError, match="'r1' is listed twice with different labels"):
        read_labels_csv(p)
    p.write_bytes(b"record,label\nr1,\xe9\xff\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_labels_csv(p)
