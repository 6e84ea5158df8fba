"""Target registry (DESIGN.md, "Targets"): each target's budgets and its QEMU board, defined once.
The firmware's linker MEMORY regions are generated from it (`ecg_edge.sim.boards.linker_script`).
`cortex-m` is an alias of the default part, cortex-m4."""

from __future__ import annotations

from dataclasses import dataclass

from ecg_edge.errors import EcgEdgeError

KB, MB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Board:
    """A QEMU 7.2 machine's memory map as the firmware uses it (read with `info mtree`)."""

    machine: str
    memory_map: str  # what `info mtree` shows, quoted in the generated linker script
    io_base: int  # board RAM outside the target's budgets: job header + input windows
    timer_base: int | None  # CMSDK APB timer 0 (mps2 boards), for the -icount cross-check
    timer_hz: int | None
    io_bytes: int = 16 * MB
    # The vector table's own region when the core boots outside the flash budget's memory
    # (mps3-an547: ITCM at 0); its bytes count against the flash budget.
    vectors_base: int | None = None
    vectors_bytes: int = 0


BOARDS: dict[str, Board] = {
    b.machine: b
    for b in (
        Board("mps2-an386",
              "ZBT SSRAM1 0x00000000 4 MiB (code, boots from VTOR 0), SSRAM2/3 0x20000000 4 MiB, "
              "PSRAM 0x21000000 16 MiB", 0x21000000, 0x40000000, 25_000_000),
        Board("mps2-an500",
              "ZBT SSRAM1 0x00000000 4 MiB (code, boots from VTOR 0), SSRAM2/3 0x20000000 4 MiB, "
              "PSRAM 0x60000000 16 MiB", 0x60000000, 0x40000000, 25_000_000),
        Board("mps2-an505",
              "IoTKit, secure boot from INITSVTOR 0x10000000; SSRAM1 4 MiB at 0x00000000, secure alias "
              "0x10000000; SSRAM2+3 2+2 MiB at 0x28000000, secure alias 0x38000000 (all behind MPCs that "
              "reset to secure); PSRAM 16 MiB at 0x80000000", 0x80000000, None, None),
        Board("mps3-an547",
              "SSE-300, secure boot from INITSVTOR 0x00000000; ITCM 512 KiB at 0x00000000; SRAM 2+2 MiB at "
              "0x21000000, secure alias 0x31000000; QSPI 8 MiB (ROM) at 0x28000000, secure alias 0x38000000; "
              "DDR at 0x60000000, secure alias 0x70000000 (MPCs reset to secure). The core boots only from "
              "ITCM, so the 64-byte vector table sits there, the rest of the flash budget in QSPI",
              0x70000000, None, None, vectors_base=0x00000000, vectors_bytes=1 * KB),
    )
}


@dataclass(frozen=True)
class RunCurrent:
    """A published run-mode supply current per MHz of one part built on the core, the figure the
    energy estimate (ecg_edge.targets.energy) multiplies by cycles and supply voltage. It is the
    whole MCU's current as its maker states it (core + flash + regulator), not the core alone."""

    part: str
    ua_per_mhz: float
    volts: float
    volts_source: str  # where the voltage comes from (stated with the figure, or the assumption)
    source: str  # where the figure is published
    conditions: str  # what the maker's figure covers


@dataclass(frozen=True)
class Target:
    name: str
    core: str
    qemu_machine: str
    qemu_cpu: str
    gcc_cpu: str  # -mcpu=
    gcc_float: tuple[str, ...]  # -mfloat-abi / -mfpu flags
    flash_bytes: int
    ram_bytes: int
    clock_hz: int
    # Where the budgets sit in the QEMU 7.2 board's memory map (checked with `info mtree`; see
    # BOARDS): mps2-an386/an500 boot from SSRAM1 at 0 with SSRAM2/3 at
    # 0x20000000; the v8-M boards run secure, so an505 uses the secure aliases of SSRAM1
    # (0x10000000) and SSRAM2/3 (0x38000000), and an547 QSPI (0x38000000) and SRAM (0x31000000),
    # its 64-byte vector table sitting in ITCM at 0 where the core boots.
    flash_base: int
    ram_base: int
    # Cycles per instruction used to turn exact instruction counts into an estimated latency.
    # QEMU counts instructions, not cycles; these are stated estimates for integer DSP-style
    # code on each core (single-issue M4/M33 ~1.3, dual-issue M7 ~0.8, M55 ~1.0).
    cycles_per_instruction: float
    supported_bits: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    has_dsp: bool = True
    # Instructions per multiply-accumulate of our runtime on the default ResNet1D, int8 dense
    # (22,814,976 MACs), counted by `ecg-edge simulate` at -O2 (NOTES.md, issue 15): turns a
    # latency budget into a MAC budget for channel pruning; the packed model is then simulated.
    instructions_per_mac: float = 0.0
    # The energy figure, or None with what was searched for and not found (no figure is invented).
    run_current: RunCurrent | None = None
    run_current_missing: str = ""

    @property
    def board(self) -> Board:
        return BOARDS[self.qemu_machine]

    def ms_from_instructions(self, instructions: int) -> float:
        return instructions * self.cycles_per_instruction / self.clock_hz * 1e3


