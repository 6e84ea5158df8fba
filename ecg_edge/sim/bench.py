"""Benchmark of the simulated targets: exact instructions per inference, estimated ms, flash
and RAM against the budgets and host parity for the default model on all four targets (-O2,
plus -Os on cortex-m4), MACs per instruction on cortex-m4 (goal >= 0.25), and the -icount
cross-check of the instruction counts. Writes bench/sim.json and bench/sim.md.

The default model is ecg-edge-out/model.bin (the main job's output) when it exists, else the
default ResNet1D architecture with seeded random int8 weights (see default_model). Inputs: the first windows of the main job's test split
when the dataset exists, else seeded random int8 windows."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np

from ecg_edge.options import POSITIVE_INT, entry_point
from ecg_edge.paths import default_dataset_dir, default_model_bin

MACS_PER_INSTRUCTION_GOAL = 0.25


def default_model() -> tuple[Path, bytes]:
    """The main job's model.bin; else the default ResNet1D architecture (ResNet1DConfig()) with
    seeded random weights, int8 dense, packed by the model.bin packer (same compute as the
    default model before compression)."""
    p = default_model_bin()
    if p.is_file():
        return p, p.read_bytes()
    from dataclasses import asdict

    from ecg_edge.modelbin.golden import build_random_model, default_resnet_config

    data, _, _ = build_random_model(0, 8, 0.0, **asdict(default_resnet_config()))
    return Path("default-architecture ResNet1D (ResNet1DConfig(), seeded random int8 weights)"), data


@click.command(help="Benchmark of the simulated targets (bench/sim.json, bench/sim.md).")
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="model.bin [default: main job's, else the default architecture]")
@click.option("--n", "n", type=POSITIVE_INT, default=3, show_default=True, help="windows per target")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("bench"), show_default=True)
def command(model: Path | None, n: int, out: Path) -> None:
    from ecg_edge.atomic import write_json, write_text
    from ecg_edge.sim.api import simulate
    from ecg_edge.sim.crosscheck import icount_crosscheck
    from ecg_edge.sim.inputs import dataset_windows, random_windows
    from ecg_edge.sim.result import breakdown_markdown, markdown_table
    from ecg_edge.targets.registry import TARGETS

    path, data = (model, model.read_bytes()) if model else default_model()
    ds = default_dataset_dir()
    if (ds / "manifest.json").is_file() and path == default_model_bin():
        windows, _ = dataset_windows(data, ds, "test", n, source=str(path))
        inputs = f"{ds} test split, first {windows.shape[0]} windows"
    else:
        windows = random_windows(data, n, seed=0, source=str(path))
        inputs = f"{windows.shape[0]} random int8 windows (seed 0)"

    t0 = time.time()
    results = [simulate(data, windows, name, "O2") for name in TARGETS]
    results.append(simulate(data, windows, "cortex-m4", "Os"))
    scalar = simulate(data, windows[:1], "cortex-m4", "O2", dsp=False)
    cc = icount_crosscheck(data, windows[:1], "cortex-m4")
    repeat = simulate(data, windows, "cortex-m4", "O2")
    m4 = results[0]
    mpi = m4.macs_per_instruction
    doc = {
        "model": str(path), "model_bytes": len(data), "inputs": inputs,
        "results": [{k: v for k, v in r.to_dict().items() if k != "logits"} for r in results],
        "cortex_m4_macs_per_instruction": mpi, "macs_per_instruction_goal": MACS_PER_INSTRUCTION_GOAL,
        "goal_met": None if mpi is None else mpi >= MACS_PER_INSTRUCTION_GOAL,
        "cortex_m4_scalar_kernels": {"instructions": scalar.instructions[0],
                                     "macs_per_instruction": scalar.macs_per_instruction,
                                     "logits_equal_dsp": bool(np.array_equal(scalar.logits[0], m4.logits[0]))},
        "repeatability": {"runs": 2, "identical": repeat.instructions == m4.instructions,
                          "instructions": m4.instructions},
        "icount_crosscheck": cc.to_dict(),
        "wall_s": time.time() - t0,
    }
    md = [f"# Simulated Cortex-M targets\n\nModel: `{path}` ({len(data)} B). Inputs: {inputs}.\n",
          markdown_table(results), ""]
    md += [breakdown_markdown(r) for r in results[:len(TARGETS)]]
    md.append(f"\nMACs per instruction on cortex-m4 (-O2, dense MACs {m4.macs}, non-zero {m4.macs_nonzero}): "
              f"{'n/a' if mpi is None else f'{mpi:.3f}'} (goal >= {MACS_PER_INSTRUCTION_GOAL}: "
              f"{'met' if doc['goal_met'] else 'NOT met'}).\n")
    md.append(f"Same model with the runtime's scalar kernels only (-DECG_RT_NO_DSP): {scalar.instructions[0]:,} "
              f"instructions, {scalar.macs_per_instruction:.3f} MACs/instruction; logits "
              f"{'identical to' if doc['cortex_m4_scalar_kernels']['logits_equal_dsp'] else 'DIFFERENT from'} the DSP build.\n")
    md.append(f"Repeatability: two runs on cortex-m4 gave {'identical' if doc['repeatability']['identical'] else 'DIFFERENT'} "
              f"instruction counts {m4.instructions}.\n")
    md.append(f"-icount cross-check ({cc.board}, shift={cc.shift}, CMSDK timer at {cc.timer_hz / 1e6:g} MHz): plugin "
              f"{cc.plugin_counts[0]:,} instructions; timer {cc.timer_ticks[0]:,} ticks = "
              f"{cc.timer_instructions[0]:,.1f} instructions; relative difference {cc.max_rel_diff:.2e} "
              f"(the timer reads sit just outside the markers). Plugin under -icount: {cc.plugin_counts_icount[0]:,}.\n")
    md.append("\nEstimated ms = instructions x cycles-per-instruction / clock (QEMU counts instructions, not "
              "cycles; the CPI per core is a stated estimate in ecg_edge/targets/registry.py).\n")
    write_json(out / "sim.json", doc)
    write_text(out / "sim.md", "\n".join(md))
    print("\n".join(md))


main = entry_point(command, "python -m ecg_edge.sim.bench")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
