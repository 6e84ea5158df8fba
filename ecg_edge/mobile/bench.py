"""The side-by-side benchmark: one trained model, one dataset, every runtime in one run.

Rows: our C runtime (dense int8 model.bin and the compressed plan's model.bin), TFLite Micro
(int8, and LUT-compressed from the plan), LiteRT int8, onnxruntime fp32 and QDQ. Each runtime
runs in its own subprocess (ecg_edge.mobile.measure) so its peak RSS is its own. A runtime
that is not available (e.g. our C runtime not built) gets a row saying so, never a number.

Columns: file bytes, runtime memory (our arena; TFLite Micro's arena from its allocation
report; process peak RSS for all), host latency (median, p10-p90 of single-sample inferences,
one thread), accuracy and macro-F1 on the test split, argmax agreement with the fp32 model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from ecg_edge.atomic import write_bytes, write_json, write_text
from ecg_edge.checkpoint import Checkpoint, load_checkpoint
from ecg_edge.data.prepared import load_prepared
from ecg_edge.errors import EcgEdgeError
from ecg_edge.layerplan.plan import CompressionPlan
from ecg_edge.metrics import RECORD_AGGREGATION, classification_metrics, record_metrics
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.options import entry_point

N_CALIB = 128
SUBPROCESS_TIMEOUT_S = 1800


@dataclass
class Row:
    runtime: str  # e.g. "ours C (compressed)"
    fmt: str  # file format
    file: str = ""
    bytes: int | None = None
    memory: dict[str, Any] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    accuracy: float | None = None
    macro_f1: float | None = None
    record_accuracy: float | None = None  # record level: argmax of the mean of a record's window logits
    record_macro_f1: float | None = None
    agree_fp32: float | None = None
    agree_ours: float | None = None  # argmax agreement with our runtime at the same precision
    precision: str = "int8"  # "fp32", "int8" (dense) or "plan": picks the `ours` row to compare with
    status: str = "ok"
    notes: list[str] = field(default_factory=list)


def calibration_windows(ds, n: int = N_CALIB, seed: int = 0) -> np.ndarray:
    X, _ = ds.split("train")
    idx = np.sort(np.random.default_rng(seed).choice(len(X), size=min(n, len(X)), replace=False))
    return np.ascontiguousarray(X[idx], dtype=np.float32)


def torch_logits(ckpt: Checkpoint, X: np.ndarray, batch: int = 64) -> np.ndarray:
    model = model_from_checkpoint(ckpt)
    with torch.no_grad():
        return np.concatenate([model(torch.as_tensor(np.array(X[s:s + batch], dtype=np.float32))).numpy()
                               for s in range(0, len(X), batch)])


def _run_measure(runtime: str, model: Path, x_path: Path, n_latency: int, work: Path) -> tuple[np.ndarray, dict]:
    out = work / f"measure-{runtime}-{model.stem}"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, "-m", "ecg_edge.mobile.measure", "--runtime", runtime, "--model", str(model),
           "--x", str(x_path), "--n-latency", str(n_latency), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=SUBPROCESS_TIMEOUT_S)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        if "ImportError" in last or "ModuleNotFoundError" in last:
            raise ImportError(last)
        raise EcgEdgeError(f"{runtime} on {model.name} failed: {last}")
    return np.load(out / "logits.npy"), json.loads((out / "info.json").read_text())


def _score(row: Row, logits: np.ndarray, y: np.ndarray, classes: list[str], ref_pred: np.ndarray,
           records: np.ndarray | None = None) -> None:
    pred = logits.argmax(1)
    m = classification_metrics(y, pred, classes)
    row.accuracy, row.macro_f1 = m["accuracy"], m["macro_f1"]
    if records is not None:
        r = record_metrics(np.asarray(logits, dtype=np.float64), y, records, classes)
        row.record_accuracy, row.record_macro_f1 = r["accuracy"], r["macro_f1"]
    row.agree_fp32 = float((pred == ref_pred).mean())


def _pack_ours(ckpt: Checkpoint, plan: CompressionPlan | None, calib: np.ndarray, path: Path) -> int:
    from ecg_edge.modelbin.packer import pack

    res = pack(ckpt, plan, calib)
    write_bytes(path, res.data)
    return int(res.arena_bytes)


def run_bench(checkpoint: Path, data: Path, out: Path, plan_path: Path | None = None,
              n_latency: int = 200, split: str = "test", max_windows: int | None = None,
              log=print, compressed: Path | None = None, target: str | None = None,
              n_mcu: int = 2) -> dict[str, Any]:
    """`compressed`: the compressed checkpoint (compress/compressed.pt, possibly fine-tuned) the
    plan rows are built from; without it they apply the plan to `checkpoint`'s weights.
    `target` (e.g. cortex-m4): also run the int8 and plan model.bin and TFLite Micro + CMSIS-NN
    on that simulated Cortex-M, first `n_mcu` windows (ecg_edge.mobile.mcu_bench)."""
    from ecg_edge.mobile.onnx_export import export_onnx
    from ecg_edge.mobile.tflite_export import export_tflite

    ckpt = load_checkpoint(checkpoint)
    plan = CompressionPlan.load(plan_path) if plan_path else None
    ckpt_plan = load_checkpoint(compressed) if compressed else ckpt
    ds = load_prepared(data)
    if list(ds.classes) != list(ckpt.classes):
        raise EcgEdgeError(f"{data}: classes {ds.classes} differ from the checkpoint's {ckpt.classes}")
    X, y = ds.split(split)
    records = ds.records(split)
    if max_windows:
        X, y = X[:max_windows], y[:max_windows]
        records = records[:max_windows] if records is not None else None
    X = np.ascontiguousarray(X, dtype=np.float32)
    calib = calibration_windows(ds)
    models = out / "models"
    models.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=out))
    x_path = work / "X.npy"
    np.save(x_path, X)
    ref_pred = torch_logits(ckpt, X).argmax(1)
    classes = list(ckpt.classes)
    rows: list[Row] = []
    preds: dict[int, np.ndarray] = {}

    def attempt(row: Row, export, runtime: str | None) -> None:
        t0 = time.perf_counter()
        try:
            path, nbytes, notes, mem = export()
            row.file, row.bytes = str(path), nbytes
            row.notes += notes
            row.memory.update(mem)
            if runtime is not None:
                logits, info = _run_measure(runtime, Path(path), x_path, n_latency, work)
                _score(row, logits, y, classes, ref_pred, records)
                preds[id(row)] = logits.argmax(1)
                row.latency_ms = info["latency_ms"]
                row.memory["peak_rss_kib"] = info["peak_rss_kib"]
                if "tflm_arena" in info:
                    row.memory["tflm_arena_total"] = info["tflm_arena"]["total"]
                    row.memory["tflm_arena_head"] = info["tflm_arena"].get("head")
                if "arena_bytes" in info:
                    row.memory["arena_bytes"] = info["arena_bytes"]
        except (ImportError, ModuleNotFoundError) as exc:
            row.status = f"not available ({exc})"
        except EcgEdgeError as exc:
            row.status = f"failed: {exc}"
        except Exception as exc:  # another area's code failing must not lose the other rows
            row.status = f"failed: {type(exc).__name__}: {exc}"
        log(f"[bench] {row.runtime}: {row.status} ({time.perf_counter() - t0:.1f} s)")
        rows.append(row)

    def ours(p: CompressionPlan | None, name: str):
        def f():
            path = models / f"{name}.bin"
            arena = _pack_ours(ckpt if p is None else ckpt_plan, p, calib, path)
            return path, path.stat().st_size, [], {"arena_bytes": arena}
        return f

    def onnx(qdq: bool, p: CompressionPlan | None, name: str):
        def f():
            info = export_onnx(ckpt if p is None else ckpt_plan, p, models / f"{name}.onnx", calib, qdq=qdq)
            return info.path, info.bytes, info.notes, {}
        return f

    def tflite(p: CompressionPlan | None, lut: bool, name: str):
        def f():
            info = export_tflite(ckpt if p is None else ckpt_plan, p, models / f"{name}.tflite", calib,
                                 lut_compress=lut)
            return info.path, info.bytes, info.notes, {}
        return f

    attempt(Row("ours C runtime (int8 dense)", "model.bin"), ours(None, "model_int8"), "ours")
    if plan is not None:
        attempt(Row(f"ours C runtime ({plan.method})", "model.bin", precision="plan"), ours(plan, "model_plan"), "ours")
    attempt(Row("TFLite Micro (int8)", "tflite"), tflite(None, False, "model_int8"), "tflm")
    if plan is not None:
        attempt(Row(f"TFLite Micro (LUT, {plan.method})", "tflite+DECODE", precision="plan"),
                tflite(plan, True, "model_plan_lut"), "tflm")
    attempt(Row("LiteRT (int8)", "tflite"), tflite(None, False, "model_int8"), "litert")
    attempt(Row("onnxruntime (fp32)", "onnx", precision="fp32"), onnx(False, None, "model_fp32"), "ort")
    if ckpt.arch == "hubert_ecg":
        from ecg_edge.mobile.hubert_export import export_hubert_onnx

        def nbits(p: CompressionPlan | None, bits: int, name: str):
            def f():
                info = export_hubert_onnx(ckpt if p is None else ckpt_plan, p, models / f"{name}.onnx",
                                          weight_only=True, default_bits=bits)
                return info.path, info.bytes, info.notes, {}
            return f

        if plan is not None:
            attempt(Row(f"onnxruntime (MatMulNBits, {plan.method})", "onnx", precision="plan"),
                    nbits(plan, 4, "model_nbits_plan"), "ort")
        for b in (8, 4):
            attempt(Row(f"onnxruntime (MatMulNBits {b}-bit)", "onnx"), nbits(None, b, f"model_nbits{b}"), "ort")
    else:
        qname = f"QDQ, {plan.method}" if plan is not None else "QDQ int8"
        attempt(Row(f"onnxruntime ({qname})", "onnx", precision="plan" if plan is not None else "int8"),
                onnx(True, plan, "model_qdq"), "ort")
    paired = paired_latency(rows, x_path, n_latency, work, log)
    ours_rows = {r.precision: r for r in rows if r.runtime.startswith("ours") and id(r) in preds}
    for r in rows:
        ref = ours_rows.get("int8" if r.precision == "fp32" else r.precision)
        if ref is not None and id(r) in preds:
            r.agree_ours = float((preds[id(r)] == preds[id(ref)]).mean())

    result = {"checkpoint": str(checkpoint), "plan": str(plan_path) if plan_path else None,
              "compressed": str(compressed) if compressed else None,
              "data": str(data), "split": split, "n_windows": int(len(X)), "n_latency": n_latency,
              "classes": classes, "fp32_torch": classification_metrics(y, ref_pred, classes),
              "record_aggregation": RECORD_AGGREGATION if records is not None else None,
              "rows": [asdict(r) for r in rows], "goals": goals(rows, paired), "paired_latency": paired,
              "host": host_info()}
    if target is not None:
        from ecg_edge.mobile.mcu_bench import mcu_side_by_side

        tfl = models / "model_int8.tflite"
        plan_bin = models / "model_plan.bin"
        result["mcu"] = mcu_side_by_side(models / "model_int8.bin", tfl if tfl.is_file() else None, X[:n_mcu],
                                         target, plan_bin if plan is not None and plan_bin.is_file() else None,
                                         log=log)
        result["goals"].update(result["mcu"]["goals"])
    shutil.rmtree(work, ignore_errors=True)
    write_json(out / "bench.json", result)
    write_text(out / "bench.md", to_markdown(result))
    try:
        plot(result, out / "bench.png")
    except Exception as exc:  # a plot failure must not lose the measured table
        log(f"[bench] plot not written: {exc}")
    return result


def paired_latency(rows: list[Row], x_path: Path, n_latency: int, work: Path, log=print) -> dict[str, Any] | None:
    """Our runtime's rows and TFLite Micro's rows timed turn by turn in one process."""
    specs = [(r, "ours" if r.runtime.startswith("ours") else "tflm") for r in rows
             if r.status == "ok" and r.latency_ms and (r.runtime.startswith(("ours", "TFLite Micro")))]
    if len({rt for _, rt in specs}) < 2:
        return None
    out = work / "paired"
    cmd = [sys.executable, "-m", "ecg_edge.mobile.measure", "--x", str(x_path), "--n-latency", str(n_latency),
           "--out", str(out)] + [a for r, rt in specs for a in ("--pair", f"{rt}={r.file}")]
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=SUBPROCESS_TIMEOUT_S)
    if proc.returncode != 0:
        log(f"[bench] paired latency failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        return None
    info = json.loads((out / "info.json").read_text())
    for (r, _), p in zip(specs, info["paired"], strict=True):
        p["row"] = r.runtime
    log("[bench] paired latency: " + ", ".join(f"{p['row']} {p['median_ms']:.2f} ms" for p in info["paired"]))
    return info


def _find(rows: list[Row], prefix: str) -> Row | None:
    for r in rows:
        if r.runtime.startswith(prefix) and r.status == "ok":
            return r
    return None


def goals(rows: list[Row], paired: dict[str, Any] | None = None) -> dict[str, Any]:
    """The issue's goals as measured ratios (None where a row is missing)."""
    dense = _find(rows, "ours C runtime (int8")
    comp = next((r for r in rows if r.runtime.startswith("ours C runtime (") and "int8 dense" not in r.runtime
                 and r.status == "ok"), None)
    tfl = _find(rows, "TFLite Micro (int8")
    g: dict[str, Any] = {}
    if comp and tfl:
        g["bytes_ours_over_tflite_int8"] = comp.bytes / tfl.bytes
        g["bytes_goal_le_0.25"] = g["bytes_ours_over_tflite_int8"] <= 0.25
        if "arena_bytes" in comp.memory and "tflm_arena_total" in tfl.memory:
            g["arena_ours_over_tflm_total"] = comp.memory["arena_bytes"] / tfl.memory["tflm_arena_total"]
            g["arena_goal_le_1"] = g["arena_ours_over_tflm_total"] <= 1.0
        if comp.macro_f1 is not None and tfl.macro_f1 is not None:
            g["f1_ours_minus_tflm"] = comp.macro_f1 - tfl.macro_f1
    for label, r in (("dense", dense), ("compressed", comp)):
        if r and tfl and r.latency_ms and tfl.latency_ms:
            g[f"latency_ours_{label}_over_tflm_median"] = r.latency_ms["median"] / tfl.latency_ms["median"]
            g[f"latency_ours_{label}_over_tflm_min"] = r.latency_ms["min"] / tfl.latency_ms["min"]
    if paired:
        by_row = {p["row"]: p for p in paired["paired"]}
        t = by_row.get(tfl.runtime) if tfl else None
        for label, r in (("dense", dense), ("compressed", comp)):
            if t and r and r.runtime in by_row:
                g[f"latency_paired_ours_{label}_over_tflm_median"] = by_row[r.runtime]["median_ms"] / t["median_ms"]
    return g


