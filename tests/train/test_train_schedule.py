"""LR schedules (warmup + cosine/linear per step), AdamW, label smoothing and the weight moving
average (EMA) in the training loop."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from ecg_edge.checkpoint import load_checkpoint, save_checkpoint
from ecg_edge.errors import EcgEdgeError
from ecg_edge.models.predict import predict
from ecg_edge.train import distributed as ddp
from ecg_edge.train.augment import time_mask
from ecg_edge.train.loop import (
    TrainConfig,
    WeightEma,
    epoch_batches,
    fit,
    lr_factor,
    make_optimizer,
    make_scheduler,
)
from tests.tinydata import make_dataset
from tests.train.tinydata import tiny_model

COS = TrainConfig(
    epochs=3,
    batch_size=16,
    seed=5,
    num_threads=1,
    lr=1e-2,
    lr_schedule="cosine",
    warmup_epochs=1,
    optimizer="adamw",
    weight_decay=0.05,
    label_smoothing=0.1,
)


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory):
    return make_dataset(tmp_path_factory.mktemp("tiny") / "ds")


def _lrs(cfg: TrainConfig, steps_per_epoch: int) -> list[float]:
    opt = make_optimizer(torch.nn.Linear(2, 2), cfg)
    sched = make_scheduler(opt, cfg, steps_per_epoch)
    out = []
    for _ in range(cfg.epochs * steps_per_epoch):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_then_cosine_gives_the_expected_lr_sequence() -> None:
    cfg = TrainConfig(epochs=2, lr=1.0, lr_schedule="cosine", warmup_epochs=1, min_lr=0.0)
    c = math.cos(math.pi / 4)
    want = [
        0.2,
        0.4,
        0.6,
        0.8,
        1.0,  # 5 warmup steps, linear up to the base LR
        1.0,
        0.5 * (1 + c),
        0.5,
        0.5 * (1 - c),
        0.0,
    ]  # cosine down to min_lr at the last step
    assert _lrs(cfg, 5) == pytest.approx(want, abs=1e-12)


def test_linear_decay_floor_and_constant() -> None:
    lin = TrainConfig(epochs=1, lr=1e-2, lr_schedule="linear", warmup_epochs=0, min_lr=1e-3)
    assert _lrs(lin, 4) == pytest.approx([1e-2, 7e-3, 4e-3, 1e-3])
    const = TrainConfig(epochs=2, lr=1e-2, lr_schedule="constant", warmup_epochs=0.5)
    assert _lrs(const, 4) == pytest.approx([5e-3, 1e-2] + [1e-2] * 6)
    assert lr_factor(0, 10, 0, "cosine") == 1.0 and lr_factor(9, 10, 0, "cosine") == pytest.approx(
        0.0
    )


def test_fit_follows_the_schedule_and_records_it(ds, tmp_path: Path) -> None:
    fit(tiny_model(seed=2), ds, COS, tmp_path, log=None)
    hist = json.loads((tmp_path / "history.json").read_text())
    steps = len(epoch_batches(len(ds.split("train")[1]), COS, 0, ddp.current()))
    assert steps > 1
    want = _lrs(COS, steps)
    assert [e["lr"] for e in hist["epochs"]] == pytest.approx(
        want[::steps]
    )  # each epoch's first step
    trainer = load_checkpoint(tmp_path / "last.pt").extra["trainer"]
    assert trainer["scheduler"]["last_epoch"] == COS.epochs * steps
    assert trainer["train_config"]["lr_schedule"] == "cosine"
    assert isinstance(make_optimizer(tiny_model(), COS), torch.optim.AdamW)


class _Interrupt(Exception):
    pass


def _stop_after(n: int):
    def cb(epoch: int, record: dict) -> None:
        if epoch == n:
            raise _Interrupt

    return cb


def _straight_and_resumed(ds, cfg: TrainConfig, tmp_path: Path, stop: int):
    """last.pt of an uninterrupted run and of one stopped after `stop` epochs then resumed
    (from another initialisation, so the resumed weights can only come from last.pt)."""
    fit(tiny_model(seed=2), ds, cfg, tmp_path / "straight", log=None)
    with pytest.raises(_Interrupt):
        fit(
            tiny_model(seed=2),
            ds,
            cfg,
            tmp_path / "resumed",
            on_epoch_end=_stop_after(stop),
            log=None,
        )
    fit(tiny_model(seed=99), ds, cfg, tmp_path / "resumed", resume=True, log=None)
    return tuple(load_checkpoint(tmp_path / d / "last.pt") for d in ("straight", "resumed"))


def test_resume_keeps_the_schedule(ds, tmp_path: Path) -> None:
    s, r = _straight_and_resumed(ds, COS, tmp_path, 1)
    assert s.state_dict.keys() == r.state_dict.keys()
    assert all(torch.equal(s.state_dict[k], r.state_dict[k]) for k in s.state_dict)
    assert s.extra["trainer"]["scheduler"] == r.extra["trainer"]["scheduler"]
    hs, hr = (
        json.loads((tmp_path / d / "history.json").read_text())["epochs"]
        for d in ("straight", "resumed")
    )
    assert [(e["lr"], e["train_loss"]) for e in hs] == [(e["lr"], e["train_loss"]) for e in hr]


def test_resume_refuses_more_epochs_under_a_decay_schedule(ds, tmp_path: Path) -> None:
    fit(tiny_model(), ds, dataclasses.replace(COS, epochs=2), tmp_path, log=None)
    with pytest.raises(EcgEdgeError, match=r"epochs \(2 -> 3\)"):
        fit(tiny_model(), ds, COS, tmp_path, resume=True, log=None)


def test_a_run_saved_before_the_schedule_options_resumes(ds, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=2, batch_size=16, seed=3, num_threads=1)
    with pytest.raises(_Interrupt):
        fit(tiny_model(), ds, cfg, tmp_path, on_epoch_end=_stop_after(1), log=None)
    last = load_checkpoint(tmp_path / "last.pt")
    for k in ("lr_schedule", "warmup_epochs", "optimizer", "label_smoothing"):
        del last.extra["trainer"]["train_config"][k]
    save_checkpoint(tmp_path / "last.pt", last)
    fit(tiny_model(), ds, cfg, tmp_path, resume=True, log=None)
    assert load_checkpoint(tmp_path / "last.pt").extra["trainer"]["epoch"] == 2


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"lr_schedule": "step"}, "lr_schedule='step'"),
        ({"optimizer": "sgd"}, "optimizer='sgd'"),
        ({"lr_schedule": "cosine", "warmup_epochs": 5, "epochs": 3}, "warmup_epochs=5"),
        ({"warmup_epochs": 1}, "not lr_schedule='plateau'"),
        ({"label_smoothing": 1.0}, "label_smoothing=1.0"),
        ({"time_mask_spans": -1}, "time_mask_spans=-1"),
        ({"ema_decay": 1.0}, "ema_decay=1.0"),
    ],
)
def test_bad_schedule_options_are_named(kw: dict, msg: str) -> None:
    with pytest.raises(EcgEdgeError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**kw)


def test_time_mask_zeroes_whole_spans_on_every_lead() -> None:
    x = torch.ones(4, 2, 100)
    y = time_mask(x, torch.Generator().manual_seed(0), 2, 10)
    zero = y == 0
    assert torch.equal(zero[:, 0], zero[:, 1])  # the same stretch on every lead
    n = zero[:, 0].sum(dim=1)
    assert ((n >= 10) & (n <= 20)).all()  # two spans of 10, possibly overlapping
    assert torch.equal(x, torch.ones(4, 2, 100))  # the input is left alone
    again = time_mask(x, torch.Generator().manual_seed(0), 2, 10)
    assert torch.equal(y, again)
    assert time_mask(x, torch.Generator().manual_seed(0), 0, 10) is x


def test_fit_with_time_mask_resumes_identically(ds, tmp_path: Path) -> None:
    cfg = dataclasses.replace(COS, time_mask_spans=2, time_mask_s=0.05)
    s, r = _straight_and_resumed(ds, cfg, tmp_path, 2)
    assert all(torch.equal(s.state_dict[k], r.state_dict[k]) for k in s.state_dict)
    unmasked = load_checkpoint(tmp_path / "straight/last.pt").extra["trainer"]["history"]
    fit(tiny_model(seed=2), ds, COS, tmp_path / "plain", log=None)
    plain = load_checkpoint(tmp_path / "plain/last.pt").extra["trainer"]["history"]
    assert [e["train_loss"] for e in unmasked] != [
        e["train_loss"] for e in plain
    ]  # the mask took effect


def test_arch_defaults_fill_only_the_options_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from ecg_edge.train import loop
    from ecg_edge.train.cli import train_options

    none = dict.fromkeys(("epochs", "patience", "weight_decay", "lr_schedule", "warmup_epochs"))
    rn = TrainConfig(arch="resnet1d", **train_options("resnet1d", none))
    assert (rn.epochs, rn.patience, rn.lr_schedule, rn.optimizer, rn.weight_decay) == (
        20,
        6,
        "plateau",
        "adam",
        1e-3,
    )
    assert (rn.warmup_epochs, rn.label_smoothing, rn.time_mask_spans) == (0.0, 0.0, 0)
    monkeypatch.setitem(
        loop.ARCH_TRAIN_DEFAULTS,
        "toy",
        {"lr_schedule": "cosine", "warmup_fraction": 0.1, "epochs": 40, "time_mask_spans": 3},
    )
    assert train_options("toy", none) == {
        "lr_schedule": "cosine",
        "epochs": 40,
        "time_mask_spans": 3,
        "patience": 6,
        "warmup_epochs": 4.0,
    }
    assert (
        train_options("toy", none | {"epochs": 10})["warmup_epochs"] == 1.0
    )  # the fraction follows --epochs
    assert train_options("toy", none | {"warmup_epochs": 0.0})["warmup_epochs"] == 0.0  # given wins
    assert "warmup_epochs" not in train_options("toy", none | {"lr_schedule": "plateau"})


def test_hubert_default_recipe() -> None:
    from ecg_edge.train.cli import train_options

    none = dict.fromkeys(("epochs", "patience", "lr_schedule", "warmup_epochs", "time_mask_spans"))
    cfg = TrainConfig(arch="hubert_ecg", **train_options("hubert_ecg", none))
    assert (cfg.lr_schedule, cfg.warmup_epochs, cfg.epochs, cfg.patience) == ("cosine", 3.0, 40, 40)
    assert (cfg.time_mask_spans, cfg.time_mask_s, cfg.learning_rate, cfg.optimizer) == (
        6,
        0.4,
        1e-3,
        "adam",
    )
    assert cfg.augment and cfg.ema_decay == 0.0
    assert not TrainConfig(arch="hubert_ecg", **train_options("hubert_ecg", none | {"augment": False})).augment
    assert not TrainConfig(arch="resnet1d", **train_options("resnet1d", none | {"augment": None})).augment


def test_weight_ema_averages_floats_and_copies_counters() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = WeightEma(net, 0.75)
    w0 = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(4.0)
        net[1].num_batches_tracked.fill_(7)
    ema.update(net)
    assert torch.allclose(ema.model[0].weight, 0.75 * w0 + 0.25 * (w0 + 4.0))
    assert int(ema.model[1].num_batches_tracked) == 7
    assert not any(p.requires_grad for p in ema.model.parameters())
    assert not torch.equal(ema.model[0].weight, net[0].weight)  # a copy, not the live model


EMA = dataclasses.replace(COS, ema_decay=0.9)


def test_fit_validates_and_keeps_the_moving_average(ds, tmp_path: Path) -> None:
    fit(tiny_model(seed=2), ds, EMA, tmp_path, log=None)
    last = load_checkpoint(tmp_path / "last.pt")
    trainer = last.extra["trainer"]
    avg = trainer["ema"]
    assert any(not torch.equal(avg[k], last.state_dict[k]) for k in avg)  # the average is not the live weights
    X_va, y_va = ds.split("val")
    crit = torch.nn.CrossEntropyLoss(label_smoothing=EMA.label_smoothing)

    def val_loss(state: dict) -> float:
        m = tiny_model()
        m.load_state_dict(state)
        return float(crit(torch.from_numpy(predict(m, X_va, EMA.eval_batch_size)), torch.from_numpy(y_va)))

    torch.set_num_threads(1)
    assert trainer["history"][-1]["val_loss"] == val_loss(avg)  # validation scored the average
    assert trainer["history"][-1]["val_loss"] != val_loss(last.state_dict)
    best = load_checkpoint(tmp_path / "best.pt")
    if best.extra["epoch"] == EMA.epochs:
        assert all(torch.equal(best.state_dict[k], avg[k]) for k in avg)  # best.pt holds the average
    assert "moving average" in json.loads((tmp_path / "history.json").read_text())["train_summary"]["ema"]


def test_fit_with_ema_resumes_identically(ds, tmp_path: Path) -> None:
    s, r = _straight_and_resumed(ds, EMA, tmp_path, 1)
    assert all(torch.equal(s.state_dict[k], r.state_dict[k]) for k in s.state_dict)
    es, er = s.extra["trainer"]["ema"], r.extra["trainer"]["ema"]
    assert es.keys() == er.keys() and all(torch.equal(es[k], er[k]) for k in es)


def test_resume_refuses_to_switch_the_average_on(ds, tmp_path: Path) -> None:
    with pytest.raises(_Interrupt):
        fit(tiny_model(), ds, COS, tmp_path, on_epoch_end=_stop_after(1), log=None)
    with pytest.raises(EcgEdgeError, match=r"ema_decay \(0.0 -> 0.9\)"):
        fit(tiny_model(), ds, EMA, tmp_path, resume=True, log=None)
