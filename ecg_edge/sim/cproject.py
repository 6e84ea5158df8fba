"""`ecg-edge export --format c-project DIR`: a self-contained firmware folder for one target:
the runtime sources, the model as a const array, the device preprocessing config, an example
main.c streaming a recorded signal through ecg_rt_stream_push, a Makefile / CMakeLists.txt for
arm-none-eabi-gcc and `make run` in QEMU on the target's board."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ecg_edge.devicepre.chain import ChainError, DeviceChain, resample_factors
from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin.reader import read_model
from ecg_edge.sim.boards import linker_script
from ecg_edge.sim.build import FIRMWARE_DIR, RUNTIME_DIR
from ecg_edge.targets.registry import Target

FILES = Path(__file__).resolve().parent / "cproject_files"
BOARD_FILES = ("startup.c", "semihost.c", "semihost.h", "markers.c", "markers.h")
# RAM besides the arena and the work buffer (Cortex-M, 32-bit pointers): ecg_rt_stream (~2 KB
# for 12 leads x 8 biquads), ecg_rt_model, newlib's data, and the least stack the link accepts
# (firmware_sim/ld/sections.ld __stack_size).
STATE_BYTES = 2304
STACK_BYTES = 0x2000
LIBC_BYTES = 1024
CODE_BYTES = 64 * 1024  # generous bound of the runtime + startup code in flash


@dataclass
class ProjectInfo:
    target: str
    machine: str
    adc_fs: int
    hop: int
    window: int
    fs: int
    leads: int
    frames: int
    seconds: float
    windows: int
    model_bytes: int
    signal_bytes: int
    arena_bytes: int
    work_bytes: int
    ram_need: int
    ram_budget: int
    trained_chain: str
    classes: list[str]


def _c_string(s: str) -> str:
    return '"' + "".join(c if c.isalnum() or c in " _-+.()/" else f"\\x{ord(c):02x}" for c in s) + '"'


def _array(ctype: str, name: str, values: np.ndarray, align: int, per_line: int) -> str:
    vals = [str(int(v)) for v in values.ravel()] or ["0"]
    rows = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    body = ",\n    ".join(rows)
    return (f"const {ctype} {name}[{max(values.size, 1)}] __attribute__((aligned({align}))) = {{\n    {body}\n}};\n")


def plan_project(model: bytes, target: Target, codes: np.ndarray, adc_fs: int, hop: int | None,
                 source: str = "model.bin") -> ProjectInfo:
    """Every check before a file is written: the model's pp.* META, the ADC rate, the RAM and
    flash budgets. Raises EcgEdgeError (a one-line reason) otherwise. The flash figures count the
    device image only: the host trailer is not flashed."""
    mb = read_model(model, source)
    model = mb.device_image
    try:
        chain = DeviceChain.from_meta(mb.meta, source)
        resample_factors(chain.fs, int(adc_fs))
    except ChainError as exc:
        raise EcgEdgeError(f"c-project: {exc}") from exc
    hop = int(hop or chain.hop)
    if hop < 1:
        raise EcgEdgeError(f"c-project: --hop {hop}: expected >= 1 sample at {chain.fs} Hz")
    if codes.ndim != 2 or codes.shape[0] != chain.leads:
        raise EcgEdgeError(f"c-project: the signal has {codes.shape[0]} leads, the model takes {chain.leads}")
    arena = -(-mb.arena_size // 16) * 16
    n = chain.window * chain.leads
    work = 4 * n + -(-n // 4) * 4
    need = arena + work + STATE_BYTES + STACK_BYTES + LIBC_BYTES
    if need > target.ram_bytes:
        raise EcgEdgeError(
            f"c-project: a window of {chain.window} samples x {chain.leads} leads needs {need} B of RAM on "
            f"{target.name} (arena {arena} + ring and input {work} + stream state {STATE_BYTES} + stack "
            f"{STACK_BYTES} + libc {LIBC_BYTES}); the target has {target.ram_bytes} B")
    signal_bytes = 2 * codes.size
    if len(model) + signal_bytes + CODE_BYTES > target.flash_bytes:
        raise EcgEdgeError(
            f"c-project: model {len(model)} B + signal {signal_bytes} B + code (~{CODE_BYTES} B) exceed the "
            f"{target.flash_bytes} B flash of {target.name}; pass a shorter --seconds")
    up, down = resample_factors(chain.fs, int(adc_fs))
    n_out = 0 if codes.shape[1] == 0 else (codes.shape[1] - 1) * up // down + 1
    windows = 0 if n_out < chain.window else (n_out - chain.window) // hop + 1
    if windows == 0:
        raise EcgEdgeError(f"c-project: {codes.shape[1] / adc_fs:.2f} s of signal hold no complete window of "
                           f"{chain.window} samples at {chain.fs} Hz ({chain.window / chain.fs:.2f} s); pass a longer --seconds")
    return ProjectInfo(target.name, target.qemu_machine, int(adc_fs), hop, chain.window, chain.fs, chain.leads,
                       int(codes.shape[1]), codes.shape[1] / adc_fs, windows, len(model), signal_bytes, arena, work,
                       need, target.ram_bytes, chain.trained_chain, list(mb.meta.get("classes", [])))


def write_project(out_dir: Path, model: bytes, target: Target, codes: np.ndarray, adc_fs: int,
                  hop: int | None = None, *, source: str = "model.bin", signal_source: str = "") -> ProjectInfo:
    """Write the folder atomically (a failed export leaves a previous one intact)."""
    from ecg_edge.atomic import atomic_dir

    info = plan_project(model, target, codes, adc_fs, hop, source)
    with atomic_dir(out_dir) as tmp:
        fill_project(tmp, info, model, target, codes, source=source, signal_source=signal_source)
    return info


def fill_project(tmp: Path, info: ProjectInfo, model: bytes, target: Target, codes: np.ndarray, *,
                 source: str = "model.bin", signal_source: str = "") -> None:
    """Write the project's files into the (new, empty) folder tmp; model_data.c holds the device
    image (model.bin without its host trailer)."""
    from ecg_edge.modelbin.reader import device_image

    model = device_image(model)
    if not (RUNTIME_DIR / "src").is_dir() or not (FIRMWARE_DIR / "src").is_dir():
        raise EcgEdgeError(f"c-project: the runtime sources ({RUNTIME_DIR}) are not installed; export from a checkout")
    ld_name = f"{target.board.machine}.ld"
    cpu = " ".join([f"-mcpu={target.gcc_cpu}", "-mthumb", *target.gcc_float])
    adc_fs = info.adc_fs
    shutil.copytree(RUNTIME_DIR / "include", tmp / "runtime" / "include")
    (tmp / "runtime" / "src").mkdir(parents=True)
    for p in sorted((RUNTIME_DIR / "src").glob("*.[ch]")):
        shutil.copy2(p, tmp / "runtime" / "src" / p.name)
    (tmp / "board").mkdir()
    for name in BOARD_FILES:
        shutil.copy2(FIRMWARE_DIR / "src" / name, tmp / "board" / name)
    (tmp / "ld").mkdir()
    (tmp / "ld" / ld_name).write_text(linker_script(target))
    shutil.copy2(FIRMWARE_DIR / "ld" / "sections.ld", tmp / "ld" / "sections.ld")
    shutil.copy2(FILES / "main.c", tmp / "main.c")
    shutil.copy2(FILES / "arm-none-eabi.cmake", tmp / "arm-none-eabi.cmake")
    subs = {"@TARGET@": target.name, "@CORE@": target.core, "@MACHINE@": target.qemu_machine,
            "@CPU_FLAGS@": cpu, "@LD@": ld_name}
    for tpl in ("Makefile", "CMakeLists.txt"):
        text = (FILES / f"{tpl}.in").read_text()
        for k, v in subs.items():
            text = text.replace(k, v)
        (tmp / tpl).write_text(text)
    (tmp / "model_data.c").write_text(
        f"/* {source}: model.bin ({len(model)} bytes). Generated; do not edit. */\n#include \"ecg_config.h\"\n\n"
        + _array("uint8_t", "ecg_model", np.frombuffer(model, np.uint8), 16, 24)
        + f"const uint32_t ecg_model_len = {len(model)}u;\n")
    (tmp / "signal_data.c").write_text(
        f"/* {signal_source or 'signal'}: {info.frames} frames x {info.leads} leads of raw ADC codes at "
        f"{adc_fs} Hz, interleaved [frame][lead]. Generated. */\n#include \"ecg_config.h\"\n\n"
        + _array("int16_t", "ecg_signal", np.ascontiguousarray(codes.T), 4, 16)
        + f"const uint32_t ecg_signal_frames = {info.frames}u;\n")
    (tmp / "ecg_config.h").write_text(_config_h(info))
    (tmp / "README.md").write_text(_readme(info, target, source, signal_source))
    (tmp / "project.json").write_text(json.dumps(asdict(info), indent=1) + "\n")
    (tmp / "signal.i16").write_bytes(np.ascontiguousarray(codes.T).astype("<i2").tobytes())


def _config_h(info: ProjectInfo) -> str:
    names = ", ".join(_c_string(c) for c in info.classes) or '"c0"'
    return f"""/* The stream's configuration (generated by `ecg-edge export --format c-project`). The device
 * preprocessing itself (band-pass coefficients, window, input scale) is read from the model's META
 * pp.* fields by ecg_rt_stream_init; these values only size the buffers and pick the ADC rate. */
