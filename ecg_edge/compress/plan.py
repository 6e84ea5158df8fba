"""A compression plan: per layer a bit-width and a sparsity. The contract between `compress`
(which writes plan.json) and `export` (which packs model.bin from a checkpoint + plan)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ecg_edge.atomic import write_json
from ecg_edge.errors import EcgEdgeError

PLAN_VERSION = 1


@dataclass
class LayerPlan:
    name: str  # dotted module path of an nn.Conv1d / nn.Linear, e.g. "blocks.0.conv1"
    bits: int = 8  # 1..8
    sparsity: float = 0.0  # fraction of weights pruned by magnitude, 0..0.99
    params: int = 0
    importance: float = 0.0
    pdi: float = 0.0
    pvi: float = 0.0
    bytes: int = 0  # exact weight-block bytes in model.bin for this layer
    nnz: int = 0  # non-zero levels shipped (pruning plus levels that round to 0)
    encoding: str = ""  # smallest legal encoding: dense | bitmask | runlength


@dataclass
class CompressionPlan:
    method: str  # "fp32", "fixed-q8", "laq", "lap", "laq+lap", "budget", ...
    target: str
    layers: list[LayerPlan]
    tolerance: float = 0.0
    order: str = "prune-then-quantize"
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    version: int = PLAN_VERSION

    def layer(self, name: str) -> LayerPlan:
        for lp in self.layers:
            if lp.name == name:
                return lp
        raise KeyError(name)

    def save(self, path: str | Path) -> None:
        write_json(path, asdict(self))

    @staticmethod
    def load(path: str | Path) -> CompressionPlan:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise EcgEdgeError(f"{path}: plan file not found") from exc
        except json.JSONDecodeError as exc:
            raise EcgEdgeError(f"{path}: not valid JSON ({exc})") from exc
        if raw.get("version") != PLAN_VERSION:
            raise EcgEdgeError(f"{path}: field 'version' is {raw.get('version')!r}, expected {PLAN_VERSION}")
        try:
            layers = [LayerPlan(**lp) for lp in raw.pop("layers")]
            plan = CompressionPlan(layers=layers, **raw)
        except (TypeError, KeyError) as exc:
            raise EcgEdgeError(f"{path}: malformed plan ({exc})") from exc
        for lp in plan.layers:
            if not (isinstance(lp.bits, int) and 1 <= lp.bits <= 8):
                raise EcgEdgeError(f"{path}: layer {lp.name!r} field 'bits' = {lp.bits!r}, expected an integer 1..8")
            if not 0.0 <= float(lp.sparsity) < 1.0:
                raise EcgEdgeError(f"{path}: layer {lp.name!r} field 'sparsity' = {lp.sparsity!r}, expected 0 <= s < 1")
        return plan
