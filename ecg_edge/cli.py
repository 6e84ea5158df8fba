"""The `ecg-edge` command. Each sub-command lives beside the code it drives and is imported
only when used, so `ecg-edge --help` stays fast and one broken area cannot break the others."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from ecg_edge import __version__
from ecg_edge.options import run_command

# name -> "module:attribute". A command whose module is not present is simply not offered.
COMMANDS: dict[str, str] = {
    "data": "ecg_edge.data.cli:data",
    "train": "ecg_edge.train.cli:train",
    "evaluate": "ecg_edge.train.cli:evaluate",
    "compare": "ecg_edge.train.cli:compare",
    "pretrain": "ecg_edge.train.pretrain_cli:pretrain",
    "compress": "ecg_edge.compress.cli:compress",
    "report": "ecg_edge.report.cli:report",
    "export": "ecg_edge.modelbin.cli:export",
    "inspect": "ecg_edge.modelbin.cli:inspect_cmd",
    "run": "ecg_edge.runtime.cli:run",
    "simulate": "ecg_edge.sim.cli:simulate",
    "targets": "ecg_edge.targets.cli:targets",
    "bench": "ecg_edge.mobile.cli:bench",
    "demo": "ecg_edge.pipeline:demo",
    "predict": "ecg_edge.predict:predict",
}


def _available(spec: str) -> bool:
    module = spec.split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, s in COMMANDS.items() if _available(s))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        spec = COMMANDS.get(name)
        if spec is None or not _available(spec):
            return None
        module, attr = spec.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ecg-edge")
def cli() -> None:
    """ECG rhythm classifiers from recordings to wearable microcontrollers."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: a user's mistake prints one clear line (exit 2), never a traceback."""
    return run_command(cli, argv, "ecg-edge")


if __name__ == "__main__":
    sys.exit(main())