#ifndef ECG_CONFIG_H
#define ECG_CONFIG_H

#include <stdint.h>

#define ECG_ADC_FS {info.adc_fs}u    /* ADC rate of the recorded signal (Hz); model rate {info.fs} Hz */
#define ECG_HOP {info.hop}u          /* samples at {info.fs} Hz between windows */
#define ECG_WINDOW {info.window}u
#define ECG_LEADS {info.leads}u
#define ECG_N_CLASSES {len(info.classes) or 1}u
#define ECG_ARENA_BYTES {info.arena_bytes}u /* the model's planned arena */
#define ECG_WORK_BYTES {info.work_bytes}u  /* ring (int32) + model input (int8): 5 x window x leads */

extern const uint8_t ecg_model[];
extern const uint32_t ecg_model_len;
extern const int16_t ecg_signal[];
extern const uint32_t ecg_signal_frames;
static const char *const ecg_class_names[ECG_N_CLASSES] = {{{names}}};

#endif
"""


def _readme(info: ProjectInfo, target: Target, source: str, signal_source: str) -> str:
    warn = ("" if info.trained_chain == "device" else
            f"\n**Note:** this model was trained on the `{info.trained_chain}` chain, not the device chain it runs "
            "here; train with `--preprocess device` so the device computes what the model learned.\n")
    return f"""# ecg-edge firmware for {target.name} ({target.core})