# Run-mode current figures (searched for with the cited pages; only the ones found are used).
STM32F401_RUN = RunCurrent(
    "STM32F401 (Cortex-M4F, 84 MHz)", 128.0, 3.3,
    "3.3 V assumed (the cited line gives no voltage)",
    "ST's STM32F401 line description, current consumption down to 128 uA/MHz in Run mode executing "
    "from Flash (restated, in Chinese, at https://github.com/SoCXin/STM32F401)",
    "Run mode, code executing from flash, the line's stated best case")
STM32U575_RUN = RunCurrent(
    "STM32U575 (Cortex-M33, 160 MHz)", 19.5, 3.3,
    "3.3 V: the STM32U5 run-mode figures are stated at 3.3 V (STM32U5A9: 18.5 uA/MHz Run mode at 3.3 V, "
    "https://github.com/SoCXin/STM32U5A9)",
    "ST's STM32U575 feature list, 'down to 300 nA Standby mode and 19.5 uA/MHz run mode', as restated at "
    "https://docs.zephyrproject.org/3.2.0/boards/arm/nucleo_u575zi_q/doc/nucleou575zi_q.html",
    "Run mode, the line's stated best case")
NO_M7_FIGURE = ("no published run-mode current per MHz of a Cortex-M7 part (STM32H7, i.MX RT) was found in the "
                "searched pages, so no energy is estimated")
NO_M55_FIGURE = ("no published run-mode current per MHz of a Cortex-M55 part (Alif Ensemble, Arm's own figures) "
                 "was found in the searched pages, so no energy is estimated")

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("cortex-m4", "Cortex-M4F", "mps2-an386", "cortex-m4", "cortex-m4",
               ("-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), 1 * MB, 256 * KB, 64_000_000,
               0x00000000, 0x20000000, 1.3, instructions_per_mac=30_879_330 / 22_814_976,
               run_current=STM32F401_RUN),
        Target("cortex-m7", "Cortex-M7", "mps2-an500", "cortex-m7", "cortex-m7",
               ("-mfloat-abi=hard", "-mfpu=fpv5-d16"), 2 * MB, 1 * MB, 480_000_000,
               0x00000000, 0x20000000, 0.8, instructions_per_mac=30_875_928 / 22_814_976,
               run_current_missing=NO_M7_FIGURE),
        Target("cortex-m33", "Cortex-M33", "mps2-an505", "cortex-m33", "cortex-m33",
               ("-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"), 1 * MB, 512 * KB, 128_000_000,
               0x10000000, 0x38000000, 1.3, instructions_per_mac=30_833_486 / 22_814_976,
               run_current=STM32U575_RUN),
        Target("cortex-m55", "Cortex-M55", "mps3-an547", "cortex-m55", "cortex-m55",
               ("-mfloat-abi=hard",), 4 * MB, 2 * MB, 400_000_000,
               0x38000000, 0x31000000, 1.0, instructions_per_mac=17_195_822 / 22_814_976,
               run_current_missing=NO_M55_FIGURE),
    )
}
ALIASES = {"cortex-m": "cortex-m4", "m4": "cortex-m4", "m7": "cortex-m7", "m33": "cortex-m33", "m55": "cortex-m55"}


def get_target(name: str) -> Target:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in TARGETS:
        raise EcgEdgeError(
            f"unknown target {name!r}; expected one of {', '.join(TARGETS)} (or 'cortex-m' for cortex-m4)")
    return TARGETS[key]
