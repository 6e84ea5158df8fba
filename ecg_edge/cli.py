"""The `ecg-edge` command. Each sub-command lives beside the code it drives and is imported
only when used, so `ecg-edge --help` stays fast and one broken area cannot break the others."""

from __future__ import annotations

import errno
import importlib
import importlib.util
import os
import sys

import click

from ecg_edge import __version__
from ecg_edge.errors import EcgEdgeError

# name -> "module:attribute". A command whose module is not present is simply not offered.
COMMANDS: dict[str, str] = {
    "data": "ecg_edge.data.cli:data",
    "train": "ecg_edge.train.cli:train",
    "evaluate": "ecg_edge.train.cli:evaluate",
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


_OS_HINTS = {
    errno.ENOSPC: "no space left on the device; free some space or choose another output",
    errno.EDQUOT: "disk quota exceeded; free some space or choose another output",
    errno.EROFS: "read-only file system; choose an output on a writable disk",
    errno.EACCES: "permission denied; choose a location you can write (or read)",
    errno.EPERM: "operation not permitted; choose a location you can write",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "is a folder; expected a file",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
    errno.EMFILE: "too many open files",
}


def os_error_message(exc: OSError) -> str:
    """One line naming the path and what to do; previous outputs are intact (atomic writes)."""
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f) or "(no path)"
    hint = _OS_HINTS.get(exc.errno or -1, exc.strerror or str(exc))
    return f"{where}: {hint} [{errno.errorcode.get(exc.errno or -1, 'OSError')}]; previous outputs are intact"


def main(argv: list[str] | None = None) -> int:
    """Entry point: a user's mistake prints one clear line (exit 2), never a traceback."""
    try:
        rv = cli.main(args=argv, prog_name="ecg-edge", standalone_mode=False)
    except EcgEdgeError as exc:
        click.echo(f"ecg-edge: error: {exc}", err=True)
        if os.environ.get("ECG_EDGE_DEBUG") == "1":
            raise
        return 2
    except click.exceptions.Abort:
        click.echo("ecg-edge: aborted", err=True)
        return 130
    except click.UsageError as exc:
        msg = exc.format_message()
        if "\n" in msg or not msg:  # e.g. a group called without a sub-command: click's help text
            exc.show()
        else:  # a bad option value: one line naming the option and the value
            click.echo(f"ecg-edge: error: {msg}", err=True)
        return 2
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except OSError as exc:  # disk full, read-only, permissions, a file where a folder goes ...
        click.echo(f"ecg-edge: error: {os_error_message(exc)}", err=True)
        if os.environ.get("ECG_EDGE_DEBUG") == "1":
            raise
        return 2
    except KeyboardInterrupt:
        click.echo("ecg-edge: interrupted; outputs already written are intact", err=True)
        return 130
    # ctx.exit(code) comes back as an int in non-standalone mode; commands return None otherwise.
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
