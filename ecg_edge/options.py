"""Shared click option types: every value is checked when the command line is parsed, before any
work starts, and a bad one is refused in one line naming the option and the value.

Use these instead of bare `type=float` / `type=int` in new commands: a bare float accepts `nan`
and `inf`, a bare int accepts 0 or -1 where neither makes sense.
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ecg_edge.errors import EcgEdgeError


class FiniteFloat(click.ParamType):
    """A finite float (never nan/inf), optionally within [min, max] (open ends allowed)."""

    name = "number"

    def __init__(self, min: float | None = None, max: float | None = None, *, min_open: bool = False,
                 max_open: bool = False) -> None:
        self.min, self.max, self.min_open, self.max_open = min, max, min_open, max_open

    def _range(self) -> str:
        lo = "" if self.min is None else f"{'>' if self.min_open else '>='} {self.min:g}"
        hi = "" if self.max is None else f"{'<' if self.max_open else '<='} {self.max:g}"
        return " and ".join(s for s in (lo, hi) if s)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float) and math.isfinite(value):
            v = value
        else:
            try:
                v = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        bad = ((self.min is not None and (v < self.min or (self.min_open and v == self.min)))
               or (self.max is not None and (v > self.max or (self.max_open and v == self.max))))
        if bad:
            self.fail(f"{value!r}: expected a number {self._range()}", param, ctx)
        return v


def finite(min: float | None = None, max: float | None = None, *, min_open: bool = False,
           max_open: bool = False) -> FiniteFloat:
    return FiniteFloat(min, max, min_open=min_open, max_open=max_open)


POSITIVE = FiniteFloat(0.0, min_open=True)  # > 0, finite
NON_NEGATIVE = FiniteFloat(0.0)  # >= 0, finite
FRACTION = FiniteFloat(0.0, 1.0)  # [0, 1]
POSITIVE_INT = click.IntRange(min=1)
NON_NEGATIVE_INT = click.IntRange(min=0)


class NumberList(click.ParamType):
    """Comma-separated finite numbers: `0.7,0.15,0.15`; with integer=True whole numbers `0,1,2`."""

    name = "numbers"

    def __init__(self, n: int | None = None, *, positive: bool = False, integer: bool = False,
                 minimum: int | None = None) -> None:
        self.n, self.positive, self.integer, self.minimum = n, positive, integer, minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[float, ...]:
        if isinstance(value, tuple):
            return value
        kind = "whole numbers" if self.integer else "numbers"
        try:
            vals = tuple((int if self.integer else float)(v) for v in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r}: expected comma-separated {kind}", param, ctx)
        if not all(math.isfinite(v) for v in vals):
            self.fail(f"{value!r}: every number must be finite", param, ctx)
        if self.n is not None and len(vals) != self.n:
            self.fail(f"{value!r}: expected {self.n} comma-separated {kind}, got {len(vals)}", param, ctx)
        if self.positive and any(v <= 0 for v in vals):
            self.fail(f"{value!r}: every number must be > 0", param, ctx)
        if self.minimum is not None and any(v < self.minimum for v in vals):
            self.fail(f"{value!r}: every number must be >= {self.minimum}", param, ctx)
        return vals


class Band(click.ParamType):
    """Band-pass edges `LOW,HIGH` in Hz (0 <= LOW < HIGH, finite), or `none`."""

    name = "LOW,HIGH|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[float, float] | None:
        if value is None or isinstance(value, tuple):
            return value
        if str(value).strip().lower() == "none":
            return None
        try:
            vals = tuple(float(v) for v in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r}: expected LOW,HIGH in Hz or 'none'", param, ctx)
        if len(vals) != 2:
            self.fail(f"{value!r}: expected LOW,HIGH in Hz or 'none'", param, ctx)
        lo, hi = vals
        if not (math.isfinite(lo) and math.isfinite(hi)) or not 0 <= lo < hi:
            self.fail(f"{value!r}: expected finite edges with 0 <= LOW < HIGH (Hz)", param, ctx)
        return (lo, hi)


class Leads(click.ParamType):
    """`1`, `12` (a count) or lead names `II,V1` (each once)."""

    name = "leads"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        v = str(value).strip()
        if v.isdigit():
            if int(v) < 1:
                self.fail(f"{value!r}: expected at least 1 lead", param, ctx)
            return v
        names = [s.strip() for s in v.split(",")]
        if not names or any(not s for s in names):
            self.fail(f"{value!r}: expected a lead count or comma-separated lead names like II,V1", param, ctx)
        dup = sorted({s for s in names if [n.upper() for n in names].count(s.upper()) > 1})
        if dup:
            self.fail(f"{value!r}: lead {', '.join(dup)} given more than once", param, ctx)
        return v


def existing_dir() -> click.Path:
    return click.Path(exists=True, file_okay=False, path_type=Path)


def existing_file() -> click.Path:
    return click.Path(exists=True, dir_okay=False, path_type=Path)


def check_band_below_nyquist(band: tuple[float, float] | None, fs: float, option: str = "--band",
                             fs_option: str = "--target-fs") -> None:
    """A band edge at or above fs/2 cannot be filtered; refuse before any record is read."""
    if band is not None and band[1] >= fs / 2:
        raise click.BadParameter(f"{band[0]:g},{band[1]:g}: the high edge must be below the Nyquist frequency "
                                 f"{fs / 2:g} Hz of {fs_option} {fs:g}", param_hint=f"'{option}'")


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


def run_command(cmd: click.Command, argv: list[str] | None, prog_name: str) -> int:
    """Run a click command in-process (the `ecg-edge` command, and every `python -m ecg_edge.X`
    entry point): a user's mistake prints one clear line (exit 2), never a traceback; the
    command's int return value is the exit status. argv None reads the process's arguments."""
    try:
        rv = cmd.main(args=argv, prog_name=prog_name, standalone_mode=False)
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


def entry_point(cmd: click.Command, prog_name: str) -> Callable[[list[str] | None], int]:
    """The `main(argv)` of a `python -m ecg_edge.X` module, run through run_command. argv None
    means no arguments, i.e. the defaults (`make bench` calls every area's main())."""
    def main(argv: list[str] | None = None) -> int:
        return run_command(cmd, [] if argv is None else argv, prog_name)
    return main
