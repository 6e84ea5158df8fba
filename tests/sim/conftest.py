"""Fixtures of the simulated-target tests: skip with the install line when the toolchain is
missing (CI installs it through `make toolchain`), golden vectors from export/golden."""

from __future__ import annotations

import pytest

from .sim_golden import GOLDEN, Golden, golden_names, load_golden


@pytest.fixture(scope="session")
def golden_int8() -> Golden:
    if "int8_dense" not in golden_names():
        pytest.skip(f"golden vectors missing under {GOLDEN} (run `make golden`)")
    return load_golden("int8_dense")


