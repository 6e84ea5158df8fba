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
        return plan_from_dict(raw, str(path))


def plan_from_dict(raw: Any, where: str) -> CompressionPlan:
    """The one reader of a plan's dict form (plan.json, a checkpoint's extra['plan']), validated."""
    if not isinstance(raw, dict):
        raise EcgEdgeError(f"{where}: a plan must be a JSON object, got {type(raw).__name__}")
    raw = dict(raw)
    if raw.get("version") != PLAN_VERSION:
        raise EcgEdgeError(f"{where}: field 'version' is {raw.get('version')!r}, expected {PLAN_VERSION}")
    try:
        layers = [LayerPlan(**lp) for lp in raw.pop("layers")]
        plan = CompressionPlan(layers=layers, **raw)
    except (TypeError, KeyError) as exc:
        raise EcgEdgeError(f"{where}: malformed plan ({exc})") from exc
    return validated(plan, where)


def validated(plan: CompressionPlan, where: str) -> CompressionPlan:
    for lp in plan.layers:
        if not (isinstance(lp.bits, int) and 1 <= lp.bits <= 8):
            raise EcgEdgeError(f"{where}: layer {lp.name!r} field 'bits' = {lp.bits!r}, expected an integer 1..8")
        if not 0.0 <= float(lp.sparsity) < 1.0:
            raise EcgEdgeError(f"{where}: layer {lp.name!r} field 'sparsity' = {lp.sparsity!r}, expected 0 <= s < 1")
    return plan


def nominal_cr(params: list[int], bits: list[int], nnz: list[int]) -> float:
    """The paper's nominal ratio, 32 * N / sum_l b_l * nnz_l: 32-bit weights over bits x
    non-zeros, ignoring every other byte (scales, masks, metadata). A method that does not
    quantize passes b_l = 32 (the paper's N / nnz)."""
    denom = sum(b * z for b, z in zip(bits, nnz, strict=True))
    return 32.0 * sum(params) / denom if denom else float("inf")


def plan_summary(plan: CompressionPlan | None) -> dict[str, Any]:
    """The plan as model.bin's META 'plan' records it (plan_from_summary reads it back)."""
    if plan is None:
        return {"method": "fixed-q8", "target": "", "tolerance": 0.0, "layers": {}, "note": "no plan: int8 dense"}
    return {"method": plan.method, "target": plan.target, "tolerance": plan.tolerance,
            "order": plan.order, "provenance": plan.provenance,
            "layers": {lp.name: {"bits": lp.bits, "sparsity": lp.sparsity} for lp in plan.layers}}


def plan_from_summary(summary: dict[str, Any], where: str) -> CompressionPlan | None:
    """The per-layer bits and sparsity of a META plan summary; None when it has no layers (int8 dense)."""
    layers = summary.get("layers")
    if not layers:
        return None
    try:
        plan = CompressionPlan(str(summary.get("method", "")), str(summary.get("target", "")),
                               [LayerPlan(n, int(v["bits"]), float(v["sparsity"])) for n, v in layers.items()])
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise EcgEdgeError(f"{where}: META 'plan' is malformed ({exc})") from exc
    return validated(plan, where)


def check_plan_fits(plan: CompressionPlan, layers: list[tuple[str, int]], where: str, *, arch: str = "",
                    classes: list[str] | None = None) -> None:
    """A plan made for another model is refused: layers missing, unknown or listed twice, weight
    counts that differ, or (when the plan records them) another architecture or class list.
    layers: (name, weight count) of every compressible layer of the model, in order."""
    names = [lp.name for lp in plan.layers]
    if not names:
        raise EcgEdgeError(f"{where}: the plan lists no layers; expected one entry per Conv1d/Linear layer")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise EcgEdgeError(f"{where}: layer(s) {', '.join(dup)} listed more than once")
    have = dict(layers)
    unknown = [n for n in names if n not in have]
    if unknown:
        raise EcgEdgeError(f"{where}: layer(s) {', '.join(unknown[:5])} are not in the model "
                           f"(a plan made for another model?); the model has {', '.join(list(have)[:5])}, ...")
    missing = [n for n in have if n not in names]
    if missing:
        raise EcgEdgeError(f"{where}: no entry for layer(s) {', '.join(missing[:5])}; a plan must cover every "
                           "Conv1d/Linear layer (they would silently ship at 8 bits)")
    for lp in plan.layers:
        if lp.params and int(lp.params) != int(have[lp.name]):
            raise EcgEdgeError(f"{where}: layer {lp.name!r} has {lp.params} weights in the plan but "
                               f"{have[lp.name]} in the model (a plan made for another model?)")
    rec = {**(plan.provenance if isinstance(plan.provenance, dict) else {}),
           **(plan.metrics if isinstance(plan.metrics, dict) else {})}
    p_arch = rec.get("arch")
    if arch and p_arch and p_arch != arch:
        raise EcgEdgeError(f"{where}: the plan was made for a {p_arch} model, not {arch}")
    p_cls = rec.get("classes")
    if classes is not None and p_cls and list(p_cls) != list(classes):
        raise EcgEdgeError(f"{where}: the plan was made for classes {p_cls}, the checkpoint has {classes}")


def same_assignment(a: CompressionPlan, b: CompressionPlan) -> bool:
    """The same bits and sparsity for the same layers."""
    return ({lp.name: (lp.bits, round(float(lp.sparsity), 6)) for lp in a.layers}
            == {lp.name: (lp.bits, round(float(lp.sparsity), 6)) for lp in b.layers})
