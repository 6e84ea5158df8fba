"""Building the firmware (firmware_sim/ + every runtime_c/src/*.c) and the QEMU plugin, cached.

Objects are cached under `<cache>/firmware/<hash>/` where the hash covers every source and
header, the flags, the target and the compiler version, so editing one kernel rebuilds and
nothing else does. Linking is per model *size* (the model region, arena and window are link-time
reservations inside the target's flash and RAM budgets): it takes milliseconds, is cached beside
the objects, and is where an oversized model fails, with the linker's ASSERT message. The model
*bytes* never enter the ELF: QEMU's loader places them, so one ELF serves every model of a size.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ecg_edge.errors import EcgEdgeError
from ecg_edge.paths import REPO_ROOT
from ecg_edge.sim.boards import linker_script, write_linker_script
from ecg_edge.sim.toolchain import Toolchain
from ecg_edge.targets.registry import Target

FIRMWARE_DIR = REPO_ROOT / "firmware_sim"
RUNTIME_DIR = REPO_ROOT / "runtime_c"
OPTS = ("O2", "Os")
PROGRAMS = ("main", "calib")
DEFAULT_STACK = 8 * 1024
# Flash taken by a firmware itself (the model is placed beside it by QEMU, never linked in).
CODE_SECTIONS = (".vectors", ".text", ".init_array", ".ARM.extab", ".ARM.exidx", ".data")


class FirmwareBuildError(EcgEdgeError):
    """The firmware or the runtime sources do not compile or link for the target."""


class FirmwareDoesNotFit(EcgEdgeError):
    """The link failed because the model, arena, window or stack exceed a budget."""


def cache_root() -> Path:
    """`$ECG_EDGE_CACHE` (default ~/.cache/ecg-edge): build outputs, never in git."""
    return Path(os.environ.get("ECG_EDGE_CACHE", Path.home() / ".cache" / "ecg-edge")).expanduser()


@dataclass(frozen=True)
class Layout:
    """Link-time reservations (bytes). The stack gets all the RAM left; `stack` is the least
    the link accepts."""

    model: int
    arena: int
    window: int
    stack: int = DEFAULT_STACK

    @property
    def tag(self) -> str:
        return f"m{self.model}-a{self.arena}-w{self.window}-s{self.stack}"


@dataclass
class FirmwareImage:
    elf: Path
    target: str
    opt: str
    program: str
    layout: Layout
    symbols: dict[str, int]
    sections: dict[str, int]  # section name -> size in bytes
    objects_dir: Path = field(repr=False, default=Path())

    @property
    def code_bytes(self) -> int:
        """Flash taken by the firmware itself: vectors, code, read-only data, .data's image."""
        s = self.sections
        return sum(s.get(k, 0) for k in CODE_SECTIONS)

    @property
    def static_ram_bytes(self) -> int:
        return self.sections.get(".data", 0) + self.sections.get(".bss", 0)


def _round_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _sources(program: str) -> list[tuple[str, Path]]:
    """(object prefix, path) of every C file in the program."""
    fw = sorted((FIRMWARE_DIR / "src").glob("*.c"))
    if program == "main":
        return [("fw", p) for p in fw] + [("rt", p) for p in sorted((RUNTIME_DIR / "src").glob("*.c"))]
    if program == "calib":
        return [("fw", p) for p in fw if p.name != "main.c"] + [("cal", FIRMWARE_DIR / "selftest" / "calib.c")]
    raise ValueError(f"unknown firmware program {program!r}; expected one of {PROGRAMS}")


def _inputs_for_hash(program: str) -> list[Path]:
    files = [p for _, p in _sources(program)]
    for d in (FIRMWARE_DIR / "src", RUNTIME_DIR / "include", RUNTIME_DIR / "src"):
        files += sorted(d.glob("*.h"))
    files.append(FIRMWARE_DIR / "ld" / "sections.ld")
    return files


def compile_flags(target: Target, opt: str, dsp: bool = True, mve: bool = True) -> list[str]:
    if opt not in OPTS:
        raise EcgEdgeError(f"unknown optimisation level {opt!r}; expected one of {', '.join(OPTS)}")
    board = target.board
    flags = [f"-mcpu={target.gcc_cpu}", "-mthumb", *target.gcc_float, f"-{opt}", "-std=c99",
             "-ffp-contract=off", "-ffunction-sections", "-fdata-sections", "-fno-common",
             "-Wall", "-Wextra", f"-I{FIRMWARE_DIR / 'src'}", f"-I{RUNTIME_DIR / 'include'}",
             f"-I{RUNTIME_DIR / 'src'}"]
    if board.timer_base is not None:
        flags.append(f"-DECG_SIM_TIMER_BASE=0x{board.timer_base:08X}u")
    if not dsp:  # the runtime's scalar reference kernels only (runtime_c/src/ecg_rt_dsp.h)
        flags.append("-DECG_RT_NO_DSP")
    if not mve:  # cortex-m55: the DSP (SMLAD) kernels instead of the Helium ones
        flags.append("-DECG_RT_NO_MVE")
    return flags


