"""`ecg-edge targets` lists the registry."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ecg_edge.targets.cli import targets
from ecg_edge.targets.registry import TARGETS


def test_targets_table_lists_every_target() -> None:
    res = CliRunner().invoke(targets, [])
    assert res.exit_code == 0
    for t in TARGETS.values():
        assert t.name in res.output and t.qemu_machine in res.output
    assert "cortex-m -> cortex-m4" in res.output


def test_targets_json_has_budgets() -> None:
    res = CliRunner().invoke(targets, ["--json"])
    rows = json.loads(res.output)
    m4 = next(r for r in rows if r["target"] == "cortex-m4")
    assert m4["flash"] == "1024 KiB" and m4["RAM"] == "256 KiB" and m4["cycles/instr"] == "1.3"
