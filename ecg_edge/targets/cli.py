"""`ecg-edge targets`: the target registry as a table (budgets, clock, CPI factor, QEMU board)."""

from __future__ import annotations

import click

from ecg_edge.targets.registry import ALIASES, TARGETS


@click.command("targets")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def targets(as_json: bool) -> None:
    """List the Cortex-M targets: flash/RAM budgets, clock, cycles per instruction, QEMU board."""
    rows = [{
        "target": t.name, "core": t.core, "qemu board": t.qemu_machine, "flash": f"{t.flash_bytes // 1024} KiB",
        "RAM": f"{t.ram_bytes // 1024} KiB", "clock": f"{t.clock_hz / 1e6:g} MHz",
        "cycles/instr": f"{t.cycles_per_instruction}", "DSP": "yes" if t.has_dsp else "no",
        "bits": ",".join(map(str, t.supported_bits)),
        "flash @": f"0x{t.flash_base:08x}", "RAM @": f"0x{t.ram_base:08x}",
    } for t in TARGETS.values()]
    if as_json:
        import json

        click.echo(json.dumps(rows, indent=1))
        return
    head = list(rows[0])
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in head}
    click.echo("  ".join(h.ljust(widths[h]) for h in head))
    for r in rows:
        click.echo("  ".join(r[h].ljust(widths[h]) for h in head))
    click.echo("aliases: " + ", ".join(f"{a} -> {b}" for a, b in ALIASES.items()))
