"""Shared results and errors of the mobile exporters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ecg_edge.errors import ModelFormatError


class UnsupportedOpError(ModelFormatError):
    """The model holds an operation the target format (or our lowering to it) cannot express."""

    def __init__(self, fmt: str, op: str, where: str = "", hint: str = "") -> None:
        self.fmt, self.op, self.where = fmt, op, where
        msg = f"{fmt} export: operation {op!r}"
        if where:
            msg += f" (module {where!r})"
        msg += f" cannot be expressed in {fmt}"
        if hint:
            msg += f"; {hint}"
        super().__init__(msg)


@dataclass
class ExportInfo:
    """What an export wrote: the file, its exact size, and honest notes (e.g. layers stored at
    int8 although their plan asks for fewer bits)."""

    path: Path
    bytes: int
    format: str
    notes: list[str] = field(default_factory=list)
    layer_storage: dict[str, str] = field(default_factory=dict)  # layer -> "int4", "int8", "lut3", ...

    def to_dict(self) -> dict:
        return {"path": str(self.path), "bytes": self.bytes, "format": self.format,
                "notes": list(self.notes), "layer_storage": dict(self.layer_storage)}
