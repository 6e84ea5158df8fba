"""Verify and repair on the shipped bytes.

After QAT the graph is packed into model.bin, read back and run by the integer executor on the
validation split. The tolerance is the drop of that model.bin against the fp32 model on the same
windows, nothing else. If it is exceeded, one layer is promoted one step, bits up or sparsity
down: of all layers' next steps, the one removing the most sensitivity per added byte (the
allocator's exchange rate, so a repair costs the fewest bytes), and QAT runs again warm-started
from the previous graph; at most `max_repairs` times. Every repair is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecg_edge.compress.qat import QATConfig, QATResult, train_qat
from ecg_edge.compress.sensitivity import Sensitivity

Choice = tuple[int, float]


@dataclass
class ShipConfig:
    tolerance: float = 0.005  # allowed drop of the shipped model.bin's validation metric
    metric: str = "macro_f1"  # "accuracy" | "macro_f1"
    max_repairs: int = 3
    repair_epochs: int = 2  # QAT epochs after a repair (warm-started)
    qat: QATConfig = field(default_factory=QATConfig)


@dataclass
class Repair:
    layer: str
    before: Choice
    after: Choice
    val_drop: float  # the shipped drop that triggered it
    sensitivity_before: float
    sensitivity_after: float


@dataclass
class Shipped:
    assign: dict[str, Choice]
    qat: QATResult
    data: bytes  # model.bin
    packed: Any  # modelbin.packer.PackResult of `data`
    val_metric: float
    fp32_val_metric: float
    val_drop: float
    agreement: float  # argmax agreement of model.bin with the QAT exact forward (validation)
    logits_equal: bool
    within_tolerance: bool
    repairs: list[Repair]
    rounds: list[dict[str, Any]]


def score(metric: str, y: np.ndarray, pred: np.ndarray, classes: list[str]) -> float:
    from ecg_edge.metrics import classification_metrics

    return float(classification_metrics(np.asarray(y), np.asarray(pred), classes)[metric])


def promotion(sens: Sensitivity, name: str, cur: Choice) -> Choice | None:
    """One step less aggressive: the next larger bit-width at the same sparsity, or the next
    lower sparsity at the same bits; the one removing more sensitivity per added byte."""
    opts = sens.options[name]
    here = sens.option(name, cur)
    bits = sorted({o.choice[0] for o in opts})
    sps = sorted({o.choice[1] for o in opts})
    steps = []
    up = [b for b in bits if b > cur[0]]
    if up:
        steps.append((up[0], cur[1]))
    down = [p for p in sps if p < cur[1] - 1e-9]
    if down:
        steps.append((cur[0], down[-1]))
    best, best_gain = None, -np.inf
    for c in steps:
        try:
            o = sens.option(name, c)
        except KeyError:
            continue
        gain = (here.sensitivity - o.sensitivity) / max(o.bytes - here.bytes, 1)
        if gain > best_gain:
            best, best_gain = c, gain
    return best


def pick_repair(sens: Sensitivity, assign: dict[str, Choice]) -> tuple[str, Choice] | None:
    """The cheapest repair: of every layer's one-step promotion, the one removing the most
    sensitivity per added byte (the knapsack's own exchange rate, so a repair spends as few
    bytes as it can); ties go to the more sensitive layer. None when nothing can move."""
    best, key = None, None
    for n, cur in assign.items():
        nxt = promotion(sens, n, cur)
        if nxt is None:
            continue
        here, there = sens.option(n, cur), sens.option(n, nxt)
        k = ((here.sensitivity - there.sensitivity) / max(there.bytes - here.bytes, 1), here.sensitivity)
        if key is None or k > key:
            best, key = (n, nxt), k
    return best


def ship(model, ckpt, make_plan, assign: dict[str, Choice], sens: Sensitivity, X_train: np.ndarray,
         y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, cfg: ShipConfig, source: str = "",
         log=print, augmenter=None) -> Shipped:
    """QAT -> pack -> executor on validation -> repair while the shipped drop exceeds the tolerance.
    `make_plan(assign)` builds the CompressionPlan the packer records for an assignment. When the
    repairs run out without meeting the tolerance, the round with the smallest validation drop
    ships (fewer bytes on a tie), not the last one: a repair that made it worse is not kept."""
    from ecg_edge.modelbin import executor
    from ecg_edge.modelbin.packer import build_meta, pack_graph
    from ecg_edge.modelbin.reader import read_model
    from ecg_edge.models.predict import predict

    classes = list(ckpt.classes)
    model.eval()  # scored, and left, in eval mode (predict restores the mode it finds)
    fp32 = score(cfg.metric, y_val, predict(model, X_val).argmax(1), classes)
    fp32_bytes = 4 * sum(int(p.numel()) for p in model.parameters())
    assign = dict(assign)
    repairs: list[Repair] = []
    rounds: list[dict[str, Any]] = []
    warm = None
    tried: list[Shipped] = []  # every round, in order
    while True:
        plan = make_plan(assign)
        qcfg = cfg.qat if warm is None else QATConfig(**{**cfg.qat.__dict__, "epochs": cfg.repair_epochs,
                                                         "freeze_epochs": min(cfg.qat.freeze_epochs, cfg.repair_epochs)})
        res = train_qat(model, plan, X_train, y_train, X_val, y_val, qcfg, warm=warm, arch=ckpt.arch,
                        desc=f"QAT round {len(rounds) + 1}", augmenter=augmenter)
        g = res.qat.g
        packed = pack_graph(g, build_meta(ckpt, plan, g, fp32_bytes, source))
        data = packed.data
        mb = read_model(data)
        shipped = executor.run(mb, executor.quantize_inputs(mb, X_val))
        fq = res.qat.int8_logits(X_val)
        val = score(cfg.metric, y_val, shipped.argmax(1), classes)
        drop = fp32 - val
        rounds.append({"round": len(rounds) + 1, "bytes": packed.device_size, "val_metric": val, "val_drop": drop,
                       "qat_epochs": res.epochs_run, "qat_best_epoch": res.best_epoch,
                       "qat_val_loss": res.val_loss, "qat_seconds": round(res.seconds, 1)})
        log(f"round {len(rounds)}: model.bin {packed.device_size} B flashed, validation {cfg.metric} {val:.4f} "
            f"(fp32 {fp32:.4f}, drop {drop:+.4f}, tolerance {cfg.tolerance})")
        ok = drop <= cfg.tolerance + 1e-12
        nxt = None if ok or len(repairs) >= cfg.max_repairs else pick_repair(sens, assign)
        here = Shipped(dict(assign), res, data, packed, val, fp32, drop, float((shipped.argmax(1) == fq.argmax(1)).mean()),
                       bool(np.array_equal(shipped, fq)), ok, repairs, rounds)
        tried.append(here)
        if nxt is None:
            best = here if ok else min(tried, key=lambda t: (t.val_drop, t.packed.device_size))
            for r, t in zip(rounds, tried, strict=True):
                r["shipped"] = t is best
            if best is not here:
                log(f"shipping round {tried.index(best) + 1} (validation drop {best.val_drop:+.4f}, the smallest "
                    f"of {len(tried)} rounds)")
            return best
        name, after = nxt
        repairs.append(Repair(name, assign[name], after, drop, sens.option(name, assign[name]).sensitivity,
                              sens.option(name, after).sensitivity))
        log(f"repair {len(repairs)}: {name} {assign[name]} -> {after}")
        assign[name] = after
        warm = res.qat
