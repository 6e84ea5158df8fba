"""The training loop: determinism, resume equivalence, early stopping, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.data.prepared import PreparedManifest, save_prepared
from ecg_edge.errors import DataError, EcgEdgeError
from ecg_edge.models.predict import predict
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.train.loop import TrainConfig, class_weights_for, fit
from tests.tinydata import CLASSES, make_dataset, make_split
from tests.train.tinydata import tiny_model

CFG = TrainConfig(epochs=2, batch_size=16, seed=3, num_threads=1)


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory):
    return make_dataset(tmp_path_factory.mktemp("tiny") / "ds")


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _history(out: Path) -> list[dict]:
    h = json.loads((out / "history.json").read_text())["epochs"]
    return [{k: v for k, v in e.items() if k not in ("seconds", "cpu_seconds")} for e in h]


def test_fit_writes_artifacts_and_learns(ds, tmp_path: Path) -> None:
    ck = fit(tiny_model(), ds, TrainConfig(epochs=6, batch_size=16, num_threads=1, lr=1e-2), tmp_path, log=None)
    for name in ("best.pt", "last.pt", "history.json", "curve.png"):
        assert (tmp_path / name).is_file(), name
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = load_checkpoint(tmp_path / "best.pt")
    assert best.arch == "resnet1d" and best.classes == CLASSES
    assert best.data["n_samples"] == 256 and best.data["leads"] == ["I"]
    assert _same_weights(best.state_dict, ck.state_dict)
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist["best_epoch"] == best.extra["epoch"] == ck.metrics["epoch"]
    assert max(e["val_macro_f1"] for e in hist["epochs"]) == pytest.approx(hist["best_val_macro_f1"])
    # the three sine frequencies are easy: a few epochs beat chance (1/3) clearly
    assert ck.metrics["val"]["accuracy"] > 0.6
    # the best checkpoint's stored metrics are what the weights really score on val
    X, y = ds.split("val")
    acc = float((predict(model_from_checkpoint(best), X).argmax(1) == y).mean())
    assert acc == pytest.approx(ck.metrics["val"]["accuracy"])


def test_fit_is_deterministic(ds, tmp_path: Path) -> None:
    a = fit(tiny_model(seed=1), ds, CFG, tmp_path / "a", log=None)
    b = fit(tiny_model(seed=1), ds, CFG, tmp_path / "b", log=None)
    assert _same_weights(a.state_dict, b.state_dict)
    assert _same_weights(load_checkpoint(tmp_path / "a/last.pt").state_dict,
                         load_checkpoint(tmp_path / "b/last.pt").state_dict)
    assert _history(tmp_path / "a") == _history(tmp_path / "b")


def test_other_seed_differs(ds, tmp_path: Path) -> None:
    a = fit(tiny_model(seed=1), ds, CFG, tmp_path / "a", log=None)
    b = fit(tiny_model(seed=1), ds, TrainConfig(epochs=2, batch_size=16, seed=4, num_threads=1), tmp_path / "b", log=None)
    assert not _same_weights(load_checkpoint(tmp_path / "a/last.pt").state_dict,
                             load_checkpoint(tmp_path / "b/last.pt").state_dict)
    assert a.arch == b.arch


class _Interrupt(Exception):
    pass


def _interrupt_after(n: int):
    def cb(epoch: int, record: dict) -> None:
        if epoch == n:
            raise _Interrupt
    return cb


def test_resume_after_interruption_gives_identical_result(ds, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=3, batch_size=16, seed=5, num_threads=1, class_weights=True)
    fit(tiny_model(seed=2), ds, cfg, tmp_path / "straight", log=None)
    with pytest.raises(_Interrupt):
        fit(tiny_model(seed=2), ds, cfg, tmp_path / "resumed", on_epoch_end=_interrupt_after(1), log=None)
    assert load_checkpoint(tmp_path / "resumed/last.pt").extra["trainer"]["epoch"] == 1
    # a different initialisation proves the weights come from last.pt
    fit(tiny_model(seed=99), ds, cfg, tmp_path / "resumed", resume=True, log=None)
    s = load_checkpoint(tmp_path / "straight/last.pt")
    r = load_checkpoint(tmp_path / "resumed/last.pt")
    assert _same_weights(s.state_dict, r.state_dict)
    assert _same_weights(load_checkpoint(tmp_path / "straight/best.pt").state_dict,
                         load_checkpoint(tmp_path / "resumed/best.pt").state_dict)
    so, ro = s.extra["trainer"]["optimizer"], r.extra["trainer"]["optimizer"]
    assert all(torch.equal(so["state"][k]["exp_avg"], ro["state"][k]["exp_avg"]) for k in so["state"])
    assert _history(tmp_path / "straight") == _history(tmp_path / "resumed")


def test_resume_can_extend_epochs(ds, tmp_path: Path) -> None:
    fit(tiny_model(), ds, CFG, tmp_path / "two", log=None)
    fit(tiny_model(), ds, TrainConfig(epochs=1, batch_size=16, seed=3, num_threads=1), tmp_path / "ext", log=None)
    fit(tiny_model(), ds, CFG, tmp_path / "ext", resume=True, log=None)
    assert _same_weights(load_checkpoint(tmp_path / "two/last.pt").state_dict,
                         load_checkpoint(tmp_path / "ext/last.pt").state_dict)


def test_resume_refuses_changed_options_and_missing_state(ds, tmp_path: Path) -> None:
    with pytest.raises(EcgEdgeError, match="nothing to resume"):
        fit(tiny_model(), ds, CFG, tmp_path / "none", resume=True, log=None)
    fit(tiny_model(), ds, TrainConfig(epochs=1, batch_size=16, seed=3, num_threads=1), tmp_path / "r", log=None)
    with pytest.raises(EcgEdgeError, match=r"changed training options lr"):
        fit(tiny_model(), ds, TrainConfig(epochs=2, batch_size=16, seed=3, num_threads=1, lr=5e-3),
            tmp_path / "r", resume=True, log=None)
    with pytest.raises(EcgEdgeError, match="resume with --threads 1"):
        fit(tiny_model(), ds, TrainConfig(epochs=2, batch_size=16, seed=3, num_threads=2),
            tmp_path / "r", resume=True, log=None)
    with pytest.raises(EcgEdgeError, match="model config differs in head"):
        fit(tiny_model(head="flatten"), ds, CFG, tmp_path / "r", resume=True, log=None)


def test_early_stopping(ds, tmp_path: Path) -> None:
    # min_delta > 1 makes any later epoch "no better": training stops after 1 + patience epochs
    cfg = TrainConfig(epochs=10, batch_size=16, num_threads=1, patience=2, min_delta=1.5)
    ck = fit(tiny_model(), ds, cfg, tmp_path, log=None)
    trainer = load_checkpoint(tmp_path / "last.pt").extra["trainer"]
    assert trainer["stopped"] == "early_stopping"
    assert trainer["epoch"] == 3 and len(trainer["history"]) == 3
    assert ck.metrics["epoch"] == 1
    # resuming a finished run trains nothing and returns the best checkpoint
    before = (tmp_path / "last.pt").read_bytes()
    again = fit(tiny_model(seed=7), ds, cfg, tmp_path, resume=True, log=None)
    assert _same_weights(again.state_dict, ck.state_dict)
    assert (tmp_path / "last.pt").read_bytes() == before


def test_nan_loss_is_a_clear_error_and_keeps_last_checkpoint(ds, tmp_path: Path) -> None:
    model = tiny_model()

    def poison(epoch: int, record: dict) -> None:
        with torch.no_grad():
            model.head.fc.weight.fill_(float("nan"))

    with pytest.raises(EcgEdgeError, match="not finite"):
        fit(model, ds, TrainConfig(epochs=3, batch_size=16, num_threads=1), tmp_path, on_epoch_end=poison, log=None)
    last = load_checkpoint(tmp_path / "last.pt")  # epoch 1's, intact and finite
    assert last.extra["trainer"]["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in last.state_dict.values() if v.is_floating_point())
    assert not list(tmp_path.glob(".*.tmp"))


def test_nan_in_data(tmp_path: Path) -> None:
    X, y, g = make_split(12, 1, 0)
    X[3, 0, 10] = np.nan
    man = PreparedManifest(task="t", classes=CLASSES, fs=64.0, n_samples=256, leads=["I"])
    with pytest.raises(EcgEdgeError, match="NaN/inf"):  # such a dataset is never written
        save_prepared(tmp_path / "ds", man, {"train": (X, y, g), "val": make_split(6, 1, 1), "test": make_split(6, 1, 2)})
    ds = save_prepared(tmp_path / "ds", man, {"train": make_split(12, 1, 0), "val": make_split(6, 1, 1),
                                              "test": make_split(6, 1, 2)})
    np.save(tmp_path / "ds" / "X_train.npy", X)  # damaged after writing, and its checksum dropped
    ds.manifest.checksums.pop("X_train.npy")
    with pytest.raises(EcgEdgeError, match="NaN/inf"):
        fit(tiny_model(), ds, TrainConfig(epochs=1, batch_size=16, num_threads=1), tmp_path / "out", log=None)
    assert not (tmp_path / "out" / "last.pt").exists()


def test_empty_split_is_a_clear_error(tmp_path: Path) -> None:
    man = PreparedManifest(task="t", classes=CLASSES, fs=64.0, n_samples=256, leads=["I"])
    empty = (np.zeros((0, 1, 256), np.float32), np.zeros(0, np.int64), np.zeros(0, str))
    ds = save_prepared(tmp_path / "ds", man, {"train": make_split(9, 1, 0), "val": empty, "test": make_split(6, 1, 2)})
    with pytest.raises(DataError, match="split 'val' is empty"):
        fit(tiny_model(), ds, CFG, tmp_path / "out", log=None)


@pytest.mark.parametrize(("kw", "msg"), [
    ({"leads": 2}, r"leads=2 but dataset .* has leads=1"),
    ({"n_samples": 512}, r"samples=512 but dataset .* has samples=256"),
    ({"n_classes": 4}, r"classes=4 but dataset .* has classes=3"),
])
def test_model_dataset_mismatch_names_both(ds, tmp_path: Path, kw: dict, msg: str) -> None:
    with pytest.raises(EcgEdgeError, match=msg):
        fit(tiny_model(**kw), ds, CFG, tmp_path, log=None)


def test_labels_out_of_range(tmp_path: Path) -> None:
    X, y, g = make_split(9, 1, 0)
    y[0] = 7
    man = PreparedManifest(task="t", classes=CLASSES, fs=64.0, n_samples=256, leads=["I"])
    ds = save_prepared(tmp_path / "ds", man, {"train": (X, y, g), "val": make_split(6, 1, 1), "test": make_split(6, 1, 2)})
    with pytest.raises(DataError, match="label 7 outside 0..2"):
        fit(tiny_model(), ds, CFG, tmp_path / "out", log=None)


def test_class_weights() -> None:
    w = class_weights_for(np.array([0, 0, 0, 1]), 3)
    assert w.tolist() == pytest.approx([4 / 9, 4 / 3, 1.0])


def test_predict_batches_agree(ds) -> None:
    X, _ = ds.split("test")
    m = tiny_model()
    full = predict(m, X, batch_size=1000)
    assert full.shape == (len(X), 3) and full.dtype == np.float32
    np.testing.assert_allclose(predict(m, X, batch_size=5), full, rtol=1e-5, atol=1e-6)
    assert m.training  # predict restores the mode it found


def test_default_lr_by_arch() -> None:
    assert TrainConfig(arch="resnet1d").learning_rate == 1e-3
    assert TrainConfig(arch="hubert_ecg").learning_rate == 1e-3
    assert TrainConfig(arch="hubert_ecg", lr=3e-4).learning_rate == 3e-4
    with pytest.raises(EcgEdgeError, match="epochs=0"):
        TrainConfig(epochs=0)


def test_checkpoint_records_data_contract(tmp_path: Path) -> None:
    pre = {"fs": 64.0, "n_samples": 256, "band": [0.5, 20.0], "normalise": "zscore"}
    man = PreparedManifest(task="t", classes=CLASSES, fs=64.0, n_samples=256, leads=["II"], provenance={"preprocess": pre})
    ds = save_prepared(tmp_path / "ds", man, {s: make_split(9, 1, i) for i, s in enumerate(("train", "val", "test"))})
    ck = fit(tiny_model(), ds, TrainConfig(epochs=1, batch_size=16, num_threads=1), tmp_path / "o", log=None)
    assert ck.data == {"task": "t", "fs": 64.0, "leads": ["II"], "n_samples": 256, "dataset_dir": str(ds.root),
                       "preprocessing": pre}
