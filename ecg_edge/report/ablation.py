"""The paper's Table 1 for one model and dataset: full precision, fixed quantization 8..1 bit,
fixed pruning, LAQ, LAP, LAQ+LAP (each with and without fine-tuning), plus the comparisons the
paper leaves open: the two readings of eq. (3), prune-then-quantize vs quantize-then-prune, the
budgeted allocator at LAQ's bytes, and `compress --method qat` (distillation QAT of the export
graph, verified on the shipped bytes) at given true CRs.

Searches and calibration use train/validation; every figure in the table is on the TEST split.
Compressed rows take their accuracy from the shipped model.bin run through the integer
executor when the packer/executor exist ("modelbin"), else from PyTorch fake-quant (weights
quantized, activations float; labelled "fakequant").
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.compress.allocate import DEFAULT_SPARSITIES
from ecg_edge.compress.engine import DEFAULT_READING, CompressOptions, Compressor, Outcome
from ecg_edge.compress.finetune import FinetuneConfig
from ecg_edge.compress.layers import fp32_parameter_bytes
from ecg_edge.compress.qat import QATConfig
from ecg_edge.compress.sizes import BLOCKS_ONLY
from ecg_edge.data.prepared import load_prepared
from ecg_edge.errors import EcgEdgeError
from ecg_edge.metrics import classification_metrics
from ecg_edge.modelbin.graph import can_lower
from ecg_edge.models.predict import predict
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.progress import progress
from ecg_edge.stats import paired_bootstrap
from ecg_edge.targets.registry import get_target
from ecg_edge.train.evaluate import split_groups

FIXED_Q = [8, 7, 6, 5, 4, 3, 2, 1]
FIXED_P = [10, 30, 50, 70, 90]
LABELS = {"laq": "LAQ", "lap": "LAP", "laq+lap": "LAQ+LAP", "budget": "Budget"}


@dataclass
class AblationConfig:
    target: str = "cortex-m4"
    tolerance: float = 0.01
    finetune_epochs: int = 2
    finetune_lr: float = 1e-4
    finetune_max_train: int = 0
    accuracy_from: str = "modelbin"  # "modelbin" | "fakequant"
    val_max: int = 1024
    compare: bool = True  # readings, orders, budget-at-LAQ-bytes rows
    quant_bits: tuple[int, ...] = tuple(FIXED_Q)
    prune_pcts: tuple[int, ...] = tuple(FIXED_P)
    budget_sparsities: tuple[float, ...] = DEFAULT_SPARSITIES
    budget_crs: tuple[float, ...] = (12.0,)  # extra budget rows at these true compression ratios
    reading: str = DEFAULT_READING
    adaptive: tuple[str, ...] = ("laq", "lap", "laq+lap")
    metric: str = "accuracy"
    # `compress --method qat` rows (sensitivity, distillation QAT, verify-and-repair on the shipped
    # bytes) at these true CRs; model.bin only (QAT trains the export graph)
    qat_crs: tuple[float, ...] = (12.0,)
    qat_epochs: int = 6
    qat_sens_windows: int = 256
    qat_lr: float = 5e-4
    qat_augment: bool = False


@dataclass
class Row:
    label: str
    method: str
    finetuned: bool
    test: dict[str, Any]
    val_accuracy: float
    nominal_cr: float
    true_cr: float | None
    model_bytes: int
    bytes_source: str
    accuracy_source: str
    search_seconds: float
    layers: list[dict] = field(default_factory=list)
    notes: str = ""
    delta: dict[str, Any] = field(default_factory=dict)  # metric -> {"delta", "delta_ci95"}: row - fp32, paired


def test_predictions(out: Outcome, X: np.ndarray, source: str, runtime: str = "numpy") -> tuple[np.ndarray, str]:
    """Argmax of the shipped model.bin run by an integer runtime ("modelbin"), or of the
    fake-quant PyTorch model when there is no packed file ("fakequant")."""
    if source == "modelbin" and out.size.model_bin is not None:
        from ecg_edge.modelbin.reader import read_model
        from ecg_edge.report.shipped import run_split

        return run_split(read_model(out.size.model_bin), np.asarray(X), runtime).argmax(1), "modelbin"
    return predict(model_from_checkpoint(out.checkpoint), X).argmax(1), "fakequant"


test_predictions.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@dataclass
class HeldOut:
    """The test windows, their patient/record ids and the fp32 predictions every row is paired with."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray | None
    fp_pred: np.ndarray
    classes: list[str]

    def delta(self, pred: np.ndarray) -> dict[str, Any]:
        c = paired_bootstrap(self.y, self.fp_pred, pred, groups=self.groups, n_classes=len(self.classes)).to_dict()
        return {k: {"delta": c[k]["delta"], "delta_ci95": c[k]["delta_ci95"]} for k in ("accuracy", "macro_f1")}


