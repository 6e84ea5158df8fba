"""Progress bars for long work (rate and ETA), quiet when output is not a terminal or in CI."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def _disabled() -> bool:
    return os.environ.get("ECG_EDGE_NO_PROGRESS") == "1" or not sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, *, desc: str = "", total: int | None = None,
             unit: str = "it", **kw: Any) -> tqdm:
    """A tqdm bar with rate and ETA; disabled (no output) when stderr is not a terminal."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=_disabled(),
                dynamic_ncols=True, leave=False, **kw)
