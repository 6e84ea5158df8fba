"""The op registry: one module per model.bin op in this package, each defining `OP`, an
`OpDef` (see base.py). Writer, reader, executor, planner, calibration, float forward and MAC
counting look ops up here by op code, so adding an op is adding a module (runtime_c/README.md,
"Adding an op", lists the rest: the C kernel, invoke.c/loader.c, FORMAT.md, tests)."""

from __future__ import annotations

import importlib
import pkgutil

from ecg_edge.modelbin.ops.base import IntOp, OpDef
from ecg_edge.modelbin.records import ModelBin

__all__ = ["IntOp", "OpDef", "REGISTRY", "RUNNABLE_OPS", "model_macs", "op_def", "runnable_summary"]


def _discover() -> dict[int, OpDef]:
    found: dict[int, OpDef] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "base" or info.name.startswith("_"):  # shared helpers, not ops
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        op = getattr(mod, "OP", None)
        if not isinstance(op, OpDef):
            raise TypeError(f"{mod.__name__} defines no OP (an OpDef instance)")
        if op.code in found:
            raise TypeError(f"{mod.__name__}: op code {op.code} is already defined by {type(found[op.code]).__name__}")
        found[op.code] = op
    return dict(sorted(found.items()))


REGISTRY: dict[int, OpDef] = _discover()
RUNNABLE_OPS = frozenset(REGISTRY)


def op_def(code: int) -> OpDef:
    """The op with this code; KeyError for a code this version does not run."""
    return REGISTRY[code]


def runnable_summary(version: int | None = None) -> str:
    """'0 CONV1D, 1 LINEAR, ...' for error messages: the ops a file of `version` may hold (all
    when None)."""
    return ", ".join(f"{c} {op.name}" for c, op in REGISTRY.items() if version is None or op.min_version <= version)


def model_macs(mb: ModelBin) -> tuple[int, int]:
    """(dense, non-zero-weight) multiply-accumulates of one inference, each op counting its own."""
    dense = nonzero = 0
    for op in mb.ops:
        d, z = op_def(op.op).macs(op, mb.tensors)
        dense += d
        nonzero += z
    return dense, nonzero
