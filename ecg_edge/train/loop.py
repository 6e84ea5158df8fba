"""The supervised training loop shared by every architecture.

One loop for ResNet1D and HuBERT-ECG (any nn.Module mapping (N, leads, samples) float to
(N, classes) logits): Adam (or AdamW) + weight decay, an LR schedule (ReduceLROnPlateau on the
validation loss, or per-step linear warmup then cosine/linear decay), early stopping on
validation macro-F1, class-weighted and/or label-smoothed cross-entropy on request. Every epoch ends
with an atomic last.pt holding the optimizer, scheduler and RNG states, so `resume=True`
continues an interrupted run to bit-identical weights; best.pt holds the best epoch's model.
Under torchrun the same loop runs data-parallel (DDP, gloo) with rank 0 writing every file.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DistributedSampler

from ecg_edge.atomic import write_json
from ecg_edge.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ecg_edge.data.prepared import PreparedDataset
from ecg_edge.errors import DataError, EcgEdgeError
from ecg_edge.metrics import classification_metrics
from ecg_edge.models.predict import predict
from ecg_edge.progress import progress
from ecg_edge.train import distributed as ddp

DEFAULT_LR = {"resnet1d": 1e-3, "hubert_ecg": 1e-3}  # hubert: 1e-3 beat 3e-4 (NOTES.md, issue 14 item 4)
# `ecg-edge train` options whose default depends on the architecture (an option given wins)
# hubert_ecg: cosine decay after a 7.5% warmup over 40 epochs (no early stop; best.pt keeps the
# best val epoch), 6 input spans of 0.4 s masked per window, and the light ECG augmentations;
# each beat the recipe before it on validation (NOTES.md, issue 14, "Making HuBERT worth
# shipping" and "augmentation")
ARCH_TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "resnet1d": {},
    "hubert_ecg": {"lr_schedule": "cosine", "warmup_fraction": 0.075, "epochs": 40, "patience": 40,
                   "time_mask_spans": 6, "time_mask_s": 0.4, "augment": True},
}
# Fields a resumed run may change without changing the result it converges to (the effective
# thread count and the number of DDP processes are checked separately).
RESUMABLE_CHANGES = frozenset({"epochs", "num_threads", "eval_batch_size"})
_ARCH_BY_CLASS = {"ResNet1D": "resnet1d", "HubertECG": "hubert_ecg"}
BALANCE_MODES = ("auto", "sampler", "weights", "both", "none")
LR_SCHEDULES = ("plateau", "cosine", "linear", "constant")  # plateau: ReduceLROnPlateau on val loss
STEP_SCHEDULES = ("cosine", "linear", "constant")  # per optimizer step, after `warmup_epochs`
OPTIMIZERS = ("adam", "adamw")
IMBALANCE_RATIO = 2.0  # largest / smallest class count above which `auto` balances


@dataclass
class BalancePlan:
    sampler: bool
    weights: bool
    note: str


def balance_plan(y: np.ndarray, classes: list[str], cfg: TrainConfig) -> BalancePlan:
    """What counters class imbalance in this run, and the sentence that says so. `auto` uses
    class-balanced sampling alone: with class weights on top, a rare class would count 1/n_c^2."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(classes))
    present = counts[counts > 0]
    ratio = float(present.max() / present.min()) if len(present) else 1.0
    mode = cfg.balance
    if mode == "auto":
        mode = "weights" if cfg.class_weights else ("sampler" if ratio > IMBALANCE_RATIO else "none")
    elif cfg.class_weights and mode == "sampler":
        mode = "both"
    shape = ", ".join(f"{c} {int(n)}" for c, n in zip(classes, counts, strict=True))
    what = {"sampler": "class-balanced sampling", "weights": "inverse-frequency class weights",
            "both": "class-balanced sampling and inverse-frequency class weights", "none": "no balancing"}[mode]
    why = (f"training split {'imbalanced' if ratio > IMBALANCE_RATIO else 'balanced'} "
           f"(largest/smallest class {ratio:.1f}x: {shape})")
    return BalancePlan(mode in ("sampler", "both"), mode in ("weights", "both"),
                       f"class balance: {what} ({cfg.balance}; {why})")


