"""Shared results and errors of the mobile exporters, and the graph their int8 writers translate."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecg_edge.checkpoint import Checkpoint
from ecg_edge.errors import ModelFormatError
from ecg_edge.layerplan.plan import CompressionPlan
from ecg_edge.modelbin.calibrate import CalibSettings
from ecg_edge.modelbin.ir import GNode, Graph
from ecg_edge.modelbin.layout import OP_NAMES


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


def tensor_names(g: Graph) -> list[str]:
    """The name each int8 writer gives a graph tensor: its graph name (made unique), so an
    exported tensor can be matched with model.bin's tensor of the same index."""
    seen: dict[str, int] = {}
    out = []
    for t in g.tensors:
        k = seen.get(t.name, 0)
        seen[t.name] = k + 1
        out.append(t.name if k == 0 else f"{t.name}#{k}")
    return out


Limits = Callable[[Graph, GNode], None]


def check_translatable(g: Graph, fmt: str, ops: Collection[int], limits: Limits | None = None) -> None:
    """Refuse, naming the node, the first node of the lowered graph the `fmt` writer cannot
    translate: an op it has no translation for, or one `limits` rejects (e.g. grouped conv)."""
    for node in g.nodes:
        if node.op not in ops:
            known = ", ".join(OP_NAMES[o] for o in sorted(ops))
            raise UnsupportedOpError(fmt, OP_NAMES.get(node.op, f"op {node.op}"), node.name,
                                     f"the {fmt} writer translates {known}")
        if limits is not None:
            limits(g, node)


def int8_graph(ckpt: Checkpoint, plan: CompressionPlan | None, calib_X: np.ndarray | None,
               calib: CalibSettings | None, fmt: str, ops: Collection[int],
               limits: Limits | None = None) -> Graph:
    """The graph model.bin is written from for the same checkpoint, plan, calibration windows
    and --calib-* settings (modelbin.packer.shipped_graph), after checking that every node has
    a translation in `fmt` (before the calibration runs)."""
    from ecg_edge.modelbin.packer import shipped_graph

    return shipped_graph(ckpt, plan, calib_X, calib, check=lambda g: check_translatable(g, fmt, ops, limits))
