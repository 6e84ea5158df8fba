"""`make firmware`: build (or confirm cached) the firmware objects of every target at -O2 and
-Os, and the QEMU instruction-count plugin, so the first `ecg-edge simulate` only links."""

from __future__ import annotations

import sys

import click

from ecg_edge.options import entry_point
from ecg_edge.sim.build import OPTS, build_objects, build_plugin, cache_root
from ecg_edge.sim.toolchain import find_toolchain
from ecg_edge.targets.registry import TARGETS


@click.command(help=__doc__.replace("\n", " "))
def command() -> None:
    tc = find_toolchain()
    for target in TARGETS.values():
        for opt in OPTS:
            d = build_objects(tc, target, opt)
            print(f"{target.name:<11} -{opt}: {d}")
    print(f"plugin: {build_plugin(tc)}")
    print(f"cache: {cache_root()}")


main = entry_point(command, "python -m ecg_edge.sim.prebuild")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
