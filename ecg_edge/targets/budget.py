"""Does a model fit a target? Flash holds the runtime code + model.bin; RAM holds the activation
arena + static data + stack. A plan that fails either budget is never emitted.

Reserves are conservative defaults until the firmware build measures them (the firmware build
refines them from the linked ELF): 48 KiB of runtime + firmware code in flash, 8 KiB of static RAM and
stack together.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecg_edge.targets.registry import Target

DEFAULT_CODE_BYTES = 48 * 1024
DEFAULT_STATIC_RAM = 4 * 1024
DEFAULT_STACK_BYTES = 4 * 1024


@dataclass(frozen=True)
class FitReport:
    target: str
    model_bytes: int
    arena_bytes: int
    code_bytes: int
    static_ram: int
    stack_bytes: int
    flash_bytes: int
    ram_bytes: int

    @property
    def flash_used(self) -> int:
        return self.model_bytes + self.code_bytes

    @property
    def ram_used(self) -> int:
        return self.arena_bytes + self.static_ram + self.stack_bytes

    @property
    def flash_ok(self) -> bool:
        return self.flash_used <= self.flash_bytes

    @property
    def ram_ok(self) -> bool:
        return self.ram_used <= self.ram_bytes

    @property
    def fits(self) -> bool:
        return self.flash_ok and self.ram_ok

    @property
    def max_model_bytes(self) -> int:
        return self.flash_bytes - self.code_bytes

    def failures(self) -> list[str]:
        out = []
        if not self.flash_ok:
            out.append(f"flash: model {self.model_bytes} B + code {self.code_bytes} B = {self.flash_used} B "
                       f"exceeds {self.target}'s {self.flash_bytes} B by {self.flash_used - self.flash_bytes} B")
        if not self.ram_ok:
            out.append(f"RAM: arena {self.arena_bytes} B + static {self.static_ram} B + stack {self.stack_bytes} B "
                       f"= {self.ram_used} B exceeds {self.target}'s {self.ram_bytes} B by {self.ram_used - self.ram_bytes} B")
        return out

    def summary(self) -> str:
        if self.fits:
            return (f"fits {self.target}: flash {self.flash_used}/{self.flash_bytes} B, "
                    f"RAM {self.ram_used}/{self.ram_bytes} B")
        return "; ".join(self.failures())

    def to_dict(self) -> dict:
        return {"target": self.target, "fits": self.fits, "flash_used": self.flash_used,
                "flash_bytes": self.flash_bytes, "ram_used": self.ram_used, "ram_bytes": self.ram_bytes,
                "model_bytes": self.model_bytes, "arena_bytes": self.arena_bytes,
                "code_bytes": self.code_bytes, "static_ram": self.static_ram, "stack_bytes": self.stack_bytes,
                "failures": self.failures()}


def check_fit(target: Target, model_bytes: int, arena_bytes: int, code_bytes: int = DEFAULT_CODE_BYTES,
              static_ram: int = DEFAULT_STATIC_RAM, stack_bytes: int = DEFAULT_STACK_BYTES) -> FitReport:
    return FitReport(target.name, int(model_bytes), int(arena_bytes), int(code_bytes), int(static_ram),
                     int(stack_bytes), target.flash_bytes, target.ram_bytes)
