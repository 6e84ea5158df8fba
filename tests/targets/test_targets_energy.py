"""Energy per inference: the arithmetic from the count, CPI and the registry's current figure, and
no number where the registry has no published figure."""

from __future__ import annotations

import pytest

from ecg_edge.targets import TARGETS, get_target
from ecg_edge.targets.energy import energy_markdown, estimate_energy


def test_energy_is_cycles_times_current_per_mhz_times_volts() -> None:
    t = get_target("cortex-m4")
    rc = t.run_current
    assert rc is not None
    e = estimate_energy(t, 10_000_000, 10.24)
    cycles = 10_000_000 * t.cycles_per_instruction
    # I = k uA/MHz x f, t = cycles / f: E = k x f x 1e-6 A x V x cycles / f
    current_a = rc.ua_per_mhz * (t.clock_hz / 1e6) * 1e-6
    assert e.energy_uj == pytest.approx(current_a * rc.volts * cycles / t.clock_hz * 1e6)
    assert e.active_s == pytest.approx(cycles / t.clock_hz)
    assert e.duty_cycle == pytest.approx(e.active_s / 10.24)
    assert e.average_uw == pytest.approx(e.energy_uj / 10.24)
    assert e.source == rc.source and "http" in e.source
    assert "mJ per inference" in energy_markdown(e) and rc.source in energy_markdown(e)


def test_targets_without_a_figure_say_so_instead_of_a_number() -> None:
    for t in TARGETS.values():
        assert (t.run_current is None) == bool(t.run_current_missing), t.name
        if t.run_current is None:
            e = estimate_energy(t, 1_000_000, None)
            assert e.energy_uj is None and e.average_uw is None and e.duty_cycle is None
            assert e.note == t.run_current_missing
            assert "not estimated" in energy_markdown(e) and "n/a" in e.cell()