def host_info() -> dict[str, Any]:
    import platform

    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "cpus": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def to_markdown(res: dict[str, Any]) -> str:
    lines = [f"# Runtime benchmark: {Path(res['checkpoint']).name} on {res['data']} ({res['split']}, "
             f"{res['n_windows']} windows)", "",
             f"fp32 PyTorch reference: accuracy {res['fp32_torch']['accuracy']:.3f}, "
             f"macro-F1 {res['fp32_torch']['macro_f1']:.3f}. Latency: {res['n_latency']} single-window "
             f"inferences, one thread, host {res['host']['machine']} with {res['host']['cpus']} CPUs "
             f"(1-min load average {_fmt(res['host']['load_avg_1m'], '.2f')} at the end: on a busy host the "
             "minimum is the steadier figure).", "",
             *([f"Record columns: a record's prediction is the {res['record_aggregation']}.", ""]
               if res.get("record_aggregation") else []),
             "| runtime | format | file bytes | memory | latency ms median (p10-p90) [min] | accuracy | macro-F1 | "
             "record acc | record F1 | agree fp32 | agree ours | status |",
             "|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in res["rows"]:
        mem = []
        m = r["memory"]
        if "arena_bytes" in m:
            mem.append(f"arena {m['arena_bytes']} B")
        if "tflm_arena_total" in m:
            mem.append(f"TFLM arena {m['tflm_arena_total']} B (head {m.get('tflm_arena_head')})")
        if "peak_rss_kib" in m:
            mem.append(f"peak RSS {m['peak_rss_kib'] / 1024:.1f} MiB")
        lat = r["latency_ms"]
        lat_s = f"{lat['median']:.3f} ({lat['p10']:.3f}-{lat['p90']:.3f}) [{lat['min']:.3f}]" if lat else "-"
        lines.append(f"| {r['runtime']} | {r['fmt']} | {r['bytes'] if r['bytes'] is not None else '-'} | "
                     f"{'; '.join(mem) or '-'} | {lat_s} | {_fmt(r['accuracy'])} | {_fmt(r['macro_f1'])} | "
                     f"{_fmt(r.get('record_accuracy'))} | {_fmt(r.get('record_macro_f1'))} | "
                     f"{_fmt(r['agree_fp32'])} | {_fmt(r.get('agree_ours'))} | {r['status']} |")
    if res.get("paired_latency"):
        lines += ["", "Paired latency (one process, runtimes in turn, same load on each):", ""]
        lines += [f"- {p['row']}: median {p['median_ms']:.3f} ms, min {p['min_ms']:.3f} ms"
                  for p in res["paired_latency"]["paired"]]
    g = res["goals"]
    if g:
        lines += ["", "Goals (measured):", ""]
        lines += [f"- {k}: {v:.3f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in g.items()]
    lines += ["", "agree fp32: argmax agreement with the fp32 PyTorch model; agree ours: with our C runtime "
              "at the same precision (int8 rows vs the dense int8 model.bin, plan rows vs the plan's "
              "model.bin, fp32 vs the dense int8 model.bin)."]
    notes = [(r["runtime"], n) for r in res["rows"] for n in r["notes"]]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {rt}: {n}" for rt, n in notes]
    if res.get("mcu"):
        from ecg_edge.mobile.mcu_bench import mcu_markdown

        lines += ["", mcu_markdown(res["mcu"])]
    return "\n".join(lines) + "\n"


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in res["rows"] if r["status"] == "ok" and r["macro_f1"] is not None]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    markers = "osD^vP*Xhp"
    for i, r in enumerate(ok):
        style = {"marker": markers[i % len(markers)], "s": 60, "color": f"C{i}", "label": r["runtime"]}
        axes[0].scatter(r["bytes"], r["macro_f1"], **style)
        if r["latency_ms"]:
            axes[1].scatter(r["latency_ms"]["median"], r["macro_f1"], **style)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8, frameon=False)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("file bytes")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("host latency, median ms (1 thread)")
    for ax in axes:
        ax.set_ylabel("macro-F1 (test)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{Path(res['checkpoint']).name} on {Path(res['data']).name}: bytes / latency vs macro-F1")
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    with tempfile.NamedTemporaryFile(suffix=".png", dir=path.parent, delete=False) as tmp:
        fig.savefig(tmp.name, dpi=120)
    os.replace(tmp.name, path)
    plt.close(fig)


