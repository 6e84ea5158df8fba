"""The runtime's C test suite (runtime_c/tests: every kernel against the naive reference at every
bit-width and encoding, loader and invoke refusals) built for a simulated Cortex-M and run under
QEMU, so the DSP and MVE kernel paths, which host builds never compile, pass the same tests.

    python -m ecg_edge.sim.ctest [--target cortex-m4] [--no-mve]

The board's own linker script (the target's budgets) with newlib; the heap the hosted tests
use lives in the board memory outside the budgets (firmware_sim/ctest/syscalls.c)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click

from ecg_edge.options import entry_point
from ecg_edge.sim.boards import write_linker_script
from ecg_edge.sim.build import FIRMWARE_DIR, RUNTIME_DIR, FirmwareBuildError, compile_flags
from ecg_edge.sim.toolchain import Toolchain, find_toolchain
from ecg_edge.targets.registry import MB, get_target

HEAP_BYTES = 8 * 1024 * 1024
# Boards whose RAM budget is smaller than the tests' static buffers: their real SSRAM2/3 (4 MiB,
# QEMU 7.2 `info mtree`), since nothing in this firmware is measured against a budget.
RAM_OVERRIDE = {"mps2-an386": 4 * MB, "mps2-an500": 4 * MB}
_SUMMARY = re.compile(r"(\d+) passed, (\d+) failed")


@dataclass
class CTestRun:
    target: str
    passed: int
    failed: int
    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.failed == 0 and self.passed > 0


def _sources() -> list[tuple[Path, list[str]]]:
    srcs = [(p, []) for p in sorted((RUNTIME_DIR / "src").glob("*.c"))]
    for p in sorted((RUNTIME_DIR / "tests").glob("*.c")):
        srcs.append((p, ["-Dmain=ecg_rt_ctest_main"] if p.name == "main.c" else []))
    srcs += [(FIRMWARE_DIR / "src" / f"{n}.c", []) for n in ("startup", "semihost")]
    srcs += [(p, []) for p in sorted((FIRMWARE_DIR / "ctest").glob("*.c"))]
    return srcs


def build_ctest(tc: Toolchain, target: str, out: Path, *, mve: bool = True) -> Path:
    """Compile and link the test firmware into out/ctest.elf."""
    tgt = get_target(target)
    board = tgt.board
    flags = compile_flags(tgt, "O2", mve=mve) + [f"-I{RUNTIME_DIR / 'tests'}", "-Wno-unused-parameter"]
    objs = []
    for src, extra in _sources():
        obj = out / f"{src.parent.name}_{src.stem}.o"
        r = subprocess.run([tc.arm_gcc, *flags, *extra, "-c", str(src), "-o", str(obj)],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise FirmwareBuildError(f"C tests for {tgt.name}: {src.name}:\n" + r.stderr[-2000:])
        objs.append(str(obj))
    elf = out / "ctest.elf"
    ld = write_linker_script(tgt, out, ram_bytes=RAM_OVERRIDE.get(board.machine))
    cmd = [tc.arm_gcc, *flags, "-nostartfiles", "--specs=nosys.specs", f"-L{FIRMWARE_DIR / 'ld'}", "-T",
           str(ld), "-Wl,--gc-sections", f"-Wl,--defsym=__heap_start=0x{board.io_base:x}",
           f"-Wl,--defsym=__heap_end=0x{board.io_base + HEAP_BYTES:x}", "-Wl,--defsym=__stack_size=16384",
           *objs, "-lm", "-lc", "-lgcc", "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise FirmwareBuildError(f"C tests for {tgt.name}: link failed:\n" + r.stderr[-2000:])
    return elf


def run_ctests(target: str = "cortex-m4", *, mve: bool = True, timeout_s: float = 900.0) -> CTestRun:
    tc = find_toolchain()
    tgt = get_target(target)
    with tempfile.TemporaryDirectory(prefix="ecg-ctest-") as td:
        elf = build_ctest(tc, tgt.name, Path(td), mve=mve)
        r = subprocess.run([tc.qemu, "-M", tgt.qemu_machine, "-display", "none", "-monitor", "none", "-serial",
                            "none", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                           capture_output=True, text=True, timeout=timeout_s, check=False)
    text = r.stdout + r.stderr
    m = _SUMMARY.findall(text)
    passed, failed = (int(m[-1][0]), int(m[-1][1])) if m else (0, 0)
    return CTestRun(tgt.name, passed, failed, r.returncode, text)


@click.command(help="Run runtime_c's C tests on a simulated Cortex-M.")
@click.option("--target", default="cortex-m4", show_default=True)
@click.option("--no-mve", is_flag=True, help="cortex-m55: the DSP path instead of Helium")
def command(target: str, no_mve: bool) -> int:
    res = run_ctests(target, mve=not no_mve)
    print(res.output.strip())
    print(f"{res.target}: {res.passed} passed, {res.failed} failed (exit {res.exit_code})")
    return 0 if res.ok else 1


main = entry_point(command, "python -m ecg_edge.sim.ctest")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
