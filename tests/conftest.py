"""Shared fixtures: real data is read in place from $ECG_EDGE_DATA (default ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("ECG_EDGE_NO_PROGRESS", "1")

from ecg_edge.paths import data_root  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"real ECG data not found at {root} (set ECG_EDGE_DATA)")
    return root


@pytest.fixture(scope="session")
def toolchain():
    """The Cortex-M cross toolchain and QEMU, or a skip with the install line (CI installs them
    through `make toolchain`)."""
    from ecg_edge.errors import ToolchainMissing
    from ecg_edge.sim.toolchain import find_toolchain

    try:
        return find_toolchain()
    except ToolchainMissing as exc:
        pytest.skip(str(exc))
