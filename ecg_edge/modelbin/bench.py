"""model.bin benchmark: sizes, arena and executor throughput of the default-size ResNet1D (seeded
weights; sizes and arena do not depend on training) under a few plans. Writes bench/modelbin.json
and bench/modelbin.md. `python -m ecg_edge.modelbin.bench`."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import click
import numpy as np
import torch

from ecg_edge.atomic import write_json, write_text
from ecg_edge.checkpoint import Checkpoint
from ecg_edge.modelbin import executor
from ecg_edge.modelbin.golden import cycling_plan, ecg_like_inputs, random_resnet
from ecg_edge.modelbin.packer import pack
from ecg_edge.modelbin.reader import read_model
from ecg_edge.options import entry_point

PLANS = {"int8 dense": (8, 0.0), "4-bit": (4, 0.0), "4-bit 50% pruned": (4, 0.5),
         "2-bit 80% pruned": (2, 0.8), "1-bit 90% pruned": (1, 0.9)}


@click.command(help=__doc__.splitlines()[0])
def measure() -> dict:
    torch.set_num_threads(1)
    model, cfg = random_resnet(0, n_samples=5120, widths=[16, 24, 32, 48, 64], strides=[1, 2, 2, 2, 2],
                               kernel=7, stem_kernel=15, stem_channels=16)
    ck = Checkpoint("resnet1d", cfg.to_dict(), model.state_dict(), ["SB", "AFIB", "GSVT", "SR"],
                    {"task": "chapman4", "fs": 500.0, "leads": ["II"], "n_samples": 5120})
    calib = ecg_like_inputs(0, 64, 1, 5120)
    X = ecg_like_inputs(1, 64, 1, 5120)
    rows = []
    for name, (bits, sp) in PLANS.items():
        t0 = time.perf_counter()
        res = pack(ck, cycling_plan(model, bits, sp), calib)
        t_pack = time.perf_counter() - t0
        t0 = time.perf_counter()
        mb = read_model(res.data)
        t_read = time.perf_counter() - t0
        xq = executor.quantize_inputs(mb, X)
        t0 = time.perf_counter()
        executor.run(mb, xq)
        t_run = time.perf_counter() - t0
        rows.append({"plan": name, "bytes": len(res.data), "sections": res.sections,
                     "true_cr": res.true_cr, "nominal_cr": res.nominal_cr,
                     "encodings": sorted({li.encoding for li in res.layers if li.params}),
                     "arena_bytes": res.arena_bytes, "arena_lower_bound": res.arena_lower_bound,
                     "pack_seconds": t_pack, "read_seconds": t_read,
                     "executor_windows_per_second": len(X) / t_run})
    result = {"what": "default ResNet1D (107k params, 5120 x 1 input), seeded weights, 64 windows",
              "fp32_param_bytes": rows[0]["bytes"] * rows[0]["true_cr"], "rows": rows,
              "numpy": np.__version__, "machine": platform.machine(), "torch_threads": 1}
    out = Path("bench")
    write_json(out / "modelbin.json", result)
    lines = ["# model.bin", "", result["what"], "",
             "| plan | bytes | WEIGHTS | true CR | nominal CR | encodings | arena / bound | pack s | exec win/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['plan']} | {r['bytes']} | {r['sections']['WEIGHTS']} | {r['true_cr']:.2f} | "
                     f"{r['nominal_cr']:.2f} | {', '.join(r['encodings'])} | {r['arena_bytes']} / "
                     f"{r['arena_lower_bound']} | {r['pack_seconds']:.2f} | {r['executor_windows_per_second']:.1f} |")
    write_text(out / "modelbin.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


main = entry_point(measure, "python -m ecg_edge.modelbin.bench")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