def objects_key(tc: Toolchain, target: Target, opt: str, program: str, dsp: bool = True, mve: bool = True) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([program, target.name, target.qemu_machine, compile_flags(target, opt, dsp, mve),
                         tc.arm_gcc_version, linker_script(target)]).encode())
    for p in _inputs_for_hash(program):
        h.update(str(p.relative_to(REPO_ROOT)).encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def publish_dir(tmp: Path, final: Path) -> None:
    """Atomically move a finished build into the cache (another process may have won)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not final.exists():
            raise


def build_objects(tc: Toolchain, target: Target, opt: str = "O2", program: str = "main",
                  dsp: bool = True, mve: bool = True) -> Path:
    """Compile (or reuse) the program's objects; returns their cache directory."""
    key = objects_key(tc, target, opt, program, dsp, mve)
    final = cache_root() / "firmware" / f"{target.name}-{opt}{'' if dsp else '-nodsp'}{'' if mve else '-nomve'}-{program}-{key}"
    if (final / "manifest.json").is_file():
        return final
    if program == "main" and not list((RUNTIME_DIR / "src").glob("*.c")):
        raise FirmwareBuildError(f"no runtime sources in {RUNTIME_DIR / 'src'}; the firmware links runtime_c/src/*.c")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    (tmp / "obj").mkdir()
    flags = compile_flags(target, opt, dsp, mve)

    def compile_one(item: tuple[str, Path]) -> str:
        prefix, src = item
        obj = tmp / "obj" / f"{prefix}_{src.stem}.o"
        r = subprocess.run([tc.arm_gcc, *flags, "-c", str(src), "-o", str(obj)],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise FirmwareBuildError(
                f"firmware build failed for {target.name} -{opt}: {src.relative_to(REPO_ROOT)}:\n"
                + "\n".join(r.stderr.strip().splitlines()[:20]))
        return obj.name

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            objs = list(pool.map(compile_one, _sources(program)))
        (tmp / "manifest.json").write_text(json.dumps({
            "target": target.name, "opt": opt, "program": program, "flags": flags,
            "compiler": tc.arm_gcc_version, "objects": objs}, indent=1))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_dir(tmp, final)
    return final


_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")


def link(tc: Toolchain, target: Target, objects_dir: Path, layout: Layout) -> FirmwareImage:
    """Link the objects with the layout's reservations (cached per layout)."""
    manifest = json.loads((objects_dir / "manifest.json").read_text())
    elf = objects_dir / "elf" / f"{layout.tag}.elf"
    if not elf.is_file():
        elf.parent.mkdir(exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".elf", dir=elf.parent)
        os.close(fd)
        ld = write_linker_script(target, elf.parent)
        cmd = [tc.arm_gcc, *manifest["flags"], "-nostartfiles", f"-L{FIRMWARE_DIR / 'ld'}",
               "-T", str(ld), "-Wl,--gc-sections",
               f"-Wl,--defsym=__model_reserve={_round_up(layout.model, 16)}",
               f"-Wl,--defsym=__arena_reserve={_round_up(layout.arena, 16)}",
               f"-Wl,--defsym=__window_reserve={_round_up(layout.window, 4)}",
               f"-Wl,--defsym=__stack_size={_round_up(layout.stack, 8)}",
               *[str(objects_dir / "obj" / o) for o in manifest["objects"]],
               "-lc", "-lgcc", "-o", tmp_name]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            Path(tmp_name).unlink(missing_ok=True)
            _raise_link_error(target, layout, r.stderr)
        os.replace(tmp_name, elf)
    return FirmwareImage(elf=elf, target=target.name, opt=manifest["opt"], program=manifest["program"],
                         layout=layout, symbols=read_symbols(tc, elf), sections=read_sections(tc, elf),
                         objects_dir=objects_dir)


def _raise_link_error(target: Target, layout: Layout, stderr: str) -> None:
    asserts = sorted({m.group(1) for m in re.finditer(r"(ecg-edge: [^\n]*)", stderr)})
    overflow = [f"{m.group(1)} by {int(m.group(2))} bytes" for m in _OVERFLOW.finditer(stderr)]
    if asserts or overflow:
        parts = [a.removeprefix("ecg-edge: ") for a in asserts] + [f"region {o}" for o in overflow]
        raise FirmwareDoesNotFit(
            f"the model does not fit {target.name} ({target.qemu_machine}: flash {target.flash_bytes} B, "
            f"RAM {target.ram_bytes} B): {'; '.join(parts)} (model {layout.model} B in flash; "
            f"arena {layout.arena} B + window {layout.window} B + stack {layout.stack} B in RAM)")
    raise FirmwareBuildError(f"firmware link failed for {target.name}:\n" + "\n".join(stderr.strip().splitlines()[-20:]))


def read_symbols(tc: Toolchain, elf: Path) -> dict[str, int]:
    out = subprocess.run([tc.arm_nm, str(elf)], capture_output=True, text=True, check=True).stdout
    syms: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = int(parts[0], 16)
    return syms


def read_sections(tc: Toolchain, elf: Path) -> dict[str, int]:
    out = subprocess.run([tc.arm_size, "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sec: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sec[parts[0]] = int(parts[1])
    return sec


def build_firmware(tc: Toolchain, target: Target, layout: Layout, opt: str = "O2",
                   program: str = "main", dsp: bool = True, mve: bool = True) -> FirmwareImage:
    return link(tc, target, build_objects(tc, target, opt, program, dsp, mve), layout)


PLUGIN_DIR = FIRMWARE_DIR / "plugin"


def build_plugin(tc: Toolchain) -> Path:
    """Compile (or reuse) the instruction-count plugin with the host compiler."""
    srcs = [PLUGIN_DIR / "insn_count.c", PLUGIN_DIR / "qemu_plugin_api.h"]
    flags = ["-std=c11", "-O2", "-Wall", "-Wextra", "-shared", "-fPIC"]
    h = hashlib.sha256(json.dumps([flags, tc.host_cc_version]).encode())
    for p in srcs:
        h.update(p.read_bytes())
    final = cache_root() / "plugin" / h.hexdigest()[:20]
    so = final / "insn_count.so"
    if so.is_file():
        return so
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    r = subprocess.run([tc.host_cc, *flags, "-o", str(tmp / "insn_count.so"), str(srcs[0])],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FirmwareBuildError("the QEMU instruction-count plugin failed to build:\n" + r.stderr[-2000:])
    publish_dir(tmp, final)
    return so