@click.command(help="Mobile and microcontroller runtimes side by side on one model (bench/mobile.*).")
def command() -> None:
    """`make bench`: the default job's model if trained (ecg_edge.paths), else a seeded,
    untrained default ResNet1D on a small synthetic chapman4 set (accuracy then meaningless and
    labelled so; bytes, memory and latency are still the real figures)."""
    from ecg_edge import paths

    out = Path("bench") / "mobile"
    ckpt_path, data, plan_path = paths.default_checkpoint(), paths.default_dataset_dir(), None
    label = "trained default job"
    if not (ckpt_path.is_file() and (data / "manifest.json").is_file()):
        ckpt_path, data = make_untrained_demo(out / "demo")
        label = "UNTRAINED seeded ResNet1D on synthetic chapman4 (accuracy meaningless)"
    cand = paths.default_compress_dir() / "plan.json"
    if cand.is_file():
        plan_path = cand
    res = run_bench(ckpt_path, data, out, plan_path, n_latency=100, target="cortex-m4")
    Path("bench").mkdir(exist_ok=True)
    md = f"Model: {label}\n\n" + to_markdown(res)
    write_text(Path("bench") / "mobile.md", md)
    write_json(Path("bench") / "mobile.json", {**res, "label": label})
    print(md)


def make_untrained_demo(root: Path, n: int = 200, seed: int = 0) -> tuple[Path, Path]:
    from ecg_edge.checkpoint import save_checkpoint
    from ecg_edge.data.synth import make_synthetic_dataset
    from ecg_edge.models import build_model

    data = root / "chapman4"
    if not (data / "manifest.json").is_file():
        make_synthetic_dataset("chapman4", n, 1, seed, data)
    ds = load_prepared(data)
    torch.manual_seed(seed)
    m = build_model("resnet1d", {"in_leads": ds.manifest.n_leads, "n_samples": ds.manifest.n_samples,
                                 "n_classes": len(ds.classes)})
    ck = Checkpoint("resnet1d", m.cfg.to_dict(), m.state_dict(), list(ds.classes),
                    {"task": ds.manifest.task, "fs": ds.manifest.fs, "leads": ds.manifest.n_leads,
                     "n_samples": ds.manifest.n_samples, "dataset_dir": str(data)})
    path = root / "untrained.pt"
    save_checkpoint(path, ck)
    return path, data


main = entry_point(command, "python -m ecg_edge.mobile.bench")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
