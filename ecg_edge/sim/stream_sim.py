"""`ecg-edge simulate --stream RECORD`: a raw recording through the streaming path on a
simulated target (the c-project firmware under QEMU with the instruction-count plugin):
instructions per second of signal, split into preprocessing (every push: offset, resampler,
band-pass) and inference (every infer: window quantization + the model), peak RAM, duty cycle
at the target's clock, and agreement of every window's logits with the host stream."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.runtime import ffi, lib
from ecg_edge.runtime.stream import CStream
from ecg_edge.sim.build import build_plugin, read_sections, read_symbols
from ecg_edge.sim.cproject import plan_project, write_project
from ecg_edge.sim.toolchain import find_toolchain
from ecg_edge.targets.registry import Target

CHUNK = 64  # frames per push in the example main.c
_WINDOW = re.compile(r"^window (\d+) class \S+ logits ((?:-?\d+ ?)+)$")
_DONE = re.compile(r"^done frames (\d+) windows (\d+) stack_peak (\d+) static_ram (\d+)$")


@dataclass
class StreamSimResult:
    target: str
    record: str
    seconds: float
    adc_fs: int
    fs: int
    window: int
    hop: int
    windows: int
    preprocess_instructions: int
    inference_instructions: int
    instructions_per_second: float  # of signal: preprocessing + inference
    preprocess_per_second: float
    inference_per_window: float
    cycles_per_instruction: float
    clock_hz: int
    duty_cycle: float  # share of the core's time the stream needs at its clock
    stack_peak: int
    static_ram: int  # .data + .bss (arena, ring, stream state, libc)
    peak_ram: int
    ram_budget: int
    flash: int
    agree_windows: int  # windows whose int8 logits equal the host stream's
    host_windows: int

    def to_dict(self) -> dict:
        return asdict(self)


def push_schedule(model: bytes, codes: np.ndarray, adc_fs: int, hop: int) -> list[str]:
    """The order of the firmware's measured calls ("push" / "infer"), replayed on the host with
    the same chunking, so each plugin count is attributed to the right step."""
    s = CStream(model, adc_fs=adc_fs, hop=hop)
    x = np.ascontiguousarray(codes.T.astype(np.int16))
    used, ready = ffi.new("size_t *"), ffi.new("uint32_t *")
    logits = np.empty(s.rt.n_classes, np.int8)
    order, done = [], 0
    while done < x.shape[0]:
        n = min(CHUNK, x.shape[0] - done)
        st = lib.ecg_rt_stream_push(s._s, ffi.cast("void *", x[done:].ctypes.data), 0, n, used)
        s._check(st, "push")
        order.append("push")
        done += int(used[0])
        s._check(lib.ecg_rt_stream_ready(s._s, ready), "ready")
        if ready[0]:
            s._check(lib.ecg_rt_stream_infer(s._s, ffi.cast("int8_t *", logits.ctypes.data), logits.size, ffi.NULL),
                     "infer")
            order.append("infer")
    return order


def simulate_stream(model: bytes, codes: np.ndarray, adc_fs: int, target: Target, hop: int | None = None,
                    record: str = "", source: str = "model.bin", timeout_s: float = 3600.0) -> StreamSimResult:
    tc = find_toolchain()
    info = plan_project(model, target, codes, adc_fs, hop, source)
    plugin = build_plugin(tc)
    with tempfile.TemporaryDirectory(prefix="ecg-stream-") as td:
        proj = Path(td) / "proj"
        write_project(proj, model, target, codes, adc_fs, info.hop, source=source, signal_source=record)
        cross = tc.arm_gcc[: -len("gcc")]
        b = subprocess.run(["make", "-s", "-C", str(proj), f"CROSS={cross}", "-j2"], capture_output=True, text=True,
                           check=False)
        if b.returncode != 0:
            raise EcgEdgeError(f"c-project build failed for {target.name}: {b.stderr.strip()[-1500:]}")
        elf = proj / "build" / "firmware.elf"
        sym, sec = read_symbols(tc, elf), read_sections(tc, elf)
        counts_path = Path(td) / "counts.txt"
        cmd = [tc.qemu, "-M", target.qemu_machine, "-display", "none", "-monitor", "none", "-serial", "none",
               "-semihosting-config", "enable=on,target=native", "-kernel", str(elf),
               "-plugin", f"{plugin},start=0x{sym['ecg_sim_mark_start']:x},end=0x{sym['ecg_sim_mark_end']:x},"
                          f"out={counts_path}"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise EcgEdgeError(f"QEMU ({target.qemu_machine}) did not finish within {timeout_s:.0f} s") from exc
        counts = [int(ln.split()[1]) for ln in counts_path.read_text().splitlines() if ln.startswith("count ")] \
            if counts_path.is_file() else []
    out = (r.stdout + "\n" + r.stderr).splitlines()
    done = next((m for m in map(_DONE.match, out) if m), None)
    if r.returncode != 0 or done is None:
        raise EcgEdgeError(f"the streaming firmware failed on {target.name} (exit {r.returncode}): "
                           f"{' '.join(out[-3:])}")
    got = np.array([[int(v) for v in m.group(2).split()] for m in map(_WINDOW.match, out) if m], dtype=np.int8)
    host = CStream(model, adc_fs=adc_fs, hop=info.hop).push(np.ascontiguousarray(codes.T))
    order = push_schedule(model, codes, adc_fs, info.hop)
    if len(order) != len(counts):
        raise EcgEdgeError(f"instruction counts: {len(counts)} measured calls, the host replay expects {len(order)}")
    pre = sum(c for c, k in zip(counts, order, strict=True) if k == "push")
    inf = sum(c for c, k in zip(counts, order, strict=True) if k == "infer")
    seconds = codes.shape[1] / adc_fs
    n_win = max(len(got), 1)
    ips = (pre + inf) / seconds
    agree = int(sum(np.array_equal(a, b) for a, b in zip(got, host, strict=False))) if len(got) == len(host) else 0
    static = sec.get(".data", 0) + sec.get(".bss", 0)
    stack = int(done.group(3))
    flash = sum(sec.get(s, 0) for s in (".vectors", ".text", ".data", ".init_array", ".ARM.exidx", ".ARM.extab"))
    return StreamSimResult(target.name, record, seconds, int(adc_fs), info.fs, info.window, info.hop, len(got), pre, inf,
                           ips, pre / seconds, inf / n_win, target.cycles_per_instruction, target.clock_hz,
                           ips * target.cycles_per_instruction / target.clock_hz, stack, static, static + stack,
                           target.ram_bytes, flash, agree, len(host))


def markdown(res: StreamSimResult) -> str:
    rows = [("target", f"{res.target} at {res.clock_hz / 1e6:g} MHz"),
            ("signal", f"{res.record}: {res.seconds:.1f} s at {res.adc_fs} Hz -> {res.fs} Hz, {res.windows} windows of "
                       f"{res.window} every {res.hop}"),
            ("instructions per second of ECG", f"{res.instructions_per_second:,.0f}"),
            ("  preprocessing (push) per second", f"{res.preprocess_per_second:,.0f}"),
            ("  inference (infer) per window", f"{res.inference_per_window:,.0f}"),
            ("duty cycle", f"{100 * res.duty_cycle:.2f} % (CPI {res.cycles_per_instruction} estimated)"),
            ("peak RAM", f"{res.peak_ram:,} B of {res.ram_budget:,} (static {res.static_ram:,} + stack {res.stack_peak:,})"),
            ("flash", f"{res.flash:,} B (code + model + embedded signal)"),
            ("agreement with the host stream", f"{res.agree_windows}/{res.host_windows} windows, int8 logits equal")]
    return "| | |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows) + "\n"
