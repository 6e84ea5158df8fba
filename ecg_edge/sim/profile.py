"""Where the instructions of one inference go, function by function (the plugin's per-block
profile mapped onto the ELF's symbols): the tool for tuning kernels on a target.

    python -m ecg_edge.sim.profile MODEL.bin [--target cortex-m4] [--opt O2]"""

from __future__ import annotations

import bisect
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import click
import numpy as np

from ecg_edge.options import entry_point
from ecg_edge.sim.api import arena_size_of, as_windows, check_run
from ecg_edge.sim.build import OPTS, Layout, build_firmware, build_plugin
from ecg_edge.sim.qemu import run_image
from ecg_edge.sim.toolchain import find_toolchain
from ecg_edge.targets.registry import get_target


def profile(model_bytes: bytes, inputs_q: np.ndarray, target: str = "cortex-m4", opt: str = "O2"
            ) -> list[tuple[str, int]]:
    """(function, instructions executed between the markers) for all windows, largest first."""
    tc = find_toolchain()
    tgt = get_target(target)
    windows = as_windows(inputs_q)
    image = build_firmware(tc, tgt, Layout(len(model_bytes), arena_size_of(model_bytes), int(windows[0].size)), opt)
    with tempfile.TemporaryDirectory() as td:
        prof = Path(td) / "profile.txt"
        run = run_image(tc, tgt, image, build_plugin(tc), model_bytes, windows, profile_path=prof)
        check_run(run, tgt, windows.shape[0])
        return symbol_profile(tc.arm_nm, image.elf, prof)


def symbol_profile(arm_nm: str, elf: Path, profile_file: Path) -> list[tuple[str, int]]:
    """The plugin's per-block profile (`profile=` option) summed per function of the ELF."""
    nm = subprocess.run([arm_nm, "-n", str(elf)], capture_output=True, text=True, check=True).stdout
    funcs = [(int(a, 16), n) for a, t, n in (ln.split() for ln in nm.splitlines() if len(ln.split()) == 3)
             if t in "Tt"]
    addrs = [a for a, _ in funcs]
    per: dict[str, int] = defaultdict(int)
    for ln in profile_file.read_text().splitlines():
        _, va, n, execs = ln.split()
        i = bisect.bisect_right(addrs, int(va, 16)) - 1
        per[funcs[i][1] if i >= 0 else "?"] += int(n) * int(execs)
    return sorted(per.items(), key=lambda kv: -kv[1])


@click.command(help="Instructions per function of one simulated inference.")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", default="cortex-m4", show_default=True)
@click.option("--opt", type=click.Choice(OPTS), default="O2", show_default=True)
def command(model: Path, target: str, opt: str) -> None:
    from ecg_edge.sim.inputs import random_windows

    data = model.read_bytes()
    rows = profile(data, random_windows(data, 1), target, opt)
    total = sum(n for _, n in rows)
    print(f"{'function':<40} {'instructions':>12} {'share':>7}")
    for name, n in rows[:25]:
        print(f"{name:<40} {n:>12,} {n / total:>7.1%}")
    print(f"{'total':<40} {total:>12,}")


main = entry_point(command, "python -m ecg_edge.sim.profile")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
