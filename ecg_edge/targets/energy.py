"""Energy per inference on a target, estimated from an exact instruction count: cycles = instructions
x the target's stated CPI, energy = cycles x the published run current per MHz x supply voltage
(I = k uA/MHz x f, t = cycles / f, so E = k x V x cycles, whatever the clock), and the duty cycle
at one inference per window. An estimate, not a measurement: CPI is assumed, the current is a
maker's best-case run-mode figure for a whole MCU, and the sleep current between inferences is
not included."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ecg_edge.targets.registry import Target


@dataclass(frozen=True)
class EnergyEstimate:
    target: str
    instructions: float
    cycles_per_instruction: float
    cycles: float
    clock_hz: int
    active_s: float  # cycles / clock
    window_s: float | None  # one inference per window of this length (None: unknown)
    duty_cycle: float | None  # active_s / window_s
    ua_per_mhz: float | None
    volts: float | None
    energy_uj: float | None  # None where no current figure was found
    average_uw: float | None  # energy_uj / window_s: the inferences' share of the average power
    part: str
    source: str
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cell(self) -> str:
        """Short Markdown cell: energy and duty cycle."""
        duty = "" if self.duty_cycle is None else f"{100 * self.duty_cycle:.2f}% duty"
        if self.energy_uj is None:
            return f"n/a (no current figure){', ' + duty if duty else ''}"
        return f"{self.energy_uj / 1000:.2f} mJ{', ' + duty if duty else ''}"


def estimate_energy(target: Target, instructions: float, window_s: float | None) -> EnergyEstimate:
    """The estimate for `instructions` per inference, one inference every `window_s` seconds."""
    cycles = float(instructions) * target.cycles_per_instruction
    active = cycles / target.clock_hz
    duty = active / window_s if window_s else None
    rc = target.run_current
    if rc is None:
        return EnergyEstimate(target.name, float(instructions), target.cycles_per_instruction, cycles,
                              target.clock_hz, active, window_s, duty, None, None, None, None, "", "",
                              target.run_current_missing)
    energy = cycles * rc.ua_per_mhz * rc.volts * 1e-6  # uA/MHz x V x cycles = pJ x 1e6 -> uJ
    return EnergyEstimate(
        target.name, float(instructions), target.cycles_per_instruction, cycles, target.clock_hz, active,
        window_s, duty, rc.ua_per_mhz, rc.volts, energy, energy / window_s if window_s else None, rc.part,
        rc.source,
        f"{rc.ua_per_mhz:g} uA/MHz ({rc.conditions}) x {rc.volts:g} V ({rc.volts_source}) x instructions x CPI "
        f"{target.cycles_per_instruction:g}; sleep current between inferences not included")


def energy_markdown(e: EnergyEstimate) -> str:
    """One paragraph: the figure, the arithmetic and the source."""
    window = "" if e.window_s is None else (
        f"; one inference per {e.window_s:g} s window: {100 * (e.duty_cycle or 0):.2f}% duty cycle")
    if e.energy_uj is None:
        return (f"**{e.target} energy**: not estimated: {e.note}. Active time {e.active_s * 1e3:.1f} ms "
                f"({e.cycles:,.0f} cycles at {e.clock_hz / 1e6:g} MHz){window}.\n")
    avg = "" if e.average_uw is None else f", {e.average_uw / 1000:.3f} mW averaged over the window"
    return (f"**{e.target} energy**: {e.energy_uj / 1000:.2f} mJ per inference{avg} (estimate: {e.cycles:,.0f} "
            f"cycles = {e.instructions:,.0f} instructions x CPI {e.cycles_per_instruction:g}, x {e.ua_per_mhz:g} "
            f"uA/MHz x {e.volts:g} V of {e.part}); active {e.active_s * 1e3:.1f} ms at {e.clock_hz / 1e6:g} MHz"
            f"{window}. Figure: {e.source}. {e.note}.\n")
