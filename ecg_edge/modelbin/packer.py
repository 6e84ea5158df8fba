"""The packer: Checkpoint (+ CompressionPlan) + calibration windows -> model.bin bytes.

Steps: build the export graph (BN folded into the channel scales, weights quantized per the plan
with numerics.quantize_weight_channels, so the integers equal the fake-quant ones), calibrate int8
activations on training windows, derive requantization multipliers/shifts and folded int32
biases (FORMAT.md section 7), check the int32 accumulator bound, choose the smallest encoding per
layer, plan the arena, serialize. Writing to disk is the caller's job (ecg_edge.atomic).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from ecg_edge import __version__
from ecg_edge.checkpoint import Checkpoint
from ecg_edge.errors import EcgEdgeError
from ecg_edge.layerplan.bitpack import ENCODING_NAMES
from ecg_edge.layerplan.plan import CompressionPlan, nominal_cr, plan_summary
from ecg_edge.modelbin.calibrate import (
    DEFAULT_CALIB_WINDOWS,
    CalibSettings,
    calibrate,
    select_calibration,
)
from ecg_edge.modelbin.graph import build_graph, graph_inputs
from ecg_edge.modelbin.ir import Graph
from ecg_edge.modelbin.layout import OP_NAMES
from ecg_edge.modelbin.meta import split_meta
from ecg_edge.modelbin.writer import Serialized, serialize
from ecg_edge.models.registry import model_from_checkpoint


@dataclass
class PackedLayer:
    """What model.bin holds for one op (the model-side view of a layer is compress.layers.LayerInfo)."""

    name: str
    op: str
    shape: list[int]  # [L_out, C_out] of the op's output
    weight_shape: list[int]  # [C_out, span] for weighted ops, [] otherwise
    bits: int
    sparsity: float  # fraction of zero levels actually packed
    encoding: str
    bytes: int  # weight block bytes (0 for ops without weights)
    params: int  # weights in the layer
    nnz: int = 0  # non-zero levels packed


@dataclass
class PackResult:
    data: bytes  # model.bin: the device image, then the host trailer (FORMAT.md section 4)
    sections: dict[str, int]
    arena_bytes: int
    arena_lower_bound: int
    layers: list[PackedLayer]
    meta: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    device_size: int = 0  # bytes of the device image (header file_size): what is flashed

    @property
    def device_image(self) -> bytes:
        return self.data[:self.device_size]

    @property
    def fp32_param_bytes(self) -> int:
        return int(self.meta["fp32_param_bytes"])

    @property
    def true_cr(self) -> float:
        """fp32 parameter bytes / the device image (every flashed byte; the host trailer is not flashed)."""
        return self.fp32_param_bytes / self.device_size

    @property
    def nominal_cr(self) -> float:
        return nominal_cr([li.params for li in self.layers], [li.bits for li in self.layers],
                          [li.nnz for li in self.layers])


def checkpoint_sha256(ckpt: Checkpoint) -> str:
    """Hash of the weights (names, dtypes, shapes, values) in a stable order."""
    h = hashlib.sha256()
    for k in sorted(ckpt.state_dict):
        t = ckpt.state_dict[k]
        if not isinstance(t, torch.Tensor):
            continue
        a = t.detach().cpu().contiguous().numpy()
        h.update(k.encode())
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def build_meta(ckpt: Checkpoint, plan: CompressionPlan | None, g: Graph, fp32_bytes: int,
               source: str = "") -> dict[str, Any]:
    d = ckpt.data or {}
    t_in = g.tensors[g.input]
    leads = d.get("leads", t_in.channels)
    lead_names = [str(x) for x in leads] if isinstance(leads, (list, tuple)) else [f"lead{i}" for i in range(t_in.channels)]
    meta: dict[str, Any] = {
        "task": str(d.get("task", "")),
        "classes": [str(c) for c in ckpt.classes],
        "fs": float(d.get("fs", 0.0)),
        "input_length": t_in.length,
        "input_leads": t_in.channels,
        "lead_names": lead_names,
        "input_scale": float(t_in.scale),
        "input_zero_point": int(t_in.zero_point),
        "preprocessing": json.dumps(d.get("preprocessing", {}), sort_keys=True, default=str),
        "plan": json.dumps(plan_summary(plan), sort_keys=True, default=str),
        "source_checkpoint_sha256": checkpoint_sha256(ckpt),
        "producer": f"ecg-edge {__version__}",
        "fp32_param_bytes": int(fp32_bytes),
    }
    if source:
        meta["source_checkpoint"] = source
    meta.update(device_chain_meta(d.get("preprocessing"), t_in))
    if ckpt.arch == "hubert_ecg":  # the input adapter runs on the host before quantization
        from ecg_edge.modelbin.hubert_graph import adapter_meta

        meta["input_adapter"] = adapter_meta(model_from_checkpoint(ckpt))
    return meta


def device_chain_meta(pre: Any, t_in: Any) -> dict[str, Any]:
    """The pp.* fields of the device chain matching the training data's preprocessing; none when
    that chain cannot be realised on the device (the stream then refuses the model, offline use
    is unchanged)."""
    from ecg_edge.devicepre.chain import ChainError, chain_for

    if not isinstance(pre, dict) or not pre:
        return {}
    try:
        return chain_for(pre, input_scale=t_in.scale, zero_point=t_in.zero_point, window=t_in.length,
                         leads=t_in.channels).to_meta()
    except ChainError:
        return {}


def layer_infos(g: Graph, ser: Serialized) -> list[PackedLayer]:
    out = []
    for io_ in ser.ops:
        n = io_.node
        w = n.weights
        t = g.tensors[n.output]
        t_out = [t.length, t.channels]
        if w is None:
            out.append(PackedLayer(n.name, OP_NAMES[n.op], t_out, [], 0, 0.0, "-", 0, 0))
            continue
        size = w.levels.size
        out.append(PackedLayer(n.name, OP_NAMES[n.op], t_out, list(w.levels.shape), w.bits,
                             1.0 - io_.nnz / size if size else 0.0, ENCODING_NAMES[io_.encoding],
                             len(io_.block), size, io_.nnz))
    return out


def pack_graph(g: Graph, meta: dict[str, Any], allow_alias: bool = True, trailer: bool = True) -> PackResult:
    """Serialize an already-calibrated graph (used by pack() and by the golden builder).
    trailer: the host-only keys (meta.HOST_TRAILER_KEYS) go to the host trailer, out of the
    device image; False keeps every key in the image (the golden vectors)."""
    meta = {**meta, "op_names": [n.name for n in g.nodes]} if "op_names" not in meta else meta
    device, host = split_meta(meta) if trailer else (meta, {})
    ser = serialize(g, device, allow_alias, host)
    return PackResult(ser.data, ser.sections, ser.arena.arena_bytes, ser.arena.lower_bound,
                      layer_infos(g, ser), meta, list(g.notes), ser.device_size)


def calibrated_graph(arch: str, model: torch.nn.Module, plan: CompressionPlan | None, calib_X: np.ndarray, *,
                     max_calib_windows: int = DEFAULT_CALIB_WINDOWS, percentile: float | None = None,
                     input_percentile: float | None = None,
                     check: Callable[[Graph], None] | None = None) -> Graph:
    """The lowered, calibrated export graph: what pack() serializes, and what every other
    exporter (ONNX, TFLite) translates, so all of them ship the same integers and scales.
    `check` sees the lowered graph before calibration (an exporter refusing an op early)."""
    g = build_graph(arch, model, plan)
    if check is not None:
        check(g)
    X = graph_inputs(arch, model, select_calibration(calib_X, max_calib_windows))
    t_in = g.tensors[g.input]
    if X.shape[1:] != (t_in.length, t_in.channels):
        raise EcgEdgeError(f"calibration windows are {X.shape[2]} leads x {X.shape[1]} samples; the "
                           f"checkpoint expects {t_in.channels} x {t_in.length}")
    calibrate(g, X, percentile, input_percentile)
    if plan is not None:
        names = {n.name for n in g.nodes if n.weights is not None}
        extra = [lp.name for lp in plan.layers if lp.name not in names]
        if extra:
            g.notes.append(f"plan layers not in the model (ignored): {', '.join(extra)}")
    return g


def pack(ckpt: Checkpoint, plan: CompressionPlan | None, calib_X: np.ndarray, *,
         max_calib_windows: int = DEFAULT_CALIB_WINDOWS, source: str = "",
         percentile: float | None = None, input_percentile: float | None = None, trailer: bool = True) -> PackResult:
    """model.bin of `ckpt` as `ecg-edge export` ships it: a QAT checkpoint's trained integers
    as trained (calib_X unused), else calibrated on calib_X. Every caller (export, bench,
    sizes, golden) packs through here, so none can re-calibrate a QAT checkpoint by mistake."""
    if "qat" in ckpt.extra:
        return pack_trained(ckpt, plan, source=source, trailer=trailer)
    model = model_from_checkpoint(ckpt)
    fp32_bytes = 4 * sum(p.numel() for p in model.parameters())
    g = calibrated_graph(ckpt.arch, model, plan, calib_X, max_calib_windows=max_calib_windows,
                         percentile=percentile, input_percentile=input_percentile)
    return pack_graph(g, build_meta(ckpt, plan, g, fp32_bytes, source), trailer=trailer)


def shipped_graph(ckpt: Checkpoint, plan: CompressionPlan | None, calib_X: np.ndarray | None,
                  calib: CalibSettings | None = None, check: Callable[[Graph], None] | None = None) -> Graph:
    """The graph `ecg-edge export` writes model.bin from for these options: a QAT checkpoint's
    trained integers as trained (pack_trained), else the lowered graph calibrated on calib_X
    (pack). The ONNX and TFLite writers translate this graph, so every format ships it."""
    calib = calib or CalibSettings()
    model = model_from_checkpoint(ckpt)
    if "qat" in ckpt.extra:
        g = build_graph(ckpt.arch, model, plan)
        if check is not None:
            check(g)
        apply_trained(g, ckpt.extra["qat"])
        return g
    if calib_X is None:
        raise EcgEdgeError("int8 export needs calibration windows (calib_X), got none")
    return calibrated_graph(ckpt.arch, model, plan, calib_X, max_calib_windows=calib.windows,
                            percentile=calib.percentile, input_percentile=calib.input_percentile, check=check)


def result_summary(res: PackResult) -> dict[str, Any]:
    return {"bytes": res.device_size, "file_bytes": len(res.data), "sections": res.sections, "arena_bytes": res.arena_bytes,
            "arena_lower_bound": res.arena_lower_bound, "true_cr": res.true_cr,
            "nominal_cr": res.nominal_cr, "fp32_param_bytes": res.fp32_param_bytes,
            "layers": [asdict(li) for li in res.layers], "notes": res.notes}




def apply_trained(g: Graph, state: dict[str, Any]) -> None:
    """Put a trained integer graph (compress QAT: per node levels, learned per-channel scales and
    biases; per tensor (scale, zero point)) into a graph built for the same plan."""
    by_name = {n.name: n for n in g.nodes if n.weights is not None}
    missing = sorted(set(by_name) - set(state["nodes"]))
    if missing or len(state["tensors"]) != len(g.tensors):
        raise EcgEdgeError(f"trained graph does not match the model: missing {missing}, "
                           f"{len(state['tensors'])} tensors for {len(g.tensors)}")
    for name, d in state["nodes"].items():
        w = by_name[name].weights
        lv = np.asarray(d["levels"].numpy() if hasattr(d["levels"], "numpy") else d["levels"], dtype=np.int8)
        if lv.shape != w.levels.shape:
            raise EcgEdgeError(f"{name}: trained levels {lv.shape}, the graph expects {w.levels.shape}")
        w.levels = lv
        w.scale = np.asarray(d["scale"].numpy() if hasattr(d["scale"], "numpy") else d["scale"], dtype=np.float64)
        w.bias = np.asarray(d["bias"].numpy() if hasattr(d["bias"], "numpy") else d["bias"], dtype=np.float64)
    for t, (sc, zp) in zip(g.tensors, state["tensors"], strict=True):
        t.scale, t.zero_point = float(sc), int(zp)


def pack_trained(ckpt: Checkpoint, plan: CompressionPlan | None, *, source: str = "",
                 trailer: bool = True) -> PackResult:
    """model.bin of a QAT checkpoint exactly as trained: its learned weight scales and activation
    quantization are written as they are (no re-quantization, no re-calibration), so the file
    computes what the QAT exact forward computed."""
    model = model_from_checkpoint(ckpt)
    fp32_bytes = 4 * sum(p.numel() for p in model.parameters())
    g = build_graph(ckpt.arch, model, plan)
    apply_trained(g, ckpt.extra["qat"])
    return pack_graph(g, build_meta(ckpt, plan, g, fp32_bytes, source), trailer=trailer)
