"""SimResult: what one simulated run says about a model on a target, as JSON and Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecg_edge.targets.energy import EnergyEstimate, energy_markdown


@dataclass
class Parity:
    """Target logits vs the host C runtime's, window by window (None fields: host unavailable)."""

    host: str | None
    matches: int | None
    mismatches: int | None
    mismatched_windows: list[int] = field(default_factory=list)
    note: str = ""


@dataclass
class SimResult:
    target: str
    core: str
    board: str
    opt: str
    n_windows: int
    instructions: list[int]  # exact, per inference (window)
    cycles_per_instruction: float
    clock_hz: int
    est_ms: float  # mean instructions * CPI / clock
    flash: dict[str, int]  # vectors+code+rodata+.data image, model, total, budget
    ram: dict[str, int]  # static (.data+.bss), arena, window, stack peak, total, budget
    fits_flash: bool
    fits_ram: bool
    logits: np.ndarray = field(repr=False)  # (N, n_classes) int8
    statuses: list[int] = field(default_factory=list)
    parity: Parity | None = None
    macs: int | None = None  # dense multiply-accumulates per inference (conv + linear)
    macs_nonzero: int | None = None  # after pruning (what sparse kernels execute)
    elf: str = ""
    toolchain: dict[str, str] = field(default_factory=dict)
    energy: EnergyEstimate | None = None  # from the mean count, the CPI and the registry's current figure

    @property
    def fits(self) -> bool:
        return self.fits_flash and self.fits_ram

    @property
    def instructions_mean(self) -> float:
        return float(np.mean(self.instructions)) if self.instructions else 0.0

    @property
    def macs_per_instruction(self) -> float | None:
        if not self.macs or not self.instructions:
            return None
        return self.macs / self.instructions_mean

    def to_dict(self) -> dict[str, Any]:
        ins = self.instructions
        return {
            "target": self.target, "core": self.core, "board": self.board, "opt": self.opt,
            "n_windows": self.n_windows,
            "instructions_per_inference": {"min": min(ins), "max": max(ins), "mean": self.instructions_mean,
                                           "identical_across_windows": len(set(ins)) == 1} if ins else None,
            "instructions": ins,
            "cycles_per_instruction": self.cycles_per_instruction, "clock_hz": self.clock_hz,
            "est_ms": self.est_ms,
            "energy": None if self.energy is None else self.energy.to_dict(),
            "macs": self.macs, "macs_nonzero": self.macs_nonzero,
            "macs_per_instruction": self.macs_per_instruction,
            "flash": self.flash, "ram": self.ram, "fits_flash": self.fits_flash, "fits_ram": self.fits_ram,
            "fits": self.fits,
            "statuses": self.statuses,
            "parity": None if self.parity is None else self.parity.__dict__,
            "logits": self.logits.astype(int).tolist(),
            "elf": self.elf, "toolchain": self.toolchain,
        }

    def row(self) -> dict[str, str]:
        """One Markdown table row."""
        p = self.parity
        parity = "n/a" if p is None or p.matches is None else f"{p.matches}/{p.matches + p.mismatches}"
        mpi = self.macs_per_instruction
        ins = self.instructions
        ins_txt = f"{ins[0]:,}" if len(set(ins)) == 1 else f"{min(ins):,}..{max(ins):,}"
        return {
            "target": f"{self.target} ({self.board})",
            "opt": f"-{self.opt}",
            "instructions / inference": ins_txt,
            "est. ms (CPI x clock)": f"{self.est_ms:.2f} ({self.cycles_per_instruction} x {self.clock_hz / 1e6:g} MHz)",
            "MACs / instr": "n/a" if mpi is None else f"{mpi:.3f}",
            "energy / inference (duty)": "n/a" if self.energy is None else self.energy.cell(),
            "flash used / budget": f"{_kib(self.flash['total'])} / {_kib(self.flash['budget'])}",
            "RAM used / budget": f"{_kib(self.ram['total'])} / {_kib(self.ram['budget'])}",
            "fits": "yes" if self.fits else "no",
            "parity (match/windows)": parity,
        }


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def markdown_table(results: list[SimResult]) -> str:
    if not results:
        return ""
    rows = [r.row() for r in results]
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r[h] for h in head) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def breakdown_markdown(r: SimResult) -> str:
    """Flash and RAM, item by item, for one result."""
    f, m = r.flash, r.ram
    return (
        f"**{r.target}** flash: code {f['code']} B + model {f['model']} B = {f['total']} B of {f['budget']} B "
        f"({'fits' if r.fits_flash else 'DOES NOT FIT'}); RAM: static {m['static']} B + arena {m['arena']} B "
        f"+ window {m['window']} B + stack peak {m['stack_peak']} B = {m['total']} B of {m['budget']} B "
        f"({'fits' if r.fits_ram else 'DOES NOT FIT'}; RAM left for the stack {m['stack_reserved']} B, "
        f"runtime invoke {m['stack_invoke']} B)\n" + ("" if r.energy is None else "\n" + energy_markdown(r.energy)))
