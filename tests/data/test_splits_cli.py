"""Patient-wise splits (no leakage) and the `ecg-edge data` commands' outputs and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ecg_edge.cli import main
from ecg_edge.data.preprocess import PreprocessConfig, bandpass, pad_crop, resample
from ecg_edge.data.splits import SplitConfig, split_by_patient
from ecg_edge.errors import DataError


def test_split_never_shares_a_patient() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat([f"p{i}" for i in range(60)], rng.integers(1, 12, 60))
    y = rng.integers(0, 4, len(groups))  # patients with several classes, like MIT-BIH records
    idx = split_by_patient(y, groups, 4, SplitConfig(seed=3))
    allidx = np.concatenate(list(idx.values()))
    assert np.array_equal(np.sort(allidx), np.arange(len(y)))
    sets = {s: set(groups[i]) for s, i in idx.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    frac = len(idx["train"]) / len(y)
    assert 0.6 < frac < 0.8
    again = split_by_patient(y, groups, 4, SplitConfig(seed=3))
    assert all(np.array_equal(idx[s], again[s]) for s in idx)
    with pytest.raises(DataError, match="fractions"):
        SplitConfig(fractions=(0.5, 0.5, 0.5))


def test_kfold_tests_every_patient_once() -> None:
    rng = np.random.default_rng(1)
    groups = np.repeat([f"p{i}" for i in range(30)], rng.integers(1, 9, 30))
    y = rng.integers(0, 3, len(groups))
    tested: list[str] = []
    for fold in range(3):
        idx = split_by_patient(y, groups, 3, SplitConfig(fractions=(0.75, 0.25, 0.0), folds=3, fold=fold))
        assert np.array_equal(np.sort(np.concatenate(list(idx.values()))), np.arange(len(y)))
        sets = {s: set(groups[i]) for s, i in idx.items()}
        assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
        assert 8 <= len(sets["test"]) <= 12 and len(sets["train"]) > len(sets["val"]) > 0
        tested += sorted(sets["test"])
    assert sorted(tested) == sorted(set(groups))  # each patient is a test patient in exactly one fold


def test_kfold_never_leaves_val_empty() -> None:
    # four single-class patients outside the test fold: the class-deficit greedy alone puts all
    # of them in train at a 0.9:0.1 ratio, so the smallest one is moved to val
    groups = np.repeat(["a", "b", "c", "d", "e", "f"], [50, 40, 30, 20, 60, 45])
    y = np.repeat([0, 1, 0, 1, 0, 1], [50, 40, 30, 20, 60, 45])
    idx = split_by_patient(y, groups, 2, SplitConfig(fractions=(0.9, 0.1, 0.0), folds=3, fold=1))
    assert all(len(i) for i in idx.values())
    with pytest.raises(DataError, match="fold 3 of 3 folds"):
        SplitConfig(folds=3, fold=3)
    with pytest.raises(DataError, match="4 folds need at least 4 patients"):
        split_by_patient(y[:3], groups[:3], 2, SplitConfig(folds=4))


def test_preprocess_primitives() -> None:
    x = np.sin(2 * np.pi * 5 * np.arange(3600) / 360)[None].astype(np.float32)
    y = resample(x, 360, 500)
    assert y.shape == (1, 5000)
    assert np.allclose(y[0, 500:4500], np.sin(2 * np.pi * 5 * np.arange(500, 4500) / 500), atol=1e-2)
    assert pad_crop(np.ones((2, 10)), 14).shape == (2, 14) and pad_crop(np.ones((2, 10)), 14)[0, -1] == 0
    assert pad_crop(np.arange(10)[None], 4).tolist() == [[3, 4, 5, 6]]
    drift = x + 2.0 + np.linspace(0, 3, 3600)[None]
    f = bandpass(drift, 360, (0.5, 40.0))
    assert abs(float(f[0, 500:-500].mean())) < 0.05  # baseline and drift removed, 5 Hz kept
    assert f[0, 500:-500].std() > 0.6
    with pytest.raises(DataError, match="normalise"):
        PreprocessConfig(normalise="minmax")


def test_cli_synth_and_describe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "syn"
    assert main(["data", "synth", "--task", "cpsc9", "--n", "36", "--leads", "12", "--seed", "4",
                 "--samples", "1024", "--windows-per-patient", "2", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["data", "describe", str(out)]) == 0
    text = capsys.readouterr().out
    assert "task cpsc9" in text and "I-AVB" in text and "leads I,II,III" in text
    d = json.loads((out / "describe.json").read_text())
    assert d["windows"] == 36 and sum(d["totals"].values()) == 36 and d["split_by"] == "patient"
    assert (out / "describe.png").stat().st_size > 1000


def test_cli_synth_split_fractions(tmp_path: Path) -> None:
    # the demo grows its test split this way: same training windows, more test patients
    out = tmp_path / "syn"
    assert main(["data", "synth", "--n", "40", "--samples", "512", "--windows-per-patient", "2",
                 "--split", "0.3,0.1,0.6", "--out", str(out)]) == 0
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    n = {s: sum(c.values()) for s, c in counts.items()}
    assert sum(n.values()) == 40 and n["test"] > n["train"] > n["val"]


@pytest.mark.parametrize("argv,msg", [
    (["data", "describe", "{tmp}/missing"], "not a folder; expected a prepared dataset"),
    (["data", "describe", "{tmp}"], "not a prepared dataset (no manifest.json)"),
    (["data", "synth", "--n", "8", "--leads", "V9", "--out", "{tmp}/o"], "unknown lead name 'V9'"),
    (["data", "prepare", "challenge", "{tmp}", "--task", "chapman4", "--out", "{tmp}/o"], "no .hea files"),
    (["data", "prepare", "mitdb", "{tmp}", "--task", "cpsc9", "--out", "{tmp}/o"], "does not carry task"),
    (["data", "prepare", "folder", "{tmp}", "--task", "cpsc9", "--out", "{tmp}/o"], "needs --labels"),
    (["data", "prepare", "mitdb", "{tmp}", "--task", "mitdb-rhythm", "--band", "1", "--out", "{tmp}/o"],
     "'--band': '1': expected LOW,HIGH"),
    (["data", "prepare", "mitdb", "{tmp}", "--task", "mitdb-rhythm", "--folds", "3", "--fold", "3", "--out", "{tmp}/o"],
     "split fold 3 of 3 folds"),
])
def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], msg: str) -> None:
    rc = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("ecg-edge: error: ") and msg in err and "\n" not in err
    assert not (tmp_path / "o").exists()
