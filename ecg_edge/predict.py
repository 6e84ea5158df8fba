"""`ecg-edge predict MODEL RECORD_OR_FOLDER`: a trained checkpoint or a shipped model.bin on raw
recordings, with the preprocessing the model was trained with read from the model itself
(checkpoint data / model.bin META 'preprocessing'), never retyped. The windows are cut by the
same code as `data prepare` (ecg_edge.data.windows), so the figures equal `evaluate`'s on the
same windows. Outputs: per-window and per-record predictions with probabilities (CSV + JSON)
and a PNG of a record with its windows coloured by prediction."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from ecg_edge.errors import DataError, EcgEdgeError
from ecg_edge.options import POSITIVE


@dataclass
class Recipe:
    """What turns a raw recording into this model's input: read back from the model."""

    classes: list[str]
    leads: list[str]
    preprocess: Any  # PreprocessConfig
    windowing: Any  # WindowingConfig
    task: str = ""


def recipe_from(pre_dict: dict[str, Any] | None, classes: list[str], leads: list[str], fs: float,
                n_samples: int, task: str, where: str) -> Recipe:
    from ecg_edge.data.preprocess import PreprocessConfig
    from ecg_edge.data.windows import WindowingConfig

    if not pre_dict:
        raise EcgEdgeError(f"{where}: carries no preprocessing record (trained before it was stored); "
                           "re-train or re-export it with this version to predict on raw recordings")
    known = {k: pre_dict[k] for k in PreprocessConfig.__dataclass_fields__ if k in pre_dict}
    if known.get("band") is not None:
        known["band"] = tuple(known["band"])
    pre = PreprocessConfig(**known)
    if abs(pre.fs - fs) > 1e-3 or pre.n_samples != n_samples:
        raise EcgEdgeError(f"{where}: preprocessing says {pre.fs:g} Hz x {pre.n_samples} samples but the model "
                           f"takes {fs:g} Hz x {n_samples}; the model file is inconsistent")
    return Recipe(list(classes), list(leads), pre, WindowingConfig.from_dict(pre_dict.get("windowing")), task)


class Model:
    """A checkpoint (PyTorch fp32) or a model.bin (integer executor / C runtime) behind one
    interface: float logits of normalised windows (N, leads, samples)."""

    def __init__(self, path: Path, runtime: str = "numpy") -> None:
        self.path = path
        if not path.is_file():
            raise EcgEdgeError(f"{path}: no such model (expected a .pt checkpoint or a model.bin)")
        if path.suffix == ".bin":
            from ecg_edge.modelbin.reader import read_model_file

            self.mb = read_model_file(path)
            meta = self.mb.meta
            L, C = self.mb.input_shape
            try:
                pre = json.loads(meta.get("preprocessing") or "{}")
            except json.JSONDecodeError as exc:
                raise EcgEdgeError(f"{path}: META 'preprocessing' is not JSON ({exc})") from exc
            self.recipe = recipe_from(pre, self.mb.classes, list(meta.get("lead_names") or [])[:C],
                                      float(meta.get("fs", 0.0)), L, str(meta.get("task", "")), str(path))
            out = self.mb.tensors[self.mb.output_tensor]
            self.out_scale, self.out_zero = float(out.scale), int(out.zero_point)
            self.kind, self.runtime = "model.bin", runtime
        else:
            if runtime != "numpy":
                raise EcgEdgeError(f"--runtime {runtime} applies to a model.bin; {path} is a PyTorch checkpoint")
            from ecg_edge.checkpoint import load_checkpoint
            from ecg_edge.models.registry import model_from_checkpoint

            ck = load_checkpoint(path)
            d = ck.data or {}
            self.net = model_from_checkpoint(ck, str(path))
            self.recipe = recipe_from(d.get("preprocessing"), list(ck.classes), list(d.get("leads") or []),
                                      float(d.get("fs", 0.0)), int(d.get("n_samples", 0)), str(d.get("task", "")),
                                      str(path))
            self.kind, self.runtime = "checkpoint", "torch-fp32"

    def logits(self, X: np.ndarray) -> np.ndarray:
        """Float logits (N, classes); a model.bin's int8 logits are dequantised by its output scale."""
        if self.kind == "model.bin":
            from ecg_edge.report.shipped import run_split

            q = run_split(self.mb, X, self.runtime).astype(np.float32)
            return (q - self.out_zero) * self.out_scale
        from ecg_edge.models.predict import predict

        return predict(self.net, X)


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class RecordResult:
    record: str
    file: str
    fs: float
    seconds: float
    starts: np.ndarray  # window starts at the model's rate
    logits: np.ndarray  # (windows, classes)
    padded: bool
    signal: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))  # filtered first lead, for the plot


