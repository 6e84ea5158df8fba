"""Measure one runtime on one model in a fresh process: predictions on the test split, host
latency of single-sample inferences, process peak RSS, and (TFLite Micro) the arena used.

Run in a subprocess by the benchmark so that each runtime's peak RSS is its own and one
runtime's crash cannot take the others down:
    python -m ecg_edge.mobile.measure --runtime litert --model m.tflite --x X.npy --out DIR
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

import click
import numpy as np


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_kib() -> int:
    """This process's own peak RSS. VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss
    across execve, so a child spawned by a big parent (torch loaded) would report the parent's."""
    hwm = _status_kib("VmHWM")
    return hwm if hwm is not None else int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def measure(runtime: str, model: Path, X: np.ndarray, n_latency: int, warmup: int = 5,
            tflm_arena: int | None = None) -> tuple[np.ndarray, dict]:
    from ecg_edge.mobile.runners import RUNNERS, TFLMRunner

    rss_before = _status_kib("VmRSS") or 0
    t0 = time.perf_counter()
    cls = RUNNERS[runtime]
    runner = cls(model, tflm_arena) if (runtime == "tflm" and tflm_arena) else cls(model)
    load_s = time.perf_counter() - t0
    logits = runner.predict(X)
    runner.prepare(X[: max(1, min(len(X), 16))])
    m = min(len(X), 16)
    for i in range(warmup):
        runner.invoke_one(i % m)
    lat = np.empty(n_latency, dtype=np.float64)
    for i in range(n_latency):
        t = time.perf_counter_ns()
        runner.invoke_one(i % m)
        lat[i] = (time.perf_counter_ns() - t) / 1e6
    info = {
        "runtime": runtime, "model": str(model), "load_s": load_s, "n_latency": n_latency,
        "latency_ms": {} if n_latency == 0 else {
            "median": float(np.median(lat)), "p10": float(np.percentile(lat, 10)),
            "p90": float(np.percentile(lat, 90)), "min": float(lat.min()),
            "iqr": float(np.percentile(lat, 75) - np.percentile(lat, 25))},
        "peak_rss_kib": peak_rss_kib(),
        "rss_before_model_kib": rss_before,
    }
    if isinstance(runner, TFLMRunner):
        info["tflm_arena"] = runner.arena_report()
    if runtime == "ours":
        info["arena_bytes"] = runner.arena_size
    return logits, info


def measure_paired(specs: list[tuple[str, Path]], X: np.ndarray, n_latency: int, warmup: int = 5) -> dict:
    """Latency of several runtimes in one process, inference by inference in turn, so that a
    busy host's load falls on all of them alike; the ratios are the figures to trust there."""
    from ecg_edge.mobile.runners import RUNNERS

    runners = [RUNNERS[rt](path) for rt, path in specs]
    m = max(1, min(len(X), 16))
    for r in runners:
        r.prepare(X[:m])
        for i in range(warmup):
            r.invoke_one(i % m)
    lat = np.empty((len(runners), n_latency), dtype=np.float64)
    for i in range(n_latency):
        for j, r in enumerate(runners):
            t = time.perf_counter_ns()
            r.invoke_one(i % m)
            lat[j, i] = (time.perf_counter_ns() - t) / 1e6
    return {"paired": [{"runtime": rt, "model": str(p), "median_ms": float(np.median(lat[j])),
                        "min_ms": float(lat[j].min())} for j, (rt, p) in enumerate(specs)],
            "n_latency": n_latency}


@click.command()
@click.option("--runtime", type=click.Choice(["ort", "litert", "tflm", "ours"]))
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pair", multiple=True, help="RUNTIME=MODEL, repeated: interleaved latency only")
@click.option("--x", "x_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--n-latency", default=200, show_default=True)
@click.option("--tflm-arena", default=0, help="TFLite Micro arena bytes (0 = default 4 MiB)")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def main(runtime: str | None, model: Path | None, pair: tuple[str, ...], x_path: Path, n_latency: int,
         tflm_arena: int, out: Path) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    X = np.load(x_path)
    out.mkdir(parents=True, exist_ok=True)
    if pair:
        specs = [(p.split("=", 1)[0], Path(p.split("=", 1)[1])) for p in pair]
        (out / "info.json").write_text(json.dumps(measure_paired(specs, X, n_latency), indent=2))
        return
    if runtime is None or model is None:
        raise click.UsageError("give --runtime and --model, or --pair RUNTIME=MODEL ...")
    logits, info = measure(runtime, model, X, n_latency, tflm_arena=tflm_arena or None)
    np.save(out / "logits.npy", logits)
    (out / "info.json").write_text(json.dumps(info, indent=2))


if __name__ == "__main__":
    sys.exit(main())
