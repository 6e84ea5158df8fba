"""The simulated wearable target: firmware for Cortex-M boards under QEMU, exact instruction
counts, memory against budgets, and parity with the host runtime.

`ecg_edge.sim.simulate(model_bytes, inputs_q, target, opt="O2") -> SimResult`."""

from __future__ import annotations

from ecg_edge.sim.api import simulate
from ecg_edge.sim.result import SimResult

__all__ = ["SimResult", "simulate"]
