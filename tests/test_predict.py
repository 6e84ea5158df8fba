"""`ecg-edge predict` on raw records equals `evaluate` on the same windows: an own-labels folder
the test writes goes through prepare -> train -> export -> evaluate (window + record) -> predict,
for the checkpoint and the shipped model.bin."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ecg_edge.cli import main
from ecg_edge.data.prepared import load_prepared
from tests.data.ownfolder import write_archive

PREP = ["--task", "own", "--fs", "250", "--target-fs", "64", "--samples", "256", "--band", "0.5,20",
        "--min-seconds", "2", "--split", "0.5,0.25,0.25", "--class-map", "rare=other"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    t = tmp_path_factory.mktemp("own")
    labels = write_archive(t / "arch", rare=2)
    assert main(["data", "prepare", "folder", str(t / "arch"), "--labels", str(labels), *PREP,
                 "--out", str(t / "ds")]) == 0
    assert main(["train", "--data", str(t / "ds"), "--epochs", "2", "--batch-size", "16", "--threads", "1",
                 "--out", str(t / "run")]) == 0
    assert main(["export", str(t / "run" / "best.pt"), "-o", str(t / "model.bin"), "--data", str(t / "ds")]) == 0
    return {"root": t, "arch": t / "arch", "ds": t / "ds", "ckpt": t / "run" / "best.pt", "bin": t / "model.bin"}


def _window_logits(model: str, ds: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from ecg_edge.predict import Model

    d = load_prepared(ds)
    X, y = d.split("test")
    return Model(Path(model)).logits(np.asarray(X)), y, d.records("test"), d.starts("test")


@pytest.mark.parametrize("kind", ["ckpt", "bin"])
def test_predict_equals_evaluate(pipeline: dict[str, Path], kind: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    model, ds = pipeline[kind], pipeline["ds"]
    assert main(["evaluate", str(model), "--data", str(ds), "--out", str(tmp_path / "ev"), "--json"]) == 0
    capsys.readouterr()
    stem = "eval_test" if kind == "ckpt" else "eval_test_bin_numpy"
    ev = json.loads((tmp_path / "ev" / f"{stem}.json").read_text())
    assert ev["record"]["aggregation"] == "mean of window logits" and ev["record"]["n_records"] >= 4
    assert main(["predict", str(model), str(pipeline["arch"]), "--fs", "250", "--out", str(tmp_path / "p")]) == 0
    pred = json.loads((tmp_path / "p" / "predictions.json").read_text())
    assert (tmp_path / "p" / "windows.csv").is_file() and (tmp_path / "p" / "records.csv").is_file()
    assert any(p.suffix == ".png" for p in (tmp_path / "p").iterdir())
    assert pred["classes"] == ev["classes"] == ["afib", "noisy", "other", "sinus"]
    assert any("sh0" in f for f in pred["skipped"])  # 1 s: shorter than the data's --min-seconds
    logits, y, recs, starts = _window_logits(str(model), ds)
    by = {(w["record"], round(w["start_s"] * 64)): w for w in pred["windows"]}
    for lg, r, s in zip(logits, recs, starts, strict=True):
        w = by[(str(r), int(s))]
        np.testing.assert_allclose(w["logits"], lg, rtol=1e-5, atol=1e-5)  # the same windows, the same numbers
    # record level: predict's per-record class on the test records gives evaluate's record accuracy
    classes = pred["classes"]
    rec_pred = {r["record"]: r["prediction"] for r in pred["records"]}
    truth = {str(r): classes[int(c)] for r, c in zip(recs, y, strict=True)}
    acc = np.mean([rec_pred[r] == c for r, c in truth.items()])
    assert acc == pytest.approx(ev["record"]["accuracy"]) and ev["record"]["n_records"] == len(truth)
    acc_w = np.mean([by[(str(r), int(s))]["prediction"] == classes[int(c)] for r, s, c in zip(recs, starts, y, strict=True)])
    assert acc_w == pytest.approx(ev["accuracy"])


def test_predict_bad_input(pipeline: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(pipeline["ckpt"]), str(tmp_path / "nope"), "--out", str(tmp_path / "p")]) == 2
    assert "no such record file or folder" in capsys.readouterr().err
    (tmp_path / "bad.hea").write_text("garbage\n")
    assert main(["predict", str(pipeline["ckpt"]), str(tmp_path / "bad.hea"), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "bad.hea" in err and "Traceback" not in err
    assert not (tmp_path / "p").exists()


def test_real_single_lead_archive_end_to_end(shared_data: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Real MIT-BIH single-lead recordings of 9-60 s with a 4-class own CSV: prepare (own) ->
    train -> compress -> export -> evaluate (window + record) -> predict, equal figures."""
    from tests.data.realfolder import build

    arch = tmp_path / "arch"
    labels = build(shared_data / "mitdb", arch, records=("100", "201", "203", "221", "232"), per_record=3)
    t = tmp_path
    assert main(["data", "prepare", "folder", str(arch), "--labels", str(labels), "--task", "own",
                 "--target-fs", "100", "--samples", "500", "--split", "0.4,0.3,0.3", "--out", str(t / "ds")]) == 0
    out = capsys.readouterr()
    assert "brady" in out.out and "afib" in out.out and "sinus" in out.out and "other" in out.out
    assert "has no window in" in out.err  # brady comes from one patient only: warned, with counts
    assert main(["train", "--data", str(t / "ds"), "--epochs", "1", "--threads", "1", "--out", str(t / "run")]) == 0
    assert main(["compress", str(t / "run" / "best.pt"), "--method", "fixed-q4", "--out", str(t / "c")]) == 0
    assert main(["export", str(t / "c" / "compressed.pt"), "--plan", str(t / "c" / "plan.json"),
                 "-o", str(t / "m.bin"), "--data", str(t / "ds")]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(t / "m.bin"), "--data", str(t / "ds"), "--out", str(t / "ev")]) == 0
    text = capsys.readouterr().out
    assert "record level:" in text and "mean of window logits" in text
    ev = json.loads((t / "ev" / "eval_test_bin_numpy.json").read_text())
    assert main(["predict", str(t / "m.bin"), str(arch), "--out", str(t / "p"), "--plot", "none"]) == 0
    pred = json.loads((t / "p" / "predictions.json").read_text())
    assert pred["classes"] == ["afib", "brady", "other", "sinus"]
    d = load_prepared(t / "ds")
    recs, y = d.records("test"), d.split("test")[1]
    rec_pred = {r["record"]: r["prediction"] for r in pred["records"]}
    truth = {str(r): pred["classes"][int(c)] for r, c in zip(recs, y, strict=True)}
    assert np.mean([rec_pred[r] == c for r, c in truth.items()]) == pytest.approx(ev["record"]["accuracy"])
