"""QEMU boards of the four targets: linker script, the I/O window where QEMU places the job,
and the CMSDK timer used for the -icount cross-check. Addresses checked with QEMU 7.2's
`info mtree` (see the comments in firmware_sim/ld/*.ld)."""

from __future__ import annotations

from dataclasses import dataclass

from ecg_edge.targets.registry import Target


@dataclass(frozen=True)
class Board:
    machine: str
    ld_script: str  # firmware_sim/ld/<name>
    io_base: int  # board RAM outside the target's budgets: job header + input windows
    timer_base: int | None  # CMSDK APB timer 0 (mps2 boards), for the -icount cross-check
    timer_hz: int | None


BOARDS: dict[str, Board] = {
    b.machine: b
    for b in (
        Board("mps2-an386", "mps2-an386.ld", 0x21000000, 0x40000000, 25_000_000),
        Board("mps2-an500", "mps2-an500.ld", 0x60000000, 0x40000000, 25_000_000),
        Board("mps2-an505", "mps2-an505.ld", 0x80000000, None, None),
        Board("mps3-an547", "mps3-an547.ld", 0x70000000, None, None),
    )
}


def board_for(target: Target) -> Board:
    return BOARDS[target.qemu_machine]