def _row(label: str, method: str, out: Outcome, ts: HeldOut, source: str, ft: bool, notes: str = "") -> Row:
    pred, how = test_predictions(out, ts.X, source)
    m = classification_metrics(ts.y, pred, ts.classes)
    pm = out.plan.metrics
    return Row(label + (" + FT" if ft else ""), method, ft, {k: m[k] for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "n")},
               pm["val_accuracy_fakequant"], pm["nominal_cr"], pm["true_cr"], pm["model_bytes"], pm["bytes_source"], how,
               pm["search_seconds"], [{"name": lp.name, "bits": lp.bits, "sparsity": lp.sparsity, "bytes": lp.bytes,
                                       "importance": lp.importance} for lp in out.plan.layers], notes, ts.delta(pred))


def run_ablation(checkpoint: Path, data_dir: Path, cfg: AblationConfig, log=print,
                 on_rows=None) -> dict[str, Any]:
    """on_rows(list of row dicts), if given, is called after every row (partial results survive
    an interrupted run)."""
    ckpt = load_checkpoint(checkpoint)
    ds = load_prepared(data_dir)
    target = get_target(cfg.target)
    source = cfg.accuracy_from
    if source == "modelbin" and not can_lower(ckpt.arch):
        log(f"{ckpt.arch}: model.bin export does not lower this architecture: accuracy from PyTorch fake-quant")
        source = "fakequant"
    opts = CompressOptions(tolerance=cfg.tolerance, val_max=cfg.val_max, use_packer=(source == "modelbin"),
                           reading=cfg.reading, metric=cfg.metric,
                           budget_sparsities=tuple(cfg.budget_sparsities))
    comp = Compressor(ckpt, ds, target, opts, source=str(checkpoint))
    Xte, yte = ds.split("test")
    if len(yte) == 0:
        raise EcgEdgeError(f"{data_dir}: the test split is empty")
    Xte = np.asarray(Xte, dtype=np.float32)
    fts = [0] + ([cfg.finetune_epochs] if cfg.finetune_epochs > 0 else [])
    t_start = time.perf_counter()
    rows: list[Row] = []
    fp_pred = predict(comp.model, Xte).argmax(1)
    ts = HeldOut(Xte, np.asarray(yte), split_groups(data_dir, "test"), fp_pred, list(ckpt.classes))
    fp = classification_metrics(yte, fp_pred, ckpt.classes)
    fp32_bytes = fp32_parameter_bytes(comp.model)
    rows.append(Row("Full precision (fp32, PyTorch)", "fp32", False,
                    {k: fp[k] for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "n")},
                    float((predict(comp.model, comp.X_val).argmax(1) == comp.y_val).mean()), 1.0, 1.0, fp32_bytes,
                    "fp32 parameters", "pytorch-fp32", 0.0, delta=ts.delta(fp_pred)))
    methods = [(f"fixed-q{b}", f"Quantized ({b}-bit)") for b in cfg.quant_bits if b in comp.bits]
    methods += [(f"fixed-p{p}", f"Pruned ({p}%, 8-bit)") for p in cfg.prune_pcts]
    methods += [(m, lbl) for m, lbl in (("laq", "LAQ"), ("lap", "LAP (8-bit)"), ("laq+lap", "LAQ+LAP"))
                if m in cfg.adaptive]
    laq_out: Outcome | None = None
    for method, label in progress(methods, desc="ablation", unit="method"):
        res = comp.search(method)
        for ft in fts:
            out = comp.finalize(method, res, FinetuneConfig(epochs=ft, lr=cfg.finetune_lr, max_train=cfg.finetune_max_train))
            rows.append(_row(label, method, out, ts, source, ft > 0))
            if method == "laq" and ft == 0:
                laq_out = out
            log(f"{rows[-1].label}: test acc {rows[-1].test['accuracy']:.4f} F1 {rows[-1].test['macro_f1']:.4f} "
                f"(vs fp32 {_delta_text(rows[-1].delta)}) bytes {rows[-1].model_bytes} ({time.perf_counter() - t_start:.0f} s)")
            if on_rows:
                on_rows([asdict(r) for r in rows])
    comparisons: dict[str, Any] = {}
    if cfg.compare:
        other = "conservative" if opts.reading == "printed" else "printed"
        res = comp.search("laq", reading=other)
        out = comp.finalize("laq", res)
        out.plan.provenance["reading"] = other
        rows.append(_row(f"LAQ (eq. 3 {other} reading)", "laq", out, ts, source, False,
                         f"reading={other}"))
        mine = next((r for r in rows if r.label == "LAQ"), None)
        comparisons["readings"] = {opts.reading: asdict(mine) if mine else None, other: asdict(rows[-1])}
        res = comp.search("laq+lap", order="quantize-then-prune")
        out = comp.finalize("laq+lap", res)
        rows.append(_row("LAQ+LAP (quantize-then-prune)", "laq+lap", out, ts, source, False,
                         "order=quantize-then-prune"))
        comp.ctx.set_order(opts.order)
        budgets = []
        if laq_out is not None:
            budgets.append(("Budget (knapsack at LAQ's bytes)", laq_out.size.total_bytes))
        budgets += [(f"Budget (knapsack at {cr:g}x)", int(fp32_bytes / cr)) for cr in cfg.budget_crs]
        for label, limit in budgets:
            for ft in fts:
                try:
                    out = comp.budgeted(limit, FinetuneConfig(epochs=ft, lr=cfg.finetune_lr, max_train=cfg.finetune_max_train))
                except EcgEdgeError as exc:
                    log(f"{label}: {exc}")
                    break
                rows.append(_row(label, "budget", out, ts, source, ft > 0, f"max_bytes={limit}"))
                log(f"{rows[-1].label}: test acc {rows[-1].test['accuracy']:.4f} F1 {rows[-1].test['macro_f1']:.4f} "
                    f"(vs fp32 {_delta_text(rows[-1].delta)}) bytes {rows[-1].model_bytes}")
                if on_rows:
                    on_rows([asdict(r) for r in rows])
    for cr in cfg.qat_crs:
        label = f"QAT (distillation{', augmented' if cfg.qat_augment else ''}, shipped) at {cr:g}x"
        if source != "modelbin":
            log(f"{label}: skipped (QAT trains the model.bin graph; accuracy here is from {source})")
            break
        comp.opts.target_cr, comp.opts.max_bytes = cr, None
        comp.opts.sens_windows, comp.opts.qat = cfg.qat_sens_windows, QATConfig(epochs=cfg.qat_epochs, lr=cfg.qat_lr,
                                                                     augment=cfg.qat_augment)
        try:
            out = comp.shipped()
        except EcgEdgeError as exc:
            log(f"{label}: {exc}")
            continue
        rows.append(_row(label, "qat", out, ts, source, False, f"target_cr={cr:g} lr={cfg.qat_lr:g}"))
        log(f"{rows[-1].label}: test acc {rows[-1].test['accuracy']:.4f} F1 {rows[-1].test['macro_f1']:.4f} "
            f"(vs fp32 {_delta_text(rows[-1].delta)}) bytes {rows[-1].model_bytes}")
        if on_rows:
            on_rows([asdict(r) for r in rows])
    return {
        "checkpoint": str(checkpoint), "dataset": str(data_dir), "arch": ckpt.arch, "target": target.name,
        "tolerance": cfg.tolerance, "reading": opts.reading, "search_metric": opts.metric, "order": opts.order, "accuracy_from": source,
        "bytes_note": ("true CR = fp32 parameter bytes / whole model.bin bytes" if source == "modelbin"
                       else f"CR over {BLOCKS_ONLY} (model.bin packer not used)"),
        "fp32_param_bytes": fp32_bytes, "test_windows": int(len(yte)), "val_windows": int(len(comp.y_val)),
        "finetune": {"epochs": cfg.finetune_epochs, "lr": cfg.finetune_lr, "max_train": cfg.finetune_max_train},
        "importance": {n: comp.importance.of(n) for n in comp.names},
        "rows": [asdict(r) for r in rows], "seconds": time.perf_counter() - t_start, "config": asdict(cfg),
    }


