"""The Cortex-M side of `ecg-edge bench --target`: our model.bin files and TFLite Micro +
CMSIS-NN's .tflite of the same weights (same calibration windows), on the same simulated board,
built with the same compiler at -O2 and counted by the same QEMU instruction-count plugin from
one invoke's start marker to its end marker. Counts are exact and repeatable, so the ratios are
firm even on a loaded machine. Also the per-function profile of both, where the time goes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ecg_edge.errors import EcgEdgeError

PROFILE_TOP = 12


def _ours_row(name: str, path: Path, X: np.ndarray, target: str, log) -> tuple[dict[str, Any], np.ndarray]:
    from ecg_edge.modelbin.executor import quantize_inputs
    from ecg_edge.modelbin.reader import read_model
    from ecg_edge.sim.api import simulate

    data = path.read_bytes()
    xq = quantize_inputs(read_model(data, str(path)), X)
    r = simulate(data, xq, target, "O2")
    log(f"[bench] {name} on {target}: {r.instructions[0]:,} instructions")
    return {"runtime": name, "file": str(path), "status": "ok", "instructions": min(r.instructions),
            "instructions_all": r.instructions, "macs": r.macs, "macs_per_instruction": r.macs_per_instruction,
            "code_bytes": r.flash["code"], "model_bytes": r.flash["model"], "arena_bytes": r.ram["arena"],
            "ram_bytes": r.ram["total"], "stack_peak": r.ram["stack_peak"],
            "parity": f"{r.parity.matches}/{r.n_windows} vs host C runtime" if r.parity and r.parity.host else "-",
            "est_ms": r.est_ms}, xq


def _tflm_row(path: Path, X: np.ndarray, target: str, macs: int | None, log) -> tuple[dict[str, Any], list]:
    from ecg_edge.mobile.runners import TFLMRunner
    from ecg_edge.sim.profile import symbol_profile
    from ecg_edge.sim.tflm import demangle, run_tflm
    from ecg_edge.sim.toolchain import find_toolchain

    host = TFLMRunner(path)  # the python TFLM interpreter: input quantization and reference logits
    xq = host.quantize(X)
    data = path.read_bytes()
    with tempfile.TemporaryDirectory() as td:
        prof = Path(td) / "profile.txt"
        r = run_tflm(data, xq, target, log=log, profile_path=prof)
        tc = find_toolchain()
        per = symbol_profile(tc.arm_nm, Path(r.elf), prof)
        per = list(zip(demangle([f for f, _ in per], tc), [c for _, c in per], strict=True))
    host.prepare(X)
    ref = np.stack([np.asarray(host.invoke_one(i)).reshape(-1) for i in range(len(X))]).astype(np.int8)
    same = int(np.all(ref == r.logits, axis=1).sum())
    log(f"[bench] TFLM + CMSIS-NN on {target}: {r.instructions[0]:,} instructions")
    n = min(r.instructions)
    return {"runtime": "TFLite Micro + CMSIS-NN (int8)", "file": str(path), "status": "ok", "instructions": n,
            "instructions_all": r.instructions, "macs": macs, "macs_per_instruction": macs / n if macs else None,
            "code_bytes": r.code_bytes, "model_bytes": r.model_bytes, "arena_bytes": r.arena_used,
            "ram_bytes": r.ram_total, "stack_peak": r.stack_peak,
            "parity": f"{same}/{len(X)} vs host TFLM interpreter"}, [(f, c / len(X)) for f, c in per]


def mcu_side_by_side(int8_bin: Path, tflite: Path | None, X: np.ndarray, target: str = "cortex-m4",
                     plan_bin: Path | None = None, log=print) -> dict[str, Any]:
    """Rows (ours int8, ours plan, TFLM + CMSIS-NN), goals and per-function profiles. X: float
    windows (N, leads, samples); each runtime quantizes them with its own input scale."""
    from ecg_edge.sim.profile import profile
    from ecg_edge.sim.tflm import TflmUnavailable, tflm_sources

    rows: list[dict[str, Any]] = []
    profiles: dict[str, list] = {}
    int8_row, xq = _ours_row("ours C runtime (int8 dense)", int8_bin, X, target, log)
    rows.append(int8_row)
    profiles[int8_row["runtime"]] = profile(int8_bin.read_bytes(), xq[:1], target)
    if plan_bin is not None:
        rows.append(_ours_row("ours C runtime (plan)", plan_bin, X, target, log)[0])
    tflm_row: dict[str, Any] | None = None
    try:
        tflm_sources()
        if tflite is None or not tflite.is_file():
            raise TflmUnavailable(f"no .tflite of the same weights ({tflite or 'not exported'})")
        tflm_row, prof = _tflm_row(tflite, X, target, int8_row["macs"], log)
        profiles[tflm_row["runtime"]] = prof
        rows.append(tflm_row)
    except (TflmUnavailable, ImportError) as exc:
        log(f"[bench] TFLM + CMSIS-NN row skipped: {exc}")
        rows.append({"runtime": "TFLite Micro + CMSIS-NN (int8)", "status": f"skipped: {exc}"})
    except EcgEdgeError as exc:
        rows.append({"runtime": "TFLite Micro + CMSIS-NN (int8)", "status": f"failed: {exc}"})
    goals: dict[str, Any] = {}
    if tflm_row is not None:
        goals["instructions_ours_int8_over_cmsis_nn"] = int8_row["instructions"] / tflm_row["instructions"]
        goals["instructions_ours_int8_over_cmsis_nn_goal_le_0.55"] = goals["instructions_ours_int8_over_cmsis_nn"] <= 0.55
        goals["ram_ours_int8_over_cmsis_nn"] = int8_row["ram_bytes"] / tflm_row["ram_bytes"]
        goals["code_ours_over_cmsis_nn"] = int8_row["code_bytes"] / tflm_row["code_bytes"]
    if int8_row.get("macs_per_instruction") is not None:
        goals["macs_per_instruction_ours_int8"] = int8_row["macs_per_instruction"]
        goals["macs_per_instruction_goal_ge_0.72"] = int8_row["macs_per_instruction"] >= 0.72
    if plan_bin is not None:
        goals["instructions_ours_plan_over_ours_int8"] = rows[1]["instructions"] / int8_row["instructions"]
        goals["instructions_plan_goal_le_1"] = goals["instructions_ours_plan_over_ours_int8"] <= 1.0
    return {"target": target, "n_windows": int(len(X)), "rows": rows, "goals": goals,
            "profiles": {k: [[f, int(c)] for f, c in v[:PROFILE_TOP]] + [["total", int(sum(c for _, c in v))]]
                         for k, v in profiles.items()}}


def mcu_markdown(res: dict[str, Any]) -> str:
    lines = [f"## Side by side on simulated {res['target']} ({res['n_windows']} windows, -O2, exact instruction "
             "counts of one invoke)", "",
             "| runtime | instructions / inference | ratio to TFLM + CMSIS-NN | MACs / instr | code B | model B | "
             "arena B | RAM B (static+arena+window+stack) | logits | status |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    tflm = next((r for r in res["rows"] if r["runtime"].startswith("TFLite") and r["status"] == "ok"), None)
    for r in res["rows"]:
        if r["status"] != "ok":
            lines.append(f"| {r['runtime']} | - | - | - | - | - | - | - | - | {r['status']} |")
            continue
        ratio = f"{r['instructions'] / tflm['instructions']:.3f}" if tflm else "-"
        mpi = f"{r['macs_per_instruction']:.3f}" if r.get("macs_per_instruction") else "-"
        lines.append(f"| {r['runtime']} | {r['instructions']:,} | {ratio} | {mpi} | {r['code_bytes']:,} | "
                     f"{r['model_bytes']:,} | {r['arena_bytes']:,} | {r['ram_bytes']:,} | {r['parity']} | ok |")
    lines += ["", "Goals (measured):", ""]
    lines += [f"- {k}: {v:.3f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in res["goals"].items()]
    for name, rows in res["profiles"].items():
        total = rows[-1][1] or 1
        lines += ["", f"Where the instructions go, {name} (per inference, by function):", "",
                  "| function | instructions | share |", "|---|---:|---:|"]
        lines += [f"| `{f}` | {c:,} | {c / total:.1%} |" for f, c in rows[:-1]]
        lines.append(f"| total | {total:,} | 100% |")
    lines += ["", "TFLM + CMSIS-NN: TFLite Micro's Makefile build (TARGET=cortex_m_generic, "
              "OPTIMIZED_KERNEL_DIR=cmsis_nn, -O2) from the shared source tarball, int8-only kernel "
              "registrations (ecg_edge/sim/tflm.py, firmware_sim/tflm/tflm_main.cc). RAM of TFLM: static + "
              "arena used (input tensor inside) + stack peak; ours: static + arena + input window + stack peak."]
    return "\n".join(lines) + "\n"