Generated by `ecg-edge export --format c-project` from `{Path(source).name}`; the example signal is
{signal_source or 'a recorded signal'} ({info.frames} frames, {info.seconds:.1f} s at {info.adc_fs} Hz,
{info.leads} lead(s), raw ADC codes).
{warn}
```
make            # arm-none-eabi-gcc -> build/firmware.elf
make run        # QEMU {target.qemu_machine}: one line per window
cmake -B build-cmake -DCMAKE_TOOLCHAIN_FILE=arm-none-eabi.cmake && cmake --build build-cmake --target run
```

Output: `window <i> class <name> logits <l0> ... <l{len(info.classes) - 1}>` per window ({info.windows} windows,
one every {info.hop} samples at {info.fs} Hz, {info.window}-sample windows), then
`done frames <n> windows <w> stack_peak <bytes> static_ram <bytes>`. The exit status is the
runtime status (0 = ok).

## What runs

`main.c` feeds `ecg_signal` to `ecg_rt_stream_push` in chunks of 64 frames (as an ADC DMA
buffer would), calls `ecg_rt_stream_infer` whenever `ecg_rt_stream_ready` says a window is
complete, and prints the int8 logits. The stream (`runtime/include/ecg_edge_rt_stream.h`)
applies the model's device preprocessing from its META: offset removal, linear resampling
{info.adc_fs} -> {info.fs} Hz, a causal Butterworth band-pass (Q29 biquads) and a per-window z-score
quantized to the model's input scale, all integer (bit-exact with the host and the numpy
reference; FORMAT.md section 13). Replace `ecg_signal` with your ADC samples and `semi_*`
(semihosting, `board/semihost.c`) with your UART for a real board.

## Memory

| | bytes |
|---|---|
| model.bin (flash, `model_data.c`) | {info.model_bytes} |
| example signal (flash, `signal_data.c`) | {info.signal_bytes} |
| arena (RAM) | {info.arena_bytes} |
| ring + model input (RAM) | {info.work_bytes} |
| RAM needed incl. stream state, stack reserve and libc | {info.ram_need} of {info.ram_budget} |

`make size` prints the linked sections; the run's last line the measured peak stack.

## Files

`runtime/` the C99 runtime (no malloc), `board/` startup, vector table and semihosting,
`ld/` the linker script of {target.qemu_machine} (flash and RAM = the target's budgets), `main.c`,
`model_data.c`, `signal_data.c` (and `signal.i16`, the same samples as raw little-endian int16),
`ecg_config.h`, `project.json`.
"""
