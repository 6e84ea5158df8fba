"""Data-layer benchmark: synthesis speed and MIT-BIH preparation time -> bench/data.{json,md}.

Run: python -m ecg_edge.data.bench [--out bench] [--n 2000]
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import click

from ecg_edge.atomic import write_json, write_text
from ecg_edge.options import POSITIVE_INT, entry_point
from ecg_edge.paths import data_root


def _synth(task: str, n: int, leads: int) -> dict:
    from ecg_edge.data.synth import SynthConfig, generate

    t, c = time.perf_counter(), time.process_time()
    b = generate(SynthConfig(task=task, n=n, leads=leads, seed=0))
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    return {"what": f"synthesize {task}", "n": n, "leads": leads, "samples": b.X.shape[-1], "seconds": round(dt, 2),
            "cpu_seconds": round(cpu, 2),
            "windows_per_s": round(n / dt, 1), "noise": b.info["noise"]}


def _prepare_mitdb(tmp: Path) -> dict | None:
    from ecg_edge.data.prepare import PrepareConfig, prepare

    root = data_root() / "mitdb"
    if not root.is_dir():
        return None
    t, c = time.perf_counter(), time.process_time()
    ds = prepare(PrepareConfig("mitdb", str(root), "mitdb-rhythm"), tmp / "mitdb")
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    return {"what": "prepare mitdb-rhythm", "records": ds.manifest.provenance["records_read"],
            "windows": ds.manifest.provenance["windows"], "seconds": round(dt, 2), "cpu_seconds": round(cpu, 2)}


@click.command(help=__doc__)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("bench"), show_default=True)
@click.option("--n", "n", type=POSITIVE_INT, default=2000, show_default=True)
def command(out: Path, n: int) -> None:
    os.environ.setdefault("ECG_EDGE_NO_PROGRESS", "1")
    rows = [_synth("chapman4", n, 1), _synth("cpsc9", max(n // 10, 9), 12)]
    with tempfile.TemporaryDirectory() as tmp:
        m = _prepare_mitdb(Path(tmp))
    if m:
        rows.append(m)
    res = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "results": rows}
    write_json(out / "data.json", res)
    md = ["# data layer benchmark", "", "wall seconds depend on machine load; CPU seconds are this process's own.", "",
          "| what | size | wall s | CPU s | rate (wall) |", "|---|---|---|---|---|"]
    for r in rows:
        size = (f"{r['n']} x {r['leads']} lead(s) x {r['samples']}" if "n" in r
                else f"{r['records']} records -> {r['windows']} windows")
        rate = f"{r['windows_per_s']} windows/s" if "windows_per_s" in r else ""
        md.append(f"| {r['what']} | {size} | {r['seconds']} | {r['cpu_seconds']} | {rate} |")
    write_text(out / "data.md", "\n".join(md) + "\n")
    print("\n".join(md))


main = entry_point(command, "python -m ecg_edge.data.bench")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