def windows_of(path: Path, recipe: Recipe, fs: float | None) -> tuple[np.ndarray, np.ndarray, bool, float, float,
                                                                      np.ndarray]:
    """(windows, starts, padded, record fs, seconds, filtered first lead) of one raw record file."""
    from ecg_edge.data.leadsel import lead_indices
    from ecg_edge.data.sources.folder import read_record_file
    from ecg_edge.data.windows import cut_windows, filter_record

    x, rfs, names = read_record_file(path, fs)
    if x.ndim != 2 or x.size == 0:
        raise DataError(f"{path}: zero-length record")
    idx = lead_indices(names, recipe.leads)
    if idx is None:
        raise DataError(f"{path}: has leads {','.join(names)}; the model needs {','.join(recipe.leads)}")
    x = x[idx]
    if not np.isfinite(x).all():
        raise DataError(f"{path}: NaN or infinite samples")
    secs = x.shape[1] / rfs
    if secs < recipe.windowing.min_seconds:
        raise DataError(f"{path}: {secs:.2f} s, shorter than the {recipe.windowing.min_seconds:g} s the model's "
                        "data kept (--min-seconds)")
    xf = filter_record(x, rfs, recipe.preprocess)
    w, starts, padded = cut_windows(xf, recipe.preprocess, recipe.windowing)
    return w, starts, padded, float(rfs), float(secs), xf[0]


def find_inputs(target: Path) -> list[Path]:
    from ecg_edge.data.sources.folder import find_record_files

    if target.is_file():
        return [target]
    if target.is_dir():
        files = sorted(find_record_files(target).values())
        if not files:
            raise DataError(f"{target}: no records (.hea, .mat or signal .csv files) found")
        return files
    raise DataError(f"{target}: no such record file or folder")


def predict_records(model: Model, inputs: list[Path], fs: float | None = None
                    ) -> tuple[list[RecordResult], dict[str, str]]:
    """Results of the readable records, and file -> reason for the others."""
    from ecg_edge.progress import progress

    done, skipped = [], {}
    for p in progress(inputs, desc="predict", unit="rec"):
        try:
            w, starts, padded, rfs, secs, lead0 = windows_of(p, model.recipe, fs)
        except DataError as exc:
            skipped[str(p)] = str(exc)
            continue
        done.append(RecordResult(p.stem, str(p), rfs, secs, starts, model.logits(w), padded, lead0))
    return done, skipped


def summarise(model: Model, results: list[RecordResult], skipped: dict[str, str]) -> dict[str, Any]:
    from ecg_edge.metrics import RECORD_AGGREGATION

    r, classes, n = model.recipe, model.recipe.classes, model.recipe.preprocess.n_samples
    fs = r.preprocess.fs
    recs, wins = [], []
    for res in results:
        p = softmax(res.logits)
        for i, (s, pi) in enumerate(zip(res.starts, p, strict=True)):
            wins.append({"record": res.record, "window": i, "start_s": round(float(s) / fs, 4),
                         "end_s": round(float(s + n) / fs, 4), "prediction": classes[int(pi.argmax())],
                         "probabilities": {c: float(v) for c, v in zip(classes, pi, strict=True)},
                         "logits": [float(v) for v in res.logits[i]]})
        mean = res.logits.mean(axis=0)
        pm = softmax(mean)
        recs.append({"record": res.record, "file": res.file, "fs": res.fs, "seconds": round(res.seconds, 3),
                     "windows": len(res.starts), "padded": res.padded, "prediction": classes[int(pm.argmax())],
                     "probabilities": {c: float(v) for c, v in zip(classes, pm, strict=True)}})
    return {"model": str(model.path), "kind": model.kind, "runtime": model.runtime, "task": r.task,
            "classes": classes, "leads": r.leads, "preprocessing": r.preprocess.to_dict(),
            "windowing": r.windowing.to_dict(), "record_aggregation": RECORD_AGGREGATION,
            "records": recs, "windows": wins, "skipped": skipped}


