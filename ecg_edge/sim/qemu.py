"""Running a firmware image under QEMU with the model and job placed by the loader, the
instruction-count plugin attached, and its semihosting output parsed."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.sim.build import FirmwareImage
from ecg_edge.sim.job import FLAG_TIMER, pack_job
from ecg_edge.sim.toolchain import Toolchain
from ecg_edge.targets.registry import Target

# Firmware statuses above the runtime's (firmware_sim/src/job.h) and fault exits (200 + vector).
FIRMWARE_STATUS = {
    64: "job header missing or inconsistent",
    65: "model larger than the linked model region",
    66: "model arena larger than the linked arena",
    67: "window larger than the linked window buffer",
    68: "stack overflow (the painted stack was fully used)",
}


class SimulationError(EcgEdgeError):
    """QEMU or the firmware failed (timeout, fault, malformed output)."""


@dataclass
class WindowOut:
    index: int
    status: int
    logits: bytes
    ticks: int | None = None


@dataclass
class QemuRun:
    exit_code: int
    model_status: int | None
    model_info: dict[str, int]
    windows: list[WindowOut]
    counts: list[int]
    stack: dict[str, int]
    errors: list[str]
    faults: list[str]
    stdout: str = field(repr=False, default="")
    stderr: str = field(repr=False, default="")
    command: list[str] = field(repr=False, default_factory=list)


_KV = re.compile(r"(\w+)=(\S+)")


def parse_output(stdout: str) -> tuple[dict, list[WindowOut], dict[str, int], list[str], list[str]]:
    model: dict[str, int] = {}
    windows: list[WindowOut] = []
    stack: dict[str, int] = {}
    errors: list[str] = []
    faults: list[str] = []
    for line in stdout.splitlines():
        if not line.startswith("ECGSIM "):
            continue
        body = line[len("ECGSIM "):]
        kv = dict(_KV.findall(body))
        if body.startswith("model "):
            model = {k: int(v) for k, v in kv.items()}
        elif body.startswith("window="):
            windows.append(WindowOut(int(kv["window"]), int(kv["status"]), bytes.fromhex(kv.get("logits", "")),
                                     int(kv["ticks"]) if "ticks" in kv else None))
        elif body.startswith("stack_peak="):
            stack = {k: int(v) for k, v in kv.items()}
        elif body.startswith("error "):
            errors.append(body[len("error "):])
        elif body.startswith("fault "):
            faults.append(body)
    return model, windows, stack, errors, faults


def run_image(tc: Toolchain, target: Target, image: FirmwareImage, plugin: Path, model_bytes: bytes = b"",
              windows: np.ndarray | None = None, *, icount_shift: int | None = None, timer: bool = False,
              timeout_s: float = 600.0, profile_path: Path | None = None) -> QemuRun:
    """Run one firmware image; windows (N, L, C) int8 go to the board's I/O window."""
    board = target.board
    sym = image.symbols
    if timer and board.timer_base is None:
        raise EcgEdgeError(f"{target.name} ({target.qemu_machine}) has no CMSDK timer wired for the -icount check")
    with tempfile.TemporaryDirectory(prefix="ecg-sim-") as td:
        tdir = Path(td)
        counts_path = tdir / "counts.txt"
        cmd = [tc.qemu, "-M", target.qemu_machine, "-display", "none", "-monitor", "none", "-serial", "none",
               "-semihosting-config", "enable=on,target=native", "-kernel", str(image.elf),
               "-plugin", f"{plugin},start=0x{sym['ecg_sim_mark_start']:x},end=0x{sym['ecg_sim_mark_end']:x},"
                          f"out={counts_path}" + (f",profile={profile_path}" if profile_path else "")]
        if image.program == "main":
            (tdir / "model.bin").write_bytes(model_bytes)
            w = windows if windows is not None else np.zeros((0, 1, 1), np.int8)
            (tdir / "job.bin").write_bytes(pack_job(len(model_bytes), w, FLAG_TIMER if timer else 0))
            cmd += ["-device", f"loader,file={tdir / 'model.bin'},addr=0x{sym['__model_start']:x},force-raw=on",
                    "-device", f"loader,file={tdir / 'job.bin'},addr=0x{board.io_base:x},force-raw=on"]
        if icount_shift is not None:
            cmd += ["-icount", f"shift={icount_shift}"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise SimulationError(f"QEMU ({target.qemu_machine}) did not finish within {timeout_s:.0f} s") from exc
        counts_text = counts_path.read_text() if counts_path.is_file() else ""
    counts = [int(line.split()[1]) for line in counts_text.splitlines() if line.startswith("count ")]
    # Semihosting console output goes to QEMU's stderr (target=native, no chardev).
    model, wins, stack, errors, faults = parse_output(r.stdout + "\n" + r.stderr)
    if r.returncode != 0 and not (model or wins or errors or faults):
        raise SimulationError(
            f"QEMU ({target.qemu_machine}) exited with {r.returncode} and no firmware output: "
            f"{(r.stderr.strip() or r.stdout.strip())[-1500:]}")
    return QemuRun(exit_code=r.returncode, model_status=model.get("status"), model_info=model, windows=wins,
                   counts=counts, stack=stack, errors=errors, faults=faults, stdout=r.stdout, stderr=r.stderr,
                   command=cmd)
