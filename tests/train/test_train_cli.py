"""`ecg-edge train` / `ecg-edge evaluate`: outputs, and one-line errors (exit 2) for bad input."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from ecg_edge.checkpoint import load_checkpoint, save_checkpoint
from ecg_edge.cli import main
from ecg_edge.data.prepared import PreparedManifest, save_prepared
from ecg_edge.metrics import classification_metrics
from ecg_edge.models.predict import predict
from ecg_edge.models.registry import model_from_checkpoint
from tests.tinydata import CLASSES, make_dataset, make_split


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    make_dataset(root / "ds")
    rc = main(["train", "--data", str(root / "ds"), "--epochs", "2", "--batch-size", "16", "--threads", "1",
               "--seed", "1", "--out", str(root / "run")])
    assert rc == 0
    return root / "ds", root / "run"


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_train_writes_everything(trained: tuple[Path, Path]) -> None:
    ds, run = trained
    for name in ("best.pt", "last.pt", "history.json", "curve.png", "eval_test.json", "eval_test.txt",
                 "eval_test_confusion.png"):
        assert (run / name).is_file(), name
    ck = load_checkpoint(run / "best.pt")
    assert ck.arch == "resnet1d" and ck.config["in_leads"] == 1 and ck.config["n_samples"] == 256
    assert ck.config["n_classes"] == 3


def test_evaluate_reports_the_paper_columns(trained: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    ds, run = trained
    assert main(["evaluate", str(run / "best.pt"), "--data", str(ds), "--split", "test", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for col in ("accuracy", "macro_P", "macro_R", "macro_F1", "confusion", *CLASSES):
        assert col in out
    res = json.loads((tmp_path / "eval_test.json").read_text())
    X, y = make_dataset(tmp_path / "again").split("test")
    expect = classification_metrics(y, predict(model_from_checkpoint(load_checkpoint(run / "best.pt")), X).argmax(1), CLASSES)
    for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "confusion"):
        assert res[k] == expect[k]
    assert (tmp_path / "eval_test_confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_refuses_other_class_count(trained: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _, run = trained
    make_dataset(tmp_path / "ds4", classes=["A", "B", "C"])
    four = PreparedManifest(task="four", classes=["a", "b", "c", "d"], fs=64.0, n_samples=256, leads=["I"])
    save_prepared(tmp_path / "ds5", four, {s: make_split(8, 1, i) for i, s in enumerate(("train", "val", "test"))})
    assert main(["evaluate", str(run / "best.pt"), "--data", str(tmp_path / "ds5")]) == 2
    assert "trained for 3 classes" in _err(capsys)
    assert main(["evaluate", str(run / "best.pt"), "--data", str(tmp_path / "ds4")]) == 2
    assert "['A', 'B', 'C']" in _err(capsys)


def test_evaluate_refuses_other_leads_and_length(trained: tuple[Path, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _, run = trained
    make_dataset(tmp_path / "two", leads=2)
    assert main(["evaluate", str(run / "best.pt"), "--data", str(tmp_path / "two")]) == 2
    assert "expects 1 leads ['I'] but dataset" in _err(capsys)
    make_dataset(tmp_path / "long", n_samples=512)
    assert main(["evaluate", str(run / "best.pt"), "--data", str(tmp_path / "long")]) == 2
    assert "256 samples but dataset" in _err(capsys)


def test_evaluate_refuses_other_architecture(trained: tuple[Path, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    ds, run = trained
    ck = load_checkpoint(run / "best.pt")
    ck.arch = "lstm"
    save_checkpoint(tmp_path / "lstm.pt", ck)
    assert main(["evaluate", str(tmp_path / "lstm.pt"), "--data", str(ds)]) == 2
    assert "unknown architecture 'lstm'" in _err(capsys)
    ck = load_checkpoint(run / "best.pt")
    ck.config = {**ck.config, "widths": [8, 8, 8, 8, 8]}  # weights from another shape
    save_checkpoint(tmp_path / "shape.pt", ck)
    assert main(["evaluate", str(tmp_path / "shape.pt"), "--data", str(ds)]) == 2
    assert "cannot rebuild its resnet1d model" in _err(capsys)
    ck.config = {**ck.config, "widths": [8, 8]}  # an invalid config
    save_checkpoint(tmp_path / "bad.pt", ck)
    assert main(["evaluate", str(tmp_path / "bad.pt"), "--data", str(ds)]) == 2
    assert "widths (2) and strides (5)" in _err(capsys)


def test_evaluate_model_bin_delegates(trained: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    ds, _ = trained
    calls = []

    def fake(path, dataset_dir, split="test", runtime="numpy"):
        calls.append((Path(path), Path(dataset_dir), split, runtime))
        return classification_metrics(np.array([0, 1, 2]), np.array([0, 1, 1]), CLASSES)

    mod = types.ModuleType("ecg_edge.report.shipped")
    mod.evaluate_model_bin = fake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ecg_edge.report.shipped", mod)
    assert main(["evaluate", str(tmp_path / "model.bin"), "--data", str(ds), "--runtime", "c"]) == 0
    assert calls == [(tmp_path / "model.bin", ds, "test", "c")]
    assert (tmp_path / "eval_test_bin_c.json").is_file()
    assert "macro_F1" in capsys.readouterr().out


def test_train_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    man = PreparedManifest(task="t", classes=CLASSES, fs=64.0, n_samples=256, leads=["I"])
    empty = (np.zeros((0, 1, 256), np.float32), np.zeros(0, np.int64), np.zeros(0, str))
    save_prepared(tmp_path / "empty", man, {"train": empty, "val": make_split(6, 1, 1), "test": make_split(6, 1, 2)})
    assert main(["train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "split 'train' is empty" in _err(capsys)
    X, y, g = make_split(12, 1, 0)
    X[:] = np.inf
    from ecg_edge.errors import DataError

    with pytest.raises(DataError, match="NaN/inf sample values"):  # such a dataset is never written
        save_prepared(tmp_path / "inf", man, {"train": (X, y, g), "val": make_split(6, 1, 1), "test": make_split(6, 1, 2)})
    save_prepared(tmp_path / "inf", man, {"train": make_split(12, 1, 0), "val": make_split(6, 1, 1),
                                          "test": make_split(6, 1, 2)})
    np.save(tmp_path / "inf" / "X_train.npy", X)  # damaged afterwards (checksum) ...
    assert main(["train", "--data", str(tmp_path / "inf"), "--out", str(tmp_path / "o"), "--threads", "1"]) == 2
    assert "checksum mismatch" in _err(capsys)
    mp = tmp_path / "inf" / "manifest.json"
    mp.write_text(json.dumps({**json.loads(mp.read_text()), "checksums": {}}))  # ... or without checksums
    assert main(["train", "--data", str(tmp_path / "inf"), "--out", str(tmp_path / "o"), "--threads", "1"]) == 2
    assert "NaN/inf sample values" in _err(capsys)
    assert not (tmp_path / "o" / "last.pt").exists()
    save_prepared(tmp_path / "ok", man, {"train": make_split(12, 1, 0), "val": make_split(6, 1, 1),
                                         "test": make_split(6, 1, 2)})
    assert main(["train", "--data", str(tmp_path / "ok"), "--out", str(tmp_path / "o"), "--resume"]) == 2
    assert "nothing to resume" in _err(capsys)
    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "not a folder" in _err(capsys)
    assert main(["train", "--data", str(tmp_path / "ok"), "--size", "base", "--out", str(tmp_path / "o")]) == 2
    assert "--size applies to hubert_ecg" in _err(capsys)


def test_evaluate_runtime_option_needs_model_bin(trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    ds, run = trained
    assert main(["evaluate", str(run / "best.pt"), "--data", str(ds), "--runtime", "c"]) == 2
    assert "applies to a model.bin" in _err(capsys)


def test_train_hubert_then_refuse_resume_as_resnet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_dataset(tmp_path / "ds", sizes=(12, 6, 6))
    args = ["train", "--data", str(tmp_path / "ds"), "--epochs", "1", "--threads", "1", "--out", str(tmp_path / "h")]
    assert main([*args, "--arch", "hubert_ecg", "--size", "tiny"]) == 0
    ck = load_checkpoint(tmp_path / "h" / "best.pt")
    assert ck.arch == "hubert_ecg" and ck.config["size"] == "tiny" and ck.config["n_classes"] == 3
    assert ck.extra["train_config"]["lr"] is None and ck.extra["train_config"]["arch"] == "hubert_ecg"
    capsys.readouterr()
    assert main([*args, "--arch", "resnet1d", "--epochs", "2", "--resume"]) == 2
    assert "was trained as 'hubert_ecg', cannot resume it as 'resnet1d'" in _err(capsys)


def test_init_from_checkpoint_keeps_new_head_fresh(trained: tuple[Path, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _, run = trained
    four = PreparedManifest(task="four", classes=["a", "b", "c", "d"], fs=64.0, n_samples=256, leads=["I"])
    save_prepared(tmp_path / "ds4", four, {s: make_split(8, 1, i) for i, s in enumerate(("train", "val", "test"))})
    args = ["train", "--data", str(tmp_path / "ds4"), "--epochs", "1", "--threads", "1", "--out", str(tmp_path / "ft")]
    assert main([*args, "--init-from", str(run / "best.pt")]) == 0
    err = capsys.readouterr().err
    assert "tensors loaded, 2 kept fresh (head.fc.bias, head.fc.weight)" in err
    assert load_checkpoint(tmp_path / "ft" / "best.pt").config["n_classes"] == 4
    assert main([*args, "--init-from", str(run / "best.pt")]) == 2  # a second run into one --out
    assert "holds a training run" in _err(capsys)
    args.append("--force")
    assert main([*args, "--arch", "hubert_ecg", "--init-from", str(run / "best.pt")]) == 2
    assert "holds a resnet1d model, cannot initialise --arch hubert_ecg" in _err(capsys)
    assert main([*args, "--init-from", str(tmp_path)]) == 2
    assert "initialises --arch hubert_ecg" in _err(capsys)


def test_init_from_hubert_checkpoint_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from ecg_edge.models.hubert_checkpoint import save_hubert_ecg_dir
    from ecg_edge.models.hubert_ecg import HubertECG, HubertECGConfig

    cfg = HubertECGConfig(in_leads=1, n_samples=256, fs=64.0, n_classes=3, size="tiny")
    torch.manual_seed(0)
    src = HubertECG(cfg)
    save_hubert_ecg_dir(tmp_path / "enc", cfg, src.hubert.state_dict(), [10])
    make_dataset(tmp_path / "ds", sizes=(12, 6, 6))
    assert main(["train", "--data", str(tmp_path / "ds"), "--arch", "hubert_ecg", "--init-from", str(tmp_path / "enc"),
                 "--epochs", "1", "--threads", "1", "--out", str(tmp_path / "ft")]) == 0
    assert "HuBERT-ECG checkpoint" in capsys.readouterr().err
    ck = load_checkpoint(tmp_path / "ft" / "best.pt")
    assert ck.arch == "hubert_ecg" and ck.config["size"] == "tiny"


def test_second_training_into_one_out_is_refused_and_force_keeps_the_old_run(
        trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    ds, run = trained
    out = tmp_path / "run"
    shutil.copytree(run, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    args = ["train", "--data", str(ds), "--epochs", "1", "--threads", "1", "--out", str(out)]
    assert main(args) == 2
    assert "holds a training run" in _err(capsys)
    assert main([*args, "--force", "--resume"]) == 2
    assert "give one of them" in _err(capsys)
    import ecg_edge.train.loop as loop

    def dies(*a, **k):
        raise OSError(28, "No space left on device", str(out / "last.pt"))

    monkeypatch.setattr(loop, "fit", dies)
    assert main([*args, "--force"]) == 2
    assert "no space left" in _err(capsys)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # the old run, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    monkeypatch.undo()
    assert main([*args, "--force"]) == 0
    assert load_checkpoint(out / "best.pt").extra["train_config"]["epochs"] == 1


def test_checkpoint_dataset_path_is_absolute(trained: tuple[Path, Path]) -> None:
    _, run = trained
    assert Path(load_checkpoint(run / "best.pt").data["dataset_dir"]).is_absolute()


def test_evaluate_reference_prints_paired_delta_with_ci(trained: tuple[Path, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    ds, run = trained
    assert main(["evaluate", str(run / "best.pt"), "--data", str(ds), "--reference", str(run / "last.pt"),
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "macro-F1" in out and "95% CI" in out and "paired bootstrap over" in out
    res = json.loads((tmp_path / "eval_test.json").read_text())
    best = json.loads((run / "eval_test.json").read_text())
    assert res["predictions"] == best["predictions"] and len(res["labels"]) == 18
    vs = res["vs_reference"]
    assert vs["n"] == 18 and vs["n_groups"] == 5  # the tiny test split has 5 records of <= 4 windows
    lo, hi = vs["macro_f1"]["delta_ci95"]
    assert lo <= vs["macro_f1"]["delta"] <= hi
    # a model against itself: zero difference, zero-width interval
    assert main(["evaluate", str(run / "best.pt"), "--data", str(ds), "--reference", str(run / "best.pt"),
                 "--out", str(tmp_path)]) == 0
    vs = json.loads((tmp_path / "eval_test.json").read_text())["vs_reference"]
    assert vs["accuracy"]["delta_ci95"] == [0.0, 0.0] and vs["macro_f1"]["delta_ci95"] == [0.0, 0.0]


def test_compare_over_runs_matches_the_single_pair_and_writes_its_files(trained: tuple[Path, Path], tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    ds, run = trained
    assert main(["evaluate", str(run / "best.pt"), "--data", str(ds), "--reference", str(run / "last.pt"),
                 "--out", str(tmp_path / "one")]) == 0
    pair = json.loads((tmp_path / "one" / "eval_test.json").read_text())["vs_reference"]
    assert main(["compare", str(run / "best.pt"), "--reference", str(run / "last.pt"), "--data", str(ds),
                 "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "redrawing runs too" in out and "macro-F1: reference" in out
    for name in ("compare.json", "compare.txt", "compare.png"):
        assert (tmp_path / "cmp" / name).is_file(), name
    res = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert res["runs_reference"] == 1 and res["runs_new"] == 1 and res["n_groups"] == 5
    # one run a side is the paired bootstrap of `evaluate --reference`, resample for resample
    assert res["macro_f1"]["delta"] == pytest.approx(pair["macro_f1"]["delta"])
    assert res["macro_f1"]["delta_ci95_patients"] == pytest.approx(pair["macro_f1"]["delta_ci95"])
    assert res["macro_f1"]["delta_ci95_runs_and_patients"] == pytest.approx(pair["macro_f1"]["delta_ci95"])


def test_compare_refuses_a_model_on_both_sides(trained: tuple[Path, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    ds, run = trained
    assert main(["compare", str(run / "best.pt"), "--reference", str(run / "best.pt"), "--data", str(ds),
                 "--out", str(tmp_path / "cmp")]) == 2
    assert "given both as a checkpoint and as --reference" in _err(capsys)
    assert not (tmp_path / "cmp").exists()


def test_empty_test_split_is_refused_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    man = PreparedManifest(task="t", classes=list(CLASSES), fs=64.0, n_samples=256, leads=["I"])
    empty = (np.zeros((0, 1, 256), np.float32), np.zeros(0, np.int64), np.zeros(0, str))
    splits = {"train": make_split(12, 1, 1), "val": make_split(6, 1, 2), "test": empty}
    save_prepared(tmp_path / "ds", man, splits)
    assert main(["train", "--data", str(tmp_path / "ds"), "--epochs", "1", "--out", str(tmp_path / "run")]) == 2
    assert "split 'test' is empty" in _err(capsys)
    assert not (tmp_path / "run").exists()


def test_resume_detects_a_corrupted_last_pt(trained: tuple[Path, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from ecg_edge.checkpoint import load_checkpoint as load

    ds, run = trained
    out = tmp_path / "run"
    shutil.copytree(run, out)
    ck = load(out / "last.pt")
    w = max(ck.state_dict.values(), key=lambda t: t.numel()).contiguous().numpy().tobytes()
    raw = bytearray((out / "last.pt").read_bytes())
    raw[bytes(raw).index(w[:32]) + 5] ^= 0x10
    (out / "last.pt").write_bytes(bytes(raw))
    assert main(["train", "--data", str(ds), "--epochs", "3", "--threads", "1", "--resume", "--out", str(out)]) == 2
    assert "last.pt: checksum mismatch" in _err(capsys)


def test_hubert_set_parses_config_fields() -> None:
    from ecg_edge.errors import EcgEdgeError
    from ecg_edge.train.cli import parse_hubert_set

    assert parse_hubert_set(("window_s=10.24", "conv_stride=[4,2,2,2,1]")) == {
        "window_s": 10.24, "conv_stride": [4, 2, 2, 2, 1]}
    for bad in ("n_classes=3", "window_s", "target_fs=fast"):
        with pytest.raises(EcgEdgeError, match="--hubert-set"):
            parse_hubert_set((bad,))