def _delta_text(delta: dict[str, Any]) -> str:
    d = delta["macro_f1"]
    return f"F1 {100 * d['delta']:+.2f} pt [95% CI {100 * d['delta_ci95'][0]:+.2f}, {100 * d['delta_ci95'][1]:+.2f}]"


def markdown(report: dict[str, Any]) -> str:
    src = report["accuracy_from"]
    lines = [f"# Ablation: {report['arch']} on {report['dataset']}", "",
             f"Test split ({report['test_windows']} windows); search on {report['val_windows']} validation windows; "
             f"target {report['target']}; tolerance {report['tolerance']} on validation {report.get('search_metric', 'accuracy')}; "
             f"eq. (3) reading '{report['reading']}'; "
             f"order {report['order']}.",
             f"Accuracy of compressed rows from: **{src}** "
             + ("(the shipped model.bin through the integer executor)." if src == "modelbin"
                else "(PyTorch fake-quant: quantized weights, float activations)."),
             f"Nominal CR = the paper's 32*N / sum(bits*kept weights) (32-bit kept weights for prune-only rows). "
             f"{report['bytes_note']}. fp32 parameters: {report['fp32_param_bytes']} B."
             + (" A true CR in parentheses counts weight blocks only (no header/graph/metadata): an upper bound."
                if src != "modelbin" else ""), "",
             "Δ F1 = row - fp32 in F1 points with its paired bootstrap 95% CI over the same test windows "
             "(resampling patients/records).", "",
             "| Method | Acc | Prec | Rec | F1 | Δ F1 (pt) [95% CI] | val Acc | nominal CR | true CR | bytes |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        t = r["test"]
        if r["true_cr"]:
            tcr = f"{r['true_cr']:.2f}x"
        elif r["model_bytes"]:  # weight blocks only: an upper bound on the true ratio, marked
            tcr = f"({report['fp32_param_bytes'] / r['model_bytes']:.2f}x)"
        else:
            tcr = "-"
        d = r.get("delta", {}).get("macro_f1")
        dcell = f"{100 * d['delta']:+.2f} [{100 * d['delta_ci95'][0]:+.2f}, {100 * d['delta_ci95'][1]:+.2f}]" if d else "-"
        lines.append(f"| {r['label']} | {t['accuracy']:.4f} | {t['macro_precision']:.4f} | {t['macro_recall']:.4f} | "
                     f"{t['macro_f1']:.4f} | {dcell} | {r['val_accuracy']:.4f} | {r['nominal_cr']:.2f}x | {tcr} | {r['model_bytes']} |")
    lines += ["", f"Total time {report['seconds']:.0f} s.", ""]
    return "\n".join(lines)