def _csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def plot_record(res: RecordResult, model: Model, dest: Path) -> None:
    """The record's first lead (as filtered for the model) with each window shaded by its
    predicted class; the record's mean-logit prediction in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ecg_edge.atomic import atomic_path

    classes, fs = model.recipe.classes, model.recipe.preprocess.fs
    n = model.recipe.preprocess.n_samples
    colours = plt.get_cmap("tab10")
    t = np.arange(res.signal.shape[0]) / fs
    fig, ax = plt.subplots(figsize=(min(24.0, max(8.0, res.seconds / 4)), 3.2))
    ax.plot(t, res.signal, lw=0.5, color="black")
    pred = res.logits.argmax(1)
    for s, k in zip(res.starts, pred, strict=True):
        ax.axvspan(s / fs, min(s + n, res.signal.shape[0]) / fs, color=colours(int(k) % 10), alpha=0.18, lw=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours(i % 10), alpha=0.4) for i in range(len(classes))]
    ax.legend(handles, classes, loc="upper right", fontsize=7, ncol=min(len(classes), 6))
    rec_pred = classes[int(res.logits.mean(0).argmax())]
    ax.set_title(f"{res.record}: {len(res.starts)} windows, record prediction {rec_pred} ({model.kind})", fontsize=9)
    ax.set_xlabel("s")
    ax.set_xlim(0, max(t[-1] if len(t) else 1.0, n / fs))
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def write_outputs(summary: dict[str, Any], results: list[RecordResult], model: Model, out: Path,
                  plot: str) -> list[Path]:
    from ecg_edge.atomic import write_json, write_text

    classes = summary["classes"]
    wrows = [["record", "window", "start_s", "end_s", "prediction", *(f"p_{c}" for c in classes)]]
    wrows += [[w["record"], w["window"], w["start_s"], w["end_s"], w["prediction"],
               *(f"{w['probabilities'][c]:.6f}" for c in classes)] for w in summary["windows"]]
    rrows = [["record", "file", "seconds", "windows", "padded", "prediction", *(f"p_{c}" for c in classes)]]
    rrows += [[r["record"], r["file"], r["seconds"], r["windows"], int(r["padded"]), r["prediction"],
               *(f"{r['probabilities'][c]:.6f}" for c in classes)] for r in summary["records"]]
    paths = [out / "predictions.json", out / "windows.csv", out / "records.csv"]
    write_json(paths[0], summary)
    write_text(paths[1], _csv(wrows))
    write_text(paths[2], _csv(rrows))
    chosen = results if plot == "all" else results[:1] if plot == "first" else []
    for res in chosen:
        dest = out / f"{res.record}.png"
        plot_record(res, model, dest)
        paths.append(dest)
    return paths


@click.command("predict")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("target", metavar="RECORD_OR_FOLDER", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output folder [default: ecg-edge-out/predict]")
@click.option("--fs", type=POSITIVE, default=None, help="sampling rate of bare .mat / signal .csv records (Hz)")
@click.option("--runtime", type=click.Choice(("numpy", "c")), default="numpy", show_default=True,
              help="for a model.bin: the integer numpy reference or the C runtime")
@click.option("--plot", type=click.Choice(("first", "all", "none")), default="first", show_default=True,
              help="PNG of which records, windows coloured by prediction")
def predict(model_path: Path, target: Path, out_dir: Path | None, fs: float | None, runtime: str, plot: str) -> None:
    """Predict MODEL (best.pt / compressed.pt or model.bin) on raw recordings (WFDB .hea, .mat,
    signal .csv): per-window and per-record classes and probabilities."""
    from ecg_edge import paths
    from ecg_edge.outputs import result_set

    out = out_dir or paths.work_root() / "predict"
    with result_set(out, command="predict", inputs=[model_path, target], explicit=out_dir is not None) as stage:
        model = Model(model_path, runtime)
        inputs = find_inputs(target)
        results, skipped = predict_records(model, inputs, fs)
        for f, why in skipped.items():
            click.echo(f"ecg-edge: skipped {f}: {why}", err=True)
        if not results:
            raise DataError(f"{target}: no record could be predicted ({len(skipped)} skipped; first: "
                            f"{next(iter(skipped.values()), 'none')})")
        summary = summarise(model, results, skipped)
        written = [out / p.name for p in write_outputs(summary, results, model, stage, plot)]
    r = model.recipe
    click.echo(f"{model.kind} {model_path} ({model.runtime}): {len(results)} records, {len(summary['windows'])} "
               f"windows of {r.preprocess.n_samples} samples at {r.preprocess.fs:g} Hz, leads {','.join(r.leads)}; "
               f"record prediction = {summary['record_aggregation']}")
    w = max(8, *(len(c) for c in r.classes))
    click.echo(f"{'record':<16} {'windows':>7} {'prediction':<{w}} " + " ".join(f"{c[:w]:>{w}}" for c in r.classes))
    for rec in summary["records"][:50]:
        click.echo(f"{rec['record'][:16]:<16} {rec['windows']:>7} {rec['prediction']:<{w}} "
                   + " ".join(f"{rec['probabilities'][c]:>{w}.3f}" for c in r.classes))
    if len(summary["records"]) > 50:
        click.echo(f"... {len(summary['records']) - 50} more in {out / 'records.csv'}")
    click.echo(f"wrote {', '.join(str(p) for p in written)}")
