"""Accuracy against true compression ratio on one checkpoint: fixed-bit quantization, the paper's
LAQ and LAQ+LAP at several tolerances, and the byte-budget allocator at several budgets.

Every point is the shipped model.bin (packed exactly as `ecg-edge export` writes it) run over the
whole test split by the integer runtime; its macro-F1 and accuracy minus fp32 carry a paired
bootstrap 95% CI (resampling patients/records). Searches use train/validation only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.compress.allocate import DEFAULT_SPARSITIES
from ecg_edge.compress.engine import CompressOptions, Compressor, Outcome
from ecg_edge.compress.finetune import FinetuneConfig
from ecg_edge.compress.layers import fp32_parameter_bytes
from ecg_edge.data.prepared import load_prepared
from ecg_edge.errors import EcgEdgeError
from ecg_edge.metrics import classification_metrics
from ecg_edge.models.predict import predict
from ecg_edge.progress import progress
from ecg_edge.report.ablation import HeldOut, test_predictions
from ecg_edge.stats import RESAMPLES, SEED
from ecg_edge.targets.registry import get_target
from ecg_edge.train.evaluate import split_groups

SERIES = ("fixed-q", "laq", "laq+lap", "budget", "qat")
LABELS = {"fixed-q": "fixed-q (uniform bits)", "laq": "LAQ (paper)", "laq+lap": "LAQ+LAP (paper)",
          "budget": "byte budget (knapsack, accuracy search)",
          "qat": "sensitivity + distillation QAT + repair (compress --method qat)"}


@dataclass
class ParetoConfig:
    target: str = "cortex-m4"
    series: tuple[str, ...] = SERIES
    bits: tuple[int, ...] = (8, 6, 4, 3, 2)
    tolerances: tuple[float, ...] = (0.005, 0.01, 0.02, 0.04)
    budget_crs: tuple[float, ...] = (4.0, 8.0, 12.0, 16.0, 24.0, 32.0)
    budget_sparsities: tuple[float, ...] = DEFAULT_SPARSITIES  # options the knapsack may give a layer
    finetune_epochs: int = 0
    finetune_lr: float = 1e-4
    finetune_max_train: int = 0
    val_max: int = 1024
    metric: str = "accuracy"
    runtime: str = "c"  # "c" (host C runtime, bit-exact with numpy, faster) or "numpy"
    # the "qat" series: one `compress --method qat --target-cr CR` per budget in budget_crs
    qat_epochs: int = 6
    sens_windows: int = 256
    qat_tolerance: float = 0.005
    qat_max_repairs: int = 3
    # a `compress --method qat` plan.json of the same checkpoint: its recorded sensitivity is
    # reused for every qat point instead of being measured again (the demo's cheap curve)
    sensitivity_from: str | None = None

    def __post_init__(self) -> None:
        bad = [s for s in self.series if s not in SERIES]
        if bad:
            raise EcgEdgeError(f"--series: unknown {bad}; expected a subset of {','.join(SERIES)}")
        if any(not 1 <= b <= 8 for b in self.bits):
            raise EcgEdgeError(f"--bits {self.bits}: expected bit-widths in 1..8")
        if any(not 0.0 <= t < 1.0 for t in self.tolerances):
            raise EcgEdgeError(f"--tolerances {self.tolerances}: expected absolute drops in [0, 1)")
        if any(c <= 1.0 for c in self.budget_crs):
            raise EcgEdgeError(f"--budget-crs {self.budget_crs}: expected true CRs > 1")
        if any(not 0.0 <= p < 1.0 for p in self.budget_sparsities):
            raise EcgEdgeError(f"--budget-sparsities {self.budget_sparsities}: expected fractions in [0, 1)")
        if self.finetune_epochs < 0:
            raise EcgEdgeError(f"--finetune-epochs {self.finetune_epochs}: expected >= 0")
        if self.runtime not in ("c", "numpy"):
            raise EcgEdgeError(f"--runtime {self.runtime!r}: expected c or numpy")


@dataclass
class Point:
    series: str
    setting: str  # e.g. "4-bit", "tolerance 0.01", "16x" (a byte budget)
    true_cr: float
    model_bytes: int
    test: dict[str, float]
    delta: dict[str, Any]  # metric -> {"delta", "delta_ci95"} vs fp32, paired
    val_accuracy_fakequant: float
    finetune_epochs: int
    layers: list[dict] = field(default_factory=list)


def run_pareto(checkpoint: Path, data_dir: Path, cfg: ParetoConfig, log: Callable[[str], None] = print,
               on_points: Callable[[list[dict]], None] | None = None) -> dict[str, Any]:
    ckpt = load_checkpoint(checkpoint)
    if ckpt.arch != "resnet1d":
        raise EcgEdgeError(f"{checkpoint}: {ckpt.arch} does not ship as model.bin yet; the Pareto report "
                           "measures the shipped bytes (ResNet1D only)")
    ds = load_prepared(data_dir)
    runtime = cfg.runtime
    if runtime == "c":
        try:
            import ecg_edge.runtime  # noqa: F401
        except ImportError:
            log("C runtime binding not built: running model.bin with the numpy integer executor")
            runtime = "numpy"
    comp = Compressor(ckpt, ds, get_target(cfg.target),
                      CompressOptions(val_max=cfg.val_max, metric=cfg.metric, use_packer=True,
                                      budget_sparsities=tuple(cfg.budget_sparsities)), source=str(checkpoint))
    if cfg.sensitivity_from and "qat" in cfg.series:
        from ecg_edge.layerplan.plan import CompressionPlan

        comp.reuse_sensitivity(CompressionPlan.load(Path(cfg.sensitivity_from)), str(cfg.sensitivity_from))
    Xte, yte = ds.split("test")
    if len(yte) == 0:
        raise EcgEdgeError(f"{data_dir}: the test split is empty")
    Xte, yte = np.asarray(Xte, dtype=np.float32), np.asarray(yte)
    groups = split_groups(data_dir, "test")
    classes = list(ckpt.classes)
    fp_pred = predict(comp.model, Xte).argmax(1)
    held = HeldOut(Xte, yte, groups, fp_pred, classes)
    fp = classification_metrics(yte, fp_pred, classes)
    fp32_bytes = fp32_parameter_bytes(comp.model)
    ft = FinetuneConfig(epochs=cfg.finetune_epochs, lr=cfg.finetune_lr, max_train=cfg.finetune_max_train)

    jobs: list[tuple[str, str, Callable[[], Outcome]]] = []
    for s in cfg.series:
        if s == "fixed-q":
            for b in cfg.bits:
                if b in comp.bits:
                    jobs.append((s, f"{b}-bit", lambda b=b: comp.finalize(f"fixed-q{b}", comp.search(f"fixed-q{b}"),
                                                                           ft if b < 8 else None)))
        elif s in ("laq", "laq+lap"):
            for t in cfg.tolerances:
                jobs.append((s, f"tolerance {t:g}", lambda s=s, t=t: comp.finalize(s, comp.search(s, tolerance=t), ft)))
        elif s == "budget":
            for cr in cfg.budget_crs:
                jobs.append((s, f"{cr:g}x", lambda cr=cr: comp.budgeted(int(fp32_bytes / cr), ft)))
        else:
            for cr in cfg.budget_crs:
                jobs.append((s, f"{cr:g}x", lambda cr=cr: _qat_point(comp, cfg, cr, log)))

    t0 = time.perf_counter()
    points: list[Point] = []
    skipped: list[dict[str, str]] = []
    for series, setting, make in progress(jobs, desc="pareto", unit="point"):
        try:
            out = make()
        except EcgEdgeError as exc:  # e.g. a budget below the smallest plan: say so, skip the point
            log(f"{series} {setting}: skipped ({exc})")
            skipped.append({"series": series, "setting": setting, "reason": str(exc)})
            continue
        if out.size.model_bin is None:
            raise EcgEdgeError("the model.bin packer did not run; the Pareto report needs the shipped bytes")
        pred, _ = test_predictions(out, Xte, "modelbin", runtime)
        m = classification_metrics(yte, pred, classes)
        pm = out.plan.metrics
        points.append(Point(series, setting, fp32_bytes / out.size.total_bytes, int(out.size.total_bytes),
                            {k: m[k] for k in ("accuracy", "macro_f1")}, held.delta(pred),
                            float(pm["val_accuracy_fakequant"]), int(pm.get("finetune_epochs", 0)),
                            [{"name": lp.name, "bits": lp.bits, "sparsity": lp.sparsity} for lp in out.plan.layers]))
        p = points[-1]
        d, (lo, hi) = p.delta["macro_f1"]["delta"], p.delta["macro_f1"]["delta_ci95"]
        log(f"{series} {setting}: {p.true_cr:.2f}x ({p.model_bytes} B), test macro-F1 {p.test['macro_f1']:.4f} "
            f"({100 * d:+.2f} pt [95% CI {100 * lo:+.2f}, {100 * hi:+.2f}]) ({time.perf_counter() - t0:.0f} s)")
        if on_points:
            on_points([asdict(q) for q in points])
    return {
        "checkpoint": str(checkpoint), "dataset": str(data_dir), "target": cfg.target, "runtime": runtime,
        "test_windows": int(len(yte)), "test_groups": None if groups is None else int(len(np.unique(groups))),
        "fp32": {"accuracy": fp["accuracy"], "macro_f1": fp["macro_f1"], "param_bytes": fp32_bytes},
        "intervals": {"method": "paired percentile bootstrap, point - fp32 on the same test windows",
                      "resampled_by": "window" if groups is None else "patient/record",
                      "resamples": RESAMPLES, "seed": SEED, "level": 0.95},
        "true_cr_note": "fp32 parameter bytes / bytes of the device image of model.bin (every flashed byte; "
                        "the host trailer is not flashed, export/FORMAT.md section 4)",
        "points": [asdict(p) for p in points], "skipped": skipped, "goals": goals(points), "config": asdict(cfg),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _qat_point(comp: Compressor, cfg: ParetoConfig, cr: float, log: Callable[[str], None]) -> Outcome:
    from dataclasses import replace

    windows = comp.opts.sens_windows if cfg.sensitivity_from else cfg.sens_windows  # the reused one's
    comp.opts = replace(comp.opts, target_cr=cr, tolerance=cfg.qat_tolerance, sens_windows=windows,
                        max_repairs=cfg.qat_max_repairs, qat=replace(comp.opts.qat, epochs=cfg.qat_epochs))
    return comp.shipped(log)


def goals(points: list[Point]) -> dict[str, Any]:
    """The issue's Pareto goals, as measured: the highest true CR whose macro-F1 drop is within
    1 pt (point estimate, and with the CI's lower end >= -1 pt), and int8's drop."""
    def best(ok: Callable[[Point], bool]) -> dict[str, Any] | None:
        cand = [p for p in points if ok(p)]
        if not cand:
            return None
        p = max(cand, key=lambda q: q.true_cr)
        return {"series": p.series, "setting": p.setting, "true_cr": p.true_cr,
                "macro_f1_delta": p.delta["macro_f1"]["delta"], "macro_f1_delta_ci95": p.delta["macro_f1"]["delta_ci95"]}

    int8 = next((p for p in points if p.series == "fixed-q" and p.setting == "8-bit"), None)
    return {
        "max_cr_within_1pt": best(lambda p: p.delta["macro_f1"]["delta"] >= -0.01),
        "max_cr_within_1pt_ci_lower": best(lambda p: p.delta["macro_f1"]["delta_ci95"][0] >= -0.01),
        "int8_macro_f1_delta": None if int8 is None else int8.delta["macro_f1"]["delta"],
        "int8_macro_f1_delta_ci95": None if int8 is None else int8.delta["macro_f1"]["delta_ci95"],
        "goal_24x_within_1pt": any(p.true_cr >= 24 and p.delta["macro_f1"]["delta"] >= -0.01 for p in points),
        "goal_int8_within_0.2pt": None if int8 is None else int8.delta["macro_f1"]["delta"] >= -0.002,
    }


def markdown(rep: dict[str, Any]) -> str:
    fp, iv, g = rep["fp32"], rep["intervals"], rep["goals"]
    lines = [f"# Pareto: test macro-F1 of the shipped model.bin vs true CR ({rep['target']})", "",
             f"Checkpoint `{rep['checkpoint']}`, dataset `{rep['dataset']}`, test split {rep['test_windows']} windows"
             + (f" ({rep['test_groups']} patients/records)" if rep.get("test_groups") else "") + "; "
             f"fp32 macro-F1 {fp['macro_f1']:.4f}, accuracy {fp['accuracy']:.4f}, {fp['param_bytes']:,} B of parameters. "
             f"model.bin run by the {rep['runtime']} integer runtime. {rep['true_cr_note']}. "
             f"Δ = point - fp32 in F1 points, {iv['method']} ({iv['resamples']} resamples by {iv['resampled_by']}).", "",
             "| series | setting | true CR | bytes | macro-F1 | Δ macro-F1 (pt) [95% CI] | Δ accuracy (pt) [95% CI] | FT epochs |",
             "|---|---|---|---|---|---|---|---|"]
    for p in sorted(rep["points"], key=lambda q: (q["series"], q["true_cr"])):
        cells = []
        for k in ("macro_f1", "accuracy"):
            d, (lo, hi) = p["delta"][k]["delta"], p["delta"][k]["delta_ci95"]
            cells.append(f"{100 * d:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}]")
        lines.append(f"| {LABELS.get(p['series'], p['series'])} | {p['setting']} | {p['true_cr']:.2f}x | "
                     f"{p['model_bytes']:,} | {p['test']['macro_f1']:.4f} | {cells[0]} | {cells[1]} | {p['finetune_epochs']} |")

    def goal(key: str) -> str:
        b = g.get(key)
        if not b:
            return "none"
        lo, hi = b["macro_f1_delta_ci95"]
        return (f"{b['true_cr']:.2f}x ({LABELS.get(b['series'], b['series'])}, {b['setting']}; "
                f"{100 * b['macro_f1_delta']:+.2f} pt [{100 * lo:+.2f}, {100 * hi:+.2f}])")

    i8 = g.get("int8_macro_f1_delta")
    lines += ["", "Goals as measured:",
              f"- highest true CR within 1 pt of fp32 (point estimate): {goal('max_cr_within_1pt')}; "
              f">= 24x within 1 pt: {'met' if g['goal_24x_within_1pt'] else 'NOT met'}",
              f"- highest true CR whose CI lower end is >= -1 pt: {goal('max_cr_within_1pt_ci_lower')}",
              "- int8 within 0.2 pt: " + ("not measured" if i8 is None else
                                           f"{100 * i8:+.2f} pt [{100 * g['int8_macro_f1_delta_ci95'][0]:+.2f}, "
                                           f"{100 * g['int8_macro_f1_delta_ci95'][1]:+.2f}] -> "
                                           + ("met" if g["goal_int8_within_0.2pt"] else "NOT met")),
              *(["", "Not measured (refused, with the reason):"]
                + [f"- {LABELS.get(k['series'], k['series'])} {k['setting']}: {k['reason']}" for k in rep.get("skipped", [])]
                if rep.get("skipped") else []),
              "", f"Total {rep['seconds']:.0f} s.", ""]
    return "\n".join(lines)


def pareto_png(rep: dict[str, Any], path: Path) -> None:
    """Δ macro-F1 vs fp32 (points, with 95% CI bars) against true CR (log x), one line per series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ecg_edge.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    floor = -15.0  # points below are drawn at the floor as open down-triangles (value in the table)
    markers = {"fixed-q": "o", "laq": "s", "laq+lap": "D", "budget": "*", "qat": "P"}
    for i, s in enumerate(dict.fromkeys(p["series"] for p in rep["points"])):
        pts = sorted((p for p in rep["points"] if p["series"] == s), key=lambda q: q["true_cr"])
        x = [p["true_cr"] for p in pts]
        y = [100 * p["delta"]["macro_f1"]["delta"] for p in pts]
        lo = [y_ - 100 * p["delta"]["macro_f1"]["delta_ci95"][0] for y_, p in zip(y, pts, strict=True)]
        hi = [100 * p["delta"]["macro_f1"]["delta_ci95"][1] - y_ for y_, p in zip(y, pts, strict=True)]
        ax.errorbar(x, y, yerr=[lo, hi], marker=markers.get(s, "o"), ms=7 if s == "budget" else 5, capsize=3,
                    lw=1, color=f"C{i}", label=LABELS.get(s, s))
        off = [(x_, y_) for x_, y_ in zip(x, y, strict=True) if y_ < floor]
        if off:
            ax.scatter([a for a, _ in off], [floor + 0.3] * len(off), marker="v", facecolors="none",
                       edgecolors=f"C{i}", s=40)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.axhline(-1.0, color="k", lw=0.8, ls="--", label="-1 pt")
    ax.axvline(24.0, color="grey", lw=0.6, ls=":")
    ys = [100 * p["delta"]["macro_f1"]["delta_ci95"][1] for p in rep["points"]]
    ax.set_ylim(floor, max([1.0, *ys]) + 0.5)
    ax.set_xscale("log", base=2)
    ax.set_xticks([2, 4, 8, 16, 24, 32])
    ax.set_xticklabels(["2x", "4x", "8x", "16x", "24x", "32x"])
    ax.set_xlabel("true compression ratio (fp32 parameter bytes / flashed device image of model.bin)")
    ax.set_ylabel("test macro-F1 - fp32 (points, 95% CI)")
    ax.set_title(f"shipped model.bin vs fp32 (macro-F1 {rep['fp32']['macro_f1']:.4f}), {rep['test_windows']} test windows")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
