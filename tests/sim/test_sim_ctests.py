"""runtime_c's C tests (each kernel against the naive reference at every bit-width and encoding,
loader and invoke refusals) run as firmware on the simulated cores, where the DSP and Helium
kernel paths that host builds never compile are the ones tested."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.sim, pytest.mark.xdist_group("sim")]


@pytest.mark.parametrize("target,mve", [("cortex-m4", True), ("cortex-m33", True), ("cortex-m55", True),
                                        ("cortex-m55", False)])
def test_c_tests_pass_on_target(toolchain, target, mve) -> None:
    from ecg_edge.sim.ctest import run_ctests

    res = run_ctests(target, mve=mve)
    assert res.ok, res.output[-3000:]
    assert res.passed >= 18
