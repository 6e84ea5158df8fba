"""`simulate`: one model.bin and its input windows on a simulated Cortex-M target.

Builds (cached) the firmware for the target and the model's sizes, runs it under QEMU with the
instruction-count plugin, and checks every window's logits against the host C runtime."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ecg_edge.errors import EcgEdgeError, ModelFormatError
from ecg_edge.sim.build import DEFAULT_STACK, Layout, build_firmware, build_plugin
from ecg_edge.sim.macs import count_macs
from ecg_edge.sim.qemu import FIRMWARE_STATUS, QemuRun, SimulationError, run_image
from ecg_edge.sim.result import Parity, SimResult
from ecg_edge.sim.toolchain import find_toolchain
from ecg_edge.targets.energy import estimate_energy
from ecg_edge.targets.registry import Target, get_target

MODEL_MAGIC = b"ECGB"

# runtime_c/include/ecg_edge_rt.h, ecg_rt_status
RT_STATUS = {
    0: "ok", 1: "NULL pointer", 2: "truncated", 3: "not a model.bin (magic)", 4: "unsupported version",
    5: "CRC32 mismatch", 6: "header field invalid", 7: "section table invalid", 8: "tensor record invalid",
    9: "op record invalid", 10: "unsupported op", 11: "weight block invalid", 12: "arena too small",
    13: "alignment", 14: "input/output buffer size wrong", 15: "more tensors/ops than the runtime's limits",
}


def status_text(code: int) -> str:
    if code >= 200:
        return f"CPU fault (exception {code - 200})"
    return RT_STATUS.get(code) or FIRMWARE_STATUS.get(code) or f"status {code}"


def arena_size_of(model_bytes: bytes) -> int:
    if len(model_bytes) < 64 or model_bytes[:4] != MODEL_MAGIC:
        raise ModelFormatError(f"not a model.bin: expected magic {MODEL_MAGIC!r} and a 64-byte header, "
                               f"got {model_bytes[:4]!r} in {len(model_bytes)} bytes")
    return struct.unpack_from("<I", model_bytes, 28)[0]


def as_windows(inputs_q: np.ndarray) -> np.ndarray:
    x = np.asarray(inputs_q)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[0] < 1:
        raise EcgEdgeError(f"inputs_q must be int8 (N, L, C) windows with N >= 1, got shape {x.shape}")
    if x.dtype != np.int8:
        raise EcgEdgeError(f"inputs_q must be int8 (quantized windows), got {x.dtype}")
    return np.ascontiguousarray(x)


def host_parity(model_bytes: bytes, windows: np.ndarray, logits: np.ndarray) -> Parity:
    try:
        from ecg_edge.runtime import CRuntime
    except ImportError as exc:
        return Parity(host=None, matches=None, mismatches=None, note=f"host C runtime unavailable: {exc}")
    host = CRuntime(model_bytes).invoke_batch(windows)
    host = np.asarray(host, dtype=np.int8).reshape(logits.shape)
    same = np.all(host == logits, axis=1)
    return Parity(host="ecg_edge.runtime.CRuntime", matches=int(same.sum()), mismatches=int((~same).sum()),
                  mismatched_windows=[int(i) for i in np.flatnonzero(~same)])


def check_run(run: QemuRun, target: Target, n: int) -> None:
    if run.faults:
        raise SimulationError(f"{target.name}: the firmware faulted: {run.faults[0]}")
    if run.model_status not in (None, 0):
        raise ModelFormatError(f"the runtime on {target.name} refused the model: status {run.model_status} "
                               f"({status_text(run.model_status)})")
    if run.exit_code == 68 or (run.stack and run.stack.get("stack_size", 0) - run.stack.get("stack_peak", 0) < 128):
        from ecg_edge.sim.build import FirmwareDoesNotFit

        raise FirmwareDoesNotFit(
            f"{target.name}: the stack overflowed the {run.stack.get('stack_size', 0)} B of RAM left after static "
            f"data, arena and input window (RAM budget {target.ram_bytes} B)")
    if run.errors:
        raise SimulationError(f"{target.name}: firmware: {run.errors[0]} (exit {run.exit_code}: "
                              f"{status_text(run.exit_code)})")
    bad = [w for w in run.windows if w.status != 0]
    if bad:
        raise SimulationError(f"{target.name}: window {bad[0].index}: runtime status {bad[0].status} "
                              f"({status_text(bad[0].status)})")
    if len(run.windows) != n or len(run.counts) != n:
        raise SimulationError(f"{target.name}: expected {n} windows, the firmware reported {len(run.windows)} "
                              f"and the plugin counted {len(run.counts)} (exit {run.exit_code}); "
                              f"QEMU stderr: {run.stderr.strip()[-500:]}")


def simulate(model_bytes: bytes, inputs_q: np.ndarray, target: str | Target = "cortex-m4", opt: str = "O2", *,
             stack_size: int = DEFAULT_STACK, parity: bool = True, timeout_s: float = 600.0,
             dsp: bool = True, mve: bool = True) -> SimResult:
    """Run every window of inputs_q (N, L, C) int8 through model_bytes on the simulated target.
    dsp=False builds the runtime's scalar kernels only (-DECG_RT_NO_DSP), for comparison;
    mve=False keeps the DSP (SMLAD) kernels on a Helium core (cortex-m55, -DECG_RT_NO_MVE)."""
    from ecg_edge.modelbin.reader import device_image

    model_bytes = device_image(model_bytes)  # what is flashed: the host trailer stays on the host
    tc = find_toolchain()
    tgt = target if isinstance(target, Target) else get_target(target)
    windows = as_windows(inputs_q)
    arena = arena_size_of(model_bytes)
    window_bytes = int(windows[0].size)
    layout = Layout(model=len(model_bytes), arena=arena, window=window_bytes, stack=stack_size)
    image = build_firmware(tc, tgt, layout, opt, dsp=dsp, mve=mve)
    plugin = build_plugin(tc)
    run = run_image(tc, tgt, image, plugin, model_bytes, windows, timeout_s=timeout_s)
    check_run(run, tgt, windows.shape[0])
    logits = np.stack([np.frombuffer(w.logits, dtype=np.int8) for w in run.windows])
    counts = run.counts
    flash = {"code": image.code_bytes, "model": len(model_bytes), "budget": tgt.flash_bytes}
    flash["total"] = flash["code"] + flash["model"]
    ram = {"static": image.static_ram_bytes, "arena": arena, "window": window_bytes,
           "stack_peak": run.stack.get("stack_peak", 0), "stack_invoke": run.stack.get("stack_invoke", 0),
           "stack_reserved": run.stack.get("stack_size", stack_size), "budget": tgt.ram_bytes}
    ram["total"] = ram["static"] + ram["arena"] + ram["window"] + ram["stack_peak"]
    macs = count_macs(model_bytes)
    mean = float(np.mean(counts))
    return SimResult(
        target=tgt.name, core=tgt.core, board=tgt.board.machine, opt=opt, n_windows=windows.shape[0],
        instructions=counts, cycles_per_instruction=tgt.cycles_per_instruction, clock_hz=tgt.clock_hz,
        est_ms=tgt.ms_from_instructions(mean), flash=flash, ram=ram,
        fits_flash=flash["total"] <= tgt.flash_bytes,
        fits_ram=ram["total"] <= tgt.ram_bytes and ram["stack_peak"] <= ram["stack_reserved"],
        logits=logits, statuses=[w.status for w in run.windows],
        parity=host_parity(model_bytes, windows, logits) if parity else None,
        macs=macs[0] if macs else None, macs_nonzero=macs[1] if macs else None,
        elf=str(image.elf), toolchain={"arm_gcc": tc.arm_gcc_version, "qemu": _qemu_version(tc.qemu)},
        energy=estimate_energy(tgt, mean, window_seconds(model_bytes)))


def window_seconds(model_bytes: bytes) -> float | None:
    """Seconds of signal one inference covers (META input_length / fs; with an input adapter,
    HuBERT-ECG's, its dataset window n_samples / fs), None where META lacks them."""
    import json

    from ecg_edge.modelbin.reader import read_model

    try:
        meta = read_model(model_bytes, "model.bin").meta
    except ModelFormatError:  # the firmware ran it; the window length is then unknown, not an error
        return None
    fs, n = meta.get("fs"), meta.get("input_length")
    if meta.get("input_adapter"):  # input_length is the adapted sequence, not the recorded window
        try:
            spec = json.loads(str(meta["input_adapter"]))
        except ValueError:
            return None
        if not isinstance(spec, dict):
            return None
        fs, n = spec.get("fs"), spec.get("n_samples")
    if not isinstance(fs, (int, float)) or not isinstance(n, int) or fs <= 0 or n <= 0:
        return None
    return n / float(fs)


@dataclass
class NoFit:
    """A model that does not link for a target: what it needs against the budgets."""

    target: str
    board: str
    opt: str
    flash: dict[str, int]
    ram: dict[str, int]
    reason: str

    @property
    def fits(self) -> bool:
        return False

    def to_dict(self) -> dict:
        return {"target": self.target, "board": self.board, "opt": self.opt, "fits": False,
                "fits_flash": self.flash["total"] <= self.flash["budget"],
                "fits_ram": self.ram["total"] <= self.ram["budget"], "flash": self.flash, "ram": self.ram,
                "reason": self.reason}

    def row(self) -> dict[str, str]:
        f, m = self.flash, self.ram
        return {
            "target": f"{self.target} ({self.board})", "opt": f"-{self.opt}", "instructions / inference": "-",
            "est. ms (CPI x clock)": "-", "MACs / instr": "-", "energy / inference (duty)": "-",
            "flash used / budget": f"{f['total'] / 1024:.1f} KiB / {f['budget'] / 1024:.1f} KiB",
            "RAM used / budget": f"{m['total'] / 1024:.1f} KiB / {m['budget'] / 1024:.1f} KiB",
            "fits": "no", "parity (match/windows)": "-",
        }


def fit_estimate(model_bytes: bytes, window_bytes: int, target: str | Target, opt: str = "O2",
                 reason: str = "", stack_size: int = DEFAULT_STACK) -> NoFit:
    """Flash and RAM a model needs on a target without running it: the firmware's own sections
    from a link with empty reservations, plus the model, arena, one window and the least stack."""
    from ecg_edge.modelbin.reader import device_image

    model_bytes = device_image(model_bytes)
    tc = find_toolchain()
    tgt = target if isinstance(target, Target) else get_target(target)
    base = build_firmware(tc, tgt, Layout(0, 0, 0, 0), opt)
    flash = {"code": base.code_bytes, "model": len(model_bytes), "budget": tgt.flash_bytes}
    flash["total"] = flash["code"] + flash["model"]
    ram = {"static": base.static_ram_bytes, "arena": arena_size_of(model_bytes), "window": window_bytes,
           "stack_min": stack_size, "budget": tgt.ram_bytes}
    ram["total"] = ram["static"] + ram["arena"] + ram["window"] + ram["stack_min"]
    return NoFit(tgt.name, tgt.board.machine, opt, flash, ram, reason)


def _qemu_version(qemu: str) -> str:
    import subprocess

    out = subprocess.run([qemu, "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else qemu
