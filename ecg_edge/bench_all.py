"""`make bench`: run every area's benchmark and collect the results under bench/.

Each area owns a `bench.py` with `main()` that writes bench/<area>.json and bench/<area>.md.
Benchmarks measure speed and memory; tests never assert on them.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

import click

from ecg_edge.atomic import write_text
from ecg_edge.options import entry_point

AREAS = [
    ("data", "ecg_edge.data.bench"),
    ("train", "ecg_edge.train.bench"),
    ("compress", "ecg_edge.compress.bench"),
    ("runtime", "ecg_edge.runtime.bench"),
    ("sim", "ecg_edge.sim.bench"),
    ("mobile", "ecg_edge.mobile.bench"),
]


@click.command(help="Run every area's benchmark; results under bench/.")
def command() -> int:
    out = Path("bench")
    out.mkdir(exist_ok=True)
    lines = ["# ecg-edge benchmarks", "", "| area | status | seconds | details |", "|---|---|---|---|"]
    failed = 0
    for area, module in AREAS:
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError:
            lines.append(f"| {area} | absent (no {module}) | - | - |")
            continue
        try:
            rc = mod.main()
            status = "ok" if rc == 0 else f"FAILED (exit {rc})"
            failed += rc != 0
        except Exception:  # a failing benchmark must not hide the others' results
            failed += 1
            status = "FAILED"
            traceback.print_exc()
        dt = time.perf_counter() - t0
        md = out / f"{area}.md"
        lines.append(f"| {area} | {status} | {dt:.1f} | {md if md.exists() else '-'} |")
        print(f"[bench] {area}: {status} in {dt:.1f} s", flush=True)
    write_text(out / "README.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


main = entry_point(command, "python -m ecg_edge.bench_all")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