@dataclass
class TrainConfig:
    arch: str = "resnet1d"
    lr: float | None = None  # None: DEFAULT_LR[arch]
    weight_decay: float = 1e-3
    epochs: int = 30
    batch_size: int = 64
    seed: int = 0
    num_threads: int = 0  # 0: leave torch's setting
    class_weights: bool = False  # inverse-frequency weights from the training split (= balance "weights")
    balance: str = "auto"  # auto: class-balanced sampling when the training split is imbalanced;
    #                        sampler | weights | both | none
    augment: bool = False  # light ECG augmentations (ecg_edge.train.augment)
    patience: int = 6  # early stopping: epochs without a better validation macro-F1
    min_delta: float = 1e-4
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    min_lr: float = 1e-6
    eval_batch_size: int = 256
    lr_schedule: str = "plateau"  # one of LR_SCHEDULES
    warmup_epochs: float = 0.0  # linear warmup from ~0 to lr over this many epochs (step schedules)
    optimizer: str = "adam"  # adam: L2 weight decay in the gradient; adamw: decoupled weight decay
    label_smoothing: float = 0.0
    time_mask_spans: int = 0  # input time masking (ecg_edge.train.augment.time_mask): spans per window
    time_mask_s: float = 0.4  # length of each masked span, seconds
    ema_decay: float = 0.0  # > 0: validate and keep (best.pt) an exponential moving average of the weights

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "eval_batch_size"):
            if int(getattr(self, name)) < 1:
                raise EcgEdgeError(f"training option {name}={getattr(self, name)} must be >= 1")
        if self.balance not in BALANCE_MODES:
            raise EcgEdgeError(f"training option balance={self.balance!r}: expected one of {', '.join(BALANCE_MODES)}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise EcgEdgeError(f"training option lr={self.lr} must be a positive finite number")
        if self.lr_schedule not in LR_SCHEDULES:
            raise EcgEdgeError(f"training option lr_schedule={self.lr_schedule!r}: expected one of "
                               f"{', '.join(LR_SCHEDULES)}")
        if self.optimizer not in OPTIMIZERS:
            raise EcgEdgeError(f"training option optimizer={self.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
        if not (math.isfinite(self.warmup_epochs) and 0 <= self.warmup_epochs <= self.epochs):
            raise EcgEdgeError(f"training option warmup_epochs={self.warmup_epochs} must lie in [0, epochs={self.epochs}]")
        if self.warmup_epochs > 0 and self.lr_schedule == "plateau":
            raise EcgEdgeError("training option warmup_epochs applies to the step schedules "
                               f"({', '.join(STEP_SCHEDULES)}), not lr_schedule='plateau'")
        if self.time_mask_spans < 0 or not (math.isfinite(self.time_mask_s) and self.time_mask_s > 0):
            raise EcgEdgeError(f"training options time_mask_spans={self.time_mask_spans} (>= 0) and "
                               f"time_mask_s={self.time_mask_s} (> 0) out of range")
        if not 0 <= self.label_smoothing < 1:
            raise EcgEdgeError(f"training option label_smoothing={self.label_smoothing} must lie in [0, 1)")
        if not (math.isfinite(self.ema_decay) and 0 <= self.ema_decay < 1):
            raise EcgEdgeError(f"training option ema_decay={self.ema_decay} must lie in [0, 1)")

    @property
    def learning_rate(self) -> float:
        return float(self.lr) if self.lr is not None else DEFAULT_LR.get(self.arch, 1e-3)


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str, floor: float = 0.0) -> float:
    """Multiplier of the base LR for optimizer step `step` (0-based) of a step schedule: linear
    warmup (step + 1) / warmup_steps, then cosine or linear decay from 1 to `floor` at the last
    step (constant: stays 1)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(1, total_steps - 1 - warmup_steps)
    t = min(1.0, (step - warmup_steps) / span)
    decay = 0.5 * (1.0 + math.cos(math.pi * t)) if schedule == "cosine" else 1.0 - t
    return floor + (1.0 - floor) * decay


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    """ReduceLROnPlateau (stepped once per epoch on the val loss) or a LambdaLR stepped after
    every optimizer step; either's state_dict goes into last.pt."""
    if cfg.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience, min_lr=cfg.min_lr)
    total = cfg.epochs * steps_per_epoch
    warm = int(round(cfg.warmup_epochs * steps_per_epoch))
    floor = min(1.0, cfg.min_lr / cfg.learning_rate)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: lr_factor(step, total, warm, cfg.lr_schedule, floor))


