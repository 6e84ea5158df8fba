"""The board linker scripts, generated from the target registry (ecg_edge/targets/registry.py) so a
budget or address lives in one place: MEMORY holds FLASH and RAM (the target's budgets), IO (board
memory outside both, where QEMU places the job) and, where the core boots elsewhere, VECT; the
sections every board shares are firmware_sim/ld/sections.ld, INCLUDEd from the -L folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ecg_edge.targets.registry import KB, Target


def _length(n: int) -> str:
    return f"{n // KB}K" if n % KB == 0 else str(n)


def memory_regions(target: Target, *, ram_bytes: int | None = None) -> dict[str, tuple[str, int, int]]:
    """name -> (attributes, origin, length). ram_bytes replaces the RAM budget (the C test firmware,
    which measures nothing against it)."""
    b = target.board
    regions: dict[str, tuple[str, int, int]] = {}
    if b.vectors_base is not None:
        regions["VECT"] = ("rx", b.vectors_base, b.vectors_bytes)
    regions["FLASH"] = ("rx", target.flash_base, target.flash_bytes - b.vectors_bytes)
    regions["RAM"] = ("rwx", target.ram_base, target.ram_bytes if ram_bytes is None else ram_bytes)
    regions["IO"] = ("rw", b.io_base, b.io_bytes)
    return regions


def linker_script(target: Target, *, ram_bytes: int | None = None) -> str:
    b = target.board
    regions = memory_regions(target, ram_bytes=ram_bytes)
    lines = [f"/* {target.name} on QEMU {b.machine}. Generated from ecg_edge/targets/registry.py; do not edit.",
             f" * Board (QEMU 7.2 `info mtree`): {b.memory_map}. */", "MEMORY", "{"]
    lines += [f"    {name:<5} ({attrs}){' ' * (4 - len(attrs))}: ORIGIN = 0x{origin:08X}, LENGTH = {_length(length)}"
              for name, (attrs, origin, length) in regions.items()]
    lines += ["}", f"REGION_ALIAS(\"VECTORS\", {'VECT' if 'VECT' in regions else 'FLASH'});", "INCLUDE sections.ld", ""]
    return "\n".join(lines)


def write_linker_script(target: Target, folder: Path, *, ram_bytes: int | None = None) -> Path:
    """folder/<board>.ld, written through a temporary file and a rename (builds share cache folders)."""
    text = linker_script(target, ram_bytes=ram_bytes)
    path = folder / f"{target.board.machine}.ld"
    if path.is_file() and path.read_text() == text:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".ld", dir=folder)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