def _log_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def model_identity(model: nn.Module, arch: str | None = None,
                   config: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(arch, config dict) that rebuild `model` through the registry."""
    if arch is None:
        arch = getattr(model, "arch", None) or _ARCH_BY_CLASS.get(type(model).__name__)
    if config is None:
        raw = getattr(model, "cfg", None)
        if raw is None:
            raw = getattr(model, "config", None)
        if dataclasses.is_dataclass(raw) and not isinstance(raw, type):
            config = asdict(raw)
        elif hasattr(raw, "to_dict"):
            config = raw.to_dict()
    if not isinstance(arch, str) or config is None:
        raise EcgEdgeError(
            f"cannot tell the architecture/config of a {type(model).__name__}; pass arch= and model_config= to fit()")
    return arch, dict(config)


def check_model_fits(model: nn.Module, dataset: PreparedDataset, config: dict[str, Any],
                     X_example: np.ndarray) -> None:
    """Fail with both shapes named when the dataset cannot feed the model."""
    m = dataset.manifest
    declared = {
        "leads": next((config[k] for k in ("in_leads", "n_leads", "leads") if isinstance(config.get(k), int)), None),
        "samples": next((config[k] for k in ("n_samples", "samples", "input_samples") if isinstance(config.get(k), int)), None),
        "classes": next((config[k] for k in ("n_classes", "num_labels", "num_classes") if isinstance(config.get(k), int)), None),
    }
    have = {"leads": m.n_leads, "samples": m.n_samples, "classes": len(m.classes)}
    bad = [k for k in declared if declared[k] is not None and declared[k] != have[k]]
    if bad:
        raise EcgEdgeError(
            f"model expects {', '.join(f'{k}={declared[k]}' for k in bad)} but dataset {dataset.root} has "
            f"{', '.join(f'{k}={have[k]}' for k in bad)} (task {m.task!r}); rebuild the model for this dataset")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.from_numpy(np.array(X_example[:2], dtype=np.float32)))
    except (RuntimeError, ValueError) as exc:
        raise EcgEdgeError(
            f"model cannot take dataset {dataset.root} input of shape (leads={m.n_leads}, samples={m.n_samples}): {exc}") from exc
    finally:
        model.train(was_training)
    if out.ndim != 2 or out.shape[1] != len(m.classes):
        raise EcgEdgeError(
            f"model outputs shape {tuple(out.shape[1:])} but dataset {dataset.root} has {len(m.classes)} classes {m.classes}")


def _split(dataset: PreparedDataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    X, y = dataset.split(name)
    if len(y) == 0:
        raise DataError(f"{dataset.root}: split {name!r} is empty (0 windows); training needs train and val windows")
    n = len(dataset.classes)
    bad = y[(y < 0) | (y >= n)]
    if len(bad):
        raise DataError(f"{dataset.root}: y_{name}.npy holds label {int(bad[0])} outside 0..{n - 1} ({dataset.classes})")
    return X, y


def class_weights_for(y: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights N / (C * n_c); classes absent from training keep weight 1."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 1.0)
    return torch.tensor(w, dtype=torch.float32)


def epoch_batches(n: int, cfg: TrainConfig, epoch: int, info: ddp.DistInfo,
             y: np.ndarray | None = None) -> list[list[int]]:
    """This replica's shuffled mini-batches for one epoch; a function of (seed, epoch) only.
    With `y`: n windows drawn with replacement, each class equally likely (balanced sampling)."""
    if y is not None:
        counts = np.bincount(y)
        p = 1.0 / counts[y]
        rng = np.random.default_rng([cfg.seed, epoch])
        idx = rng.choice(n, size=n, replace=True, p=p / p.sum()).tolist()[info.rank::info.world_size]
    else:
        sampler = DistributedSampler(range(n), num_replicas=info.world_size, rank=info.rank,
                                     shuffle=True, seed=cfg.seed, drop_last=False)
        sampler.set_epoch(epoch)
        idx = list(sampler)
    out = [idx[i:i + cfg.batch_size] for i in range(0, len(idx), cfg.batch_size)]
    if len(out) > 1 and len(out[-1]) < 2:  # BatchNorm cannot train on a single window
        out[-2].extend(out.pop())
    return out


def _predict_sharded(model: nn.Module, X: np.ndarray, batch_size: int, info: ddp.DistInfo) -> np.ndarray:
    if not info.enabled:
        return predict(model, X, batch_size)
    idx = np.arange(info.rank, len(X), info.world_size)
    parts = ddp.gather_objects((idx, predict(model, X[idx], batch_size)))
    n_out = next(p[1].shape[1] for p in parts if p[1].size)
    logits = np.zeros((len(X), n_out), dtype=np.float32)
    for i, lg in parts:
        if len(i):
            logits[i] = lg
    return logits


class _Deterministic:
    """Seeded, deterministic kernels and a fixed thread count for the span of fit()."""

    def __init__(self, num_threads: int) -> None:
        self.num_threads = num_threads

    def __enter__(self) -> None:
        self.prev = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
        torch.use_deterministic_algorithms(True, warn_only=True)
        if self.num_threads > 0:
            torch.set_num_threads(self.num_threads)

    def __exit__(self, *exc: object) -> None:
        torch.use_deterministic_algorithms(self.prev[0])
        torch.set_num_threads(self.prev[1])


class WeightEma:
    """Exponential moving average of a model's state (parameters and buffers), updated after
    every optimizer step: ema = d * ema + (1 - d) * w. Why: a small transformer's weights at one
    step carry the noise of its last batches; their average generalises better. Integer buffers
    (BatchNorm's batch counter) are copied. `model` is a frozen copy that holds the average."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        live = model.state_dict()
        for k, v in self.model.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(self.decay).add_(live[k], alpha=1.0 - self.decay)
            else:
                v.copy_(live[k])


@dataclass
class _State:
    epoch: int = 0  # epochs completed
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best_f1: float = -1.0
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped: str = ""  # "" running, "early_stopping", "epochs"


def fit(model: nn.Module, dataset: PreparedDataset, cfg: TrainConfig, out_dir: str | Path,
        resume: bool = False, *, arch: str | None = None, model_config: dict[str, Any] | None = None,
        on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
        log: Callable[[str], None] | None = _log_stderr) -> Checkpoint:
    """Train `model` on `dataset` (train/val splits) and return the best-validation Checkpoint.

    Writes OUT/last.pt (every epoch, resumable), OUT/best.pt, OUT/history.json, OUT/curve.png.
    `on_epoch_end(epoch, record)` runs after each epoch's files are written (tests use it to
    interrupt a run). Under an initialised process group the model is wrapped in DDP.
    """
    info = ddp.current()
    arch, config = model_identity(model, arch, model_config)
    if cfg.arch != arch:
        cfg = dataclasses.replace(cfg, arch=arch)
    say = log if (log is not None and info.is_main) else (lambda _m: None)
    out_dir = Path(out_dir)
    X_tr_np, y_tr_np = _split(dataset, "train")
    X_va, y_va = _split(dataset, "val")
    classes = list(dataset.classes)

    with _Deterministic(cfg.num_threads):
        check_model_fits(model, dataset, config, X_tr_np)
        X_tr = torch.from_numpy(np.array(X_tr_np, dtype=np.float32))
        y_tr = torch.from_numpy(np.asarray(y_tr_np, dtype=np.int64))
        plan = balance_plan(y_tr_np, classes, cfg)
        weights = class_weights_for(y_tr_np, len(classes)) if plan.weights else None
        criterion = nn.CrossEntropyLoss(weight=weights, label_smoothing=cfg.label_smoothing)
        aug = None
        if cfg.augment:
            from ecg_edge.train.augment import Augmenter

            aug = Augmenter(float(dataset.manifest.fs), dataset.manifest.n_samples,
                            dataset.manifest.provenance.get("preprocess"), cfg.seed)
        opt = make_optimizer(model, cfg)
        ema = WeightEma(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        steps_per_epoch = len(epoch_batches(len(y_tr_np), cfg, 0, info, y_tr_np if plan.sampler else None))
        sched = make_scheduler(opt, cfg, steps_per_epoch)
        step_sched = sched if cfg.lr_schedule in STEP_SCHEDULES else None
        data_info = {
            "task": dataset.manifest.task, "fs": dataset.manifest.fs, "leads": list(dataset.manifest.leads),
            "n_samples": dataset.manifest.n_samples, "dataset_dir": str(Path(dataset.root).resolve()),
            "preprocessing": dataset.manifest.provenance.get("preprocess",
                                                             dataset.manifest.provenance.get("preprocessing", {})),
        }

        def make_ckpt(state_dict: dict[str, torch.Tensor], metrics: dict[str, Any],
                      extra: dict[str, Any]) -> Checkpoint:
            return Checkpoint(arch=arch, config=config, state_dict=state_dict, classes=classes,
                              data=data_info, metrics=metrics, extra=extra)

        st = _State()
        best_ckpt: Checkpoint | None = None
        if resume:
            st, best_ckpt = _restore(out_dir, model, opt, sched, cfg, arch, config, classes, info, ema)
            say(f"resuming {out_dir / 'last.pt'} after epoch {st.epoch} (best macro-F1 {st.best_f1:.4f} at epoch {st.best_epoch})")
        else:
            torch.manual_seed(cfg.seed + info.rank)
        if st.stopped or st.epoch >= cfg.epochs:
            if best_ckpt is None:
                raise EcgEdgeError(f"{out_dir}: run finished but best.pt is missing")
            say(f"{out_dir}: run already finished ({st.stopped or 'epochs'}); nothing to do")
            return best_ckpt

        net: nn.Module = model
        if info.enabled:
            net = nn.parallel.DistributedDataParallel(model)
        n_params = sum(p.numel() for p in model.parameters())
        say(f"training {arch} ({n_params:,} parameters) on {len(y_tr)} windows x {world_note(info)}, "
            f"{len(y_va)} val; lr {cfg.learning_rate:g} ({schedule_note(cfg)}), batch {cfg.batch_size}, "
            f"up to {cfg.epochs} epochs")
        say(plan.note)
        if aug is not None:
            say(aug.describe())
        summary = {"balance": plan.note, "augment": aug.describe() if aug is not None else "none"}
        if ema is not None:
            summary["ema"] = f"validation and best.pt use the weights' moving average (decay {cfg.ema_decay:g} per step)"
            say(summary["ema"])
        if cfg.time_mask_spans:
            summary["time_mask"] = f"{cfg.time_mask_spans} spans of {cfg.time_mask_s:g} s zeroed per training window"
            say(f"time masking: {summary['time_mask']}")

        for epoch in range(st.epoch, cfg.epochs):
            t0, c0 = time.perf_counter(), time.process_time()
            lr_now = opt.param_groups[0]["lr"]  # this epoch's (first step's) LR
            train_loss = _train_epoch(net, X_tr, y_tr, criterion, opt, cfg, epoch, info,
                                      y_tr_np if plan.sampler else None, aug, step_sched,
                                      int(round(cfg.time_mask_s * float(dataset.manifest.fs))), ema)
            ddp.broadcast_module_state(model)
            scored = model if ema is None else ema.model
            logits = _predict_sharded(scored, X_va, cfg.eval_batch_size, info)
            val_loss = float(criterion(torch.from_numpy(logits), torch.from_numpy(np.asarray(y_va))).item())
            if not math.isfinite(val_loss):
                raise EcgEdgeError(f"validation loss is {val_loss} after epoch {epoch + 1}; the model diverged "
                                   f"(try a lower --lr); {out_dir / 'last.pt'} still holds the previous epoch")
            m = classification_metrics(np.asarray(y_va), logits.argmax(1), classes)
            if step_sched is None:
                sched.step(val_loss)
            improved = st.best_epoch < 0 or m["macro_f1"] > st.best_f1 + cfg.min_delta
            st.epoch = epoch + 1
            if improved:
                st.best_f1, st.best_epoch, st.bad_epochs = m["macro_f1"], epoch + 1, 0
            else:
                st.bad_epochs += 1
            record = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
                      "val_accuracy": m["accuracy"], "val_macro_precision": m["macro_precision"],
                      "val_macro_recall": m["macro_recall"], "val_macro_f1": m["macro_f1"],
                      "lr": lr_now, "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}
            st.history.append(record)
            if st.bad_epochs >= cfg.patience:
                st.stopped = "early_stopping"
            elif st.epoch >= cfg.epochs:
                st.stopped = "epochs"
            if improved:
                best_ckpt = make_ckpt(copy.deepcopy(scored.state_dict()), {"val": m, "epoch": epoch + 1},
                                      {"train_config": asdict(cfg), "epoch": epoch + 1, "train_summary": summary})
            rng = ddp.gather_objects(torch.get_rng_state())
            if info.is_main:
                if improved:
                    save_checkpoint(out_dir / "best.pt", best_ckpt)
                trainer = {"epoch": st.epoch, "history": st.history, "best_f1": st.best_f1,
                           "best_epoch": st.best_epoch, "bad_epochs": st.bad_epochs, "stopped": st.stopped,
                           "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                           "torch_rng": rng, "world_size": info.world_size, "threads": torch.get_num_threads(),
                           "train_config": asdict(cfg)}
                if ema is not None:
                    trainer["ema"] = ema.model.state_dict()
                save_checkpoint(out_dir / "last.pt", make_ckpt(model.state_dict(), {"val": m}, {"trainer": trainer}))
                write_json(out_dir / "history.json", {"arch": arch, "classes": classes, "train_config": asdict(cfg),
                                                      "train_summary": summary,
                                                      "best_epoch": st.best_epoch, "best_val_macro_f1": st.best_f1,
                                                      "stopped": st.stopped, "epochs": st.history})
                from ecg_edge.train.plots import plot_history

                plot_history(st.history, out_dir / "curve.png", title=f"{arch} on {dataset.manifest.task}")
            say(f"epoch {epoch + 1}/{cfg.epochs}: loss {train_loss:.4f} val_loss {val_loss:.4f} "
                f"val_acc {m['accuracy']:.4f} val_macro_f1 {m['macro_f1']:.4f} lr {lr_now:.2g} "
                f"({record['seconds']:.1f} s{_eta(st, cfg)}){' *' if improved else ''}")
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, record)
            if st.stopped:
                break
        if st.stopped == "early_stopping":
            say(f"early stopping after epoch {st.epoch}: no macro-F1 gain for {cfg.patience} epochs")
        assert best_ckpt is not None
        return best_ckpt


def schedule_note(cfg: TrainConfig) -> str:
    opt = f"{cfg.optimizer} wd {cfg.weight_decay:g}"
    ls = f", label smoothing {cfg.label_smoothing:g}" if cfg.label_smoothing else ""
    if cfg.lr_schedule == "plateau":
        return f"{opt}, halved on a val-loss plateau{ls}"
    warm = f"{cfg.warmup_epochs:g}-epoch linear warmup, then " if cfg.warmup_epochs else ""
    return f"{opt}, {warm}{cfg.lr_schedule} per step{ls}"


def _eta(st: _State, cfg: TrainConfig) -> str:
    """Remaining-time estimate at the mean epoch time so far (an upper bound: early stopping)."""
    left = 0 if st.stopped else cfg.epochs - st.epoch
    if left <= 0:
        return ""
    mean = sum(h["seconds"] for h in st.history) / len(st.history)
    return f", at most ~{left * mean:.0f} s left"


def world_note(info: ddp.DistInfo) -> str:
    return f"{info.world_size} replicas (DDP/gloo)" if info.enabled else "1 process"


def _train_epoch(net: nn.Module, X: torch.Tensor, y: torch.Tensor, criterion: nn.Module,
                 opt: torch.optim.Optimizer, cfg: TrainConfig, epoch: int, info: ddp.DistInfo,
                 balance_y: np.ndarray | None = None, aug: Any = None, step_sched: Any = None,
                 mask_samples: int = 0, ema: WeightEma | None = None) -> float:
    net.train()
    batches = epoch_batches(len(y), cfg, epoch, info, balance_y)
    total, count = 0.0, 0
    bar = progress(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch") if info.is_main else None
    for step, b in enumerate(bar if bar is not None else batches):
        idx = torch.tensor(b)
        opt.zero_grad(set_to_none=True)
        xb = X[idx]
        if aug is not None:
            gen = torch.Generator().manual_seed(((cfg.seed * 100_003 + epoch) * 10_007 + step) * 101 + info.rank)
            xb = aug(xb, gen)
        if cfg.time_mask_spans and mask_samples > 0:
            from ecg_edge.train.augment import time_mask

            gen = torch.Generator().manual_seed(((cfg.seed * 100_019 + epoch) * 10_009 + step) * 103 + info.rank)
            xb = time_mask(xb, gen, cfg.time_mask_spans, mask_samples)
        loss = criterion(net(xb), y[idx])
        lv = float(loss.detach())
        finite = math.isfinite(lv)
        if info.enabled:
            bad, = ddp.all_reduce_sum([0.0 if finite else 1.0])
            finite = bad == 0
        if not finite:
            raise EcgEdgeError(
                f"training loss is not finite (loss={lv}) at epoch {epoch + 1}, batch {step + 1}; the data holds "
                f"NaN/Inf values or the learning rate {opt.param_groups[0]['lr']:g} is too high. "
                f"No checkpoint was written for this epoch")
        loss.backward()
        opt.step()
        if ema is not None:
            ema.update(net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net)
        if step_sched is not None:
            step_sched.step()
        total += lv * len(b)
        count += len(b)
        if bar is not None:
            bar.set_postfix(loss=f"{total / count:.4f}")
    if bar is not None:
        bar.close()
    total, count = ddp.all_reduce_sum([total, float(count)])
    return total / max(count, 1)


def _restore(out_dir: Path, model: nn.Module, opt: torch.optim.Optimizer, sched: Any, cfg: TrainConfig,
             arch: str, config: dict[str, Any], classes: list[str],
             info: ddp.DistInfo, ema: WeightEma | None = None) -> tuple[_State, Checkpoint | None]:
    last = out_dir / "last.pt"
    if not last.is_file():
        raise EcgEdgeError(f"{last}: nothing to resume (no last.pt in {out_dir}); run without --resume to start afresh")
    ck = load_checkpoint(last)
    trainer = ck.extra.get("trainer")
    if not isinstance(trainer, dict):
        raise EcgEdgeError(f"{last}: not a training state (extra['trainer'] missing)")
    if ck.arch != arch:
        raise EcgEdgeError(f"{last}: was trained as {ck.arch!r}, cannot resume it as {arch!r}")
    diff = sorted(k for k in set(ck.config) | set(config) if ck.config.get(k) != config.get(k))
    if diff:
        raise EcgEdgeError(f"{last}: model config differs in {', '.join(f'{k} ({ck.config.get(k)!r} vs {config.get(k)!r})' for k in diff)}")
    if list(ck.classes) != classes:
        raise EcgEdgeError(f"{last}: classes {ck.classes} differ from the dataset's {classes}")
    # a run saved before a field existed ran with that field's default
    saved_cfg = {f.name: f.default for f in dataclasses.fields(TrainConfig)} | trainer.get("train_config", {})
    now = asdict(cfg)
    # a step schedule spans all epochs: more epochs would change the LR of those already run
    free = RESUMABLE_CHANGES - ({"epochs"} if cfg.lr_schedule in ("cosine", "linear") else set())
    cdiff = sorted(k for k in now if k not in free and saved_cfg.get(k) != now[k])
    if cdiff:
        raise EcgEdgeError(f"{last}: cannot resume with changed training options "
                           f"{', '.join(f'{k} ({saved_cfg.get(k)!r} -> {now[k]!r})' for k in cdiff)}; "
                           "resume with the original options or start afresh")
    threads = trainer.get("threads")
    if threads is not None and threads != torch.get_num_threads():
        raise EcgEdgeError(f"{last}: the run used {threads} torch threads, this process {torch.get_num_threads()}; "
                           f"resume with --threads {threads} (the thread count changes float summation order, "
                           "so the result would not match an uninterrupted run)")
    if trainer.get("world_size", 1) != info.world_size:
        raise EcgEdgeError(f"{last}: the run used {trainer.get('world_size', 1)} data-parallel processes, this one "
                           f"{info.world_size}; resume with the same --nproc_per_node")
    model.load_state_dict(ck.state_dict)
    if ema is not None:
        if "ema" not in trainer:
            raise EcgEdgeError(f"{last}: holds no weight average for ema_decay={cfg.ema_decay}; start afresh")
        ema.model.load_state_dict(trainer["ema"])
    opt.load_state_dict(trainer["optimizer"])
    sched.load_state_dict(trainer["scheduler"])
    rng = trainer.get("torch_rng") or []
    if len(rng) != info.world_size:
        raise EcgEdgeError(f"{last}: holds {len(rng)} RNG states for {info.world_size} processes; start afresh")
    torch.set_rng_state(rng[info.rank])
    st = _State(epoch=int(trainer["epoch"]), history=list(trainer["history"]), best_f1=float(trainer["best_f1"]),
                best_epoch=int(trainer["best_epoch"]), bad_epochs=int(trainer["bad_epochs"]),
                stopped=str(trainer.get("stopped", "")))
    if st.stopped == "epochs" and st.epoch < cfg.epochs:
        st.stopped = ""  # more epochs were asked for: carry on
    best_ckpt = None
    if st.best_epoch > 0:
        best_path = out_dir / "best.pt"
        best_ckpt = load_checkpoint(best_path)
        if best_ckpt.extra.get("epoch") != st.best_epoch:
            raise EcgEdgeError(f"{best_path}: holds epoch {best_ckpt.extra.get('epoch')} but {last} records the best "
                               f"at epoch {st.best_epoch}; the output folder was modified, start afresh")
    return st, best_ckpt
