"""ONNX exports: the fp32 eval model (torch.onnx.export), and the compressed model as QDQ int8
written node by node from the quantized graph, so the per-layer integer weights survive.

Layers of <= 4 bits are stored as ONNX INT4 (opset 21) initializers feeding DequantizeLinear,
which onnxruntime's CPU provider runs; 5..7-bit layers have no ONNX type and are stored at int8
(said so in ExportInfo.notes). ONNX also has INT2 (opset 25) and onnxruntime 1.32 dequantizes
it, but its QDQ Conv fusion then builds a QLinearConv with int2 weights and rejects the graph
as invalid, so 1..2-bit layers are stored as INT4 too. Activations are QuantizeLinear/DequantizeLinear pairs with the
calibrated per-tensor scales, which onnxruntime fuses into integer kernels where it can.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from ecg_edge.atomic import write_bytes
from ecg_edge.checkpoint import Checkpoint
from ecg_edge.layerplan.plan import CompressionPlan
from ecg_edge.mobile.common import ExportInfo, UnsupportedOpError
from ecg_edge.mobile.qgraph import QGraph, QOp, lower
from ecg_edge.models.registry import model_from_checkpoint

FP32_OPSET = 17
QDQ_OPSET = 21  # first opset with INT4 / per-axis int4 DequantizeLinear
QDQ_IR_VERSION = 10
INT4_MAX_BITS = 4


def dummy_input(ckpt: Checkpoint) -> torch.Tensor:
    """An input of the checkpoint's shape: the model config wins; the data contract's `leads`
    may be a count or a list of lead names."""
    leads = ckpt.config.get("in_leads") or ckpt.data.get("leads") or 1
    leads = len(leads) if isinstance(leads, (list, tuple)) else int(leads)
    n = int(ckpt.config.get("n_samples") or ckpt.data.get("n_samples") or 5120)
    return torch.zeros(1, leads, n)


def torch_to_onnx_bytes(model: torch.nn.Module, example: torch.Tensor, opset: int = FP32_OPSET) -> bytes:
    """torch.onnx.export (TorchScript exporter: the dynamo one needs onnxscript, not installed)
    with a dynamic batch axis; an op ONNX cannot express raises UnsupportedOpError naming it."""
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (example,), buf, dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    except Exception as exc:  # the exporter raises several types; name the op when it tells us
        m = re.search(r"operator '([^']+)'", str(exc))
        if m:
            raise UnsupportedOpError(f"ONNX (opset {opset})", m.group(1)) from exc
        raise UnsupportedOpError(f"ONNX (opset {opset})", type(exc).__name__, "", str(exc).splitlines()[0]) from exc
    return buf.getvalue()


def write_metadata(model: onnx.ModelProto, ckpt: Checkpoint, extra: dict[str, str]) -> None:
    props = {"classes": ",".join(ckpt.classes), "input_layout": "N,leads,samples (float32)",
             "producer": "ecg-edge", **extra}
    for k, v in props.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=str(v)))


def export_onnx_fp32(ckpt: Checkpoint, out_path: str | Path) -> ExportInfo:
    data = torch_to_onnx_bytes(model_from_checkpoint(ckpt), dummy_input(ckpt))
    model = onnx.load_from_string(data)
    write_metadata(model, ckpt, {"precision": "fp32"})
    onnx.checker.check_model(model, full_check=True)
    raw = model.SerializeToString()
    write_bytes(out_path, raw)
    return ExportInfo(Path(out_path), len(raw), "onnx-fp32", [f"fp32, opset {FP32_OPSET}"])


class _QDQBuilder:
    """Emits nodes/initializers; every activation tensor is carried as its dequantized float."""

    def __init__(self, graph: QGraph) -> None:
        self.g = graph
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.storage: dict[str, str] = {}
        self.notes: list[str] = []

    def const(self, name: str, arr: np.ndarray, dtype: int | None = None) -> str:
        if dtype in (TensorProto.INT4, TensorProto.UINT4):
            t = helper.make_tensor(name, dtype, list(arr.shape), arr.astype(np.int8).ravel().tolist())
        else:
            t = numpy_helper.from_array(arr, name)
        self.inits.append(t)
        return name

    def qdq(self, src: str, tname: str) -> str:
        """QuantizeLinear + DequantizeLinear with tensor `tname`'s calibrated parameters."""
        tq = self.g.tensors[tname]
        s = self.const(f"{tname}.scale", np.array(tq.scale, dtype=np.float32))
        z = self.const(f"{tname}.zp", np.array(tq.zero_point, dtype=np.int8))
        self.nodes.append(helper.make_node("QuantizeLinear", [src, s, z], [f"{tname}.q"], name=f"{tname}/Q"))
        self.nodes.append(helper.make_node("DequantizeLinear", [f"{tname}.q", s, z], [f"{tname}.dq"],
                                           name=f"{tname}/DQ"))
        return f"{tname}.dq"

    def weights(self, op: QOp, in_scale: float, linear: bool) -> tuple[str, str]:
        w = op.weights
        name = w.layer
        if w.bits <= INT4_MAX_BITS:
            dtype, label = TensorProto.INT4, "int4"
        else:
            dtype, label = TensorProto.INT8, "int8"
            if w.bits < 8:
                self.notes.append(f"{name}: {w.bits}-bit weights stored as int8 (ONNX has no int{w.bits} type)")
        self.storage[name] = label
        levels = w.levels
        packed = None if dtype == TensorProto.INT8 else dtype
        wq = self.const(f"{name}.weight_q", levels, packed)
        ws = self.const(f"{name}.weight_scale", w.scale.astype(np.float32))
        wz = self.const(f"{name}.weight_zp", np.zeros(len(w.scale), dtype=np.int8), packed)
        self.nodes.append(helper.make_node("DequantizeLinear", [wq, ws, wz], [f"{name}.weight"], axis=0,
                                           name=f"{name}/weight_DQ"))
        bscale = (in_scale * w.scale).astype(np.float32)
        bq = np.round(w.bias / bscale.astype(np.float64)).astype(np.int64)
        bq = np.clip(bq, -(2 ** 31) + 1, 2 ** 31 - 1).astype(np.int32)
        bqn = self.const(f"{name}.bias_q", bq)
        bs = self.const(f"{name}.bias_scale", bscale)
        bz = self.const(f"{name}.bias_zp", np.zeros(len(bq), dtype=np.int32))
        self.nodes.append(helper.make_node("DequantizeLinear", [bqn, bs, bz], [f"{name}.bias"], axis=0,
                                           name=f"{name}/bias_DQ"))
        return f"{name}.weight", f"{name}.bias"

    def build(self) -> onnx.GraphProto:
        g = self.g
        cur: dict[str, str] = {g.input: self.qdq("input", g.input)}
        for op in g.ops:
            src = cur[op.inputs[0]]
            in_scale = g.tensors[op.inputs[0]].scale
            out = op.output
            if op.kind == "conv":
                wn, bn = self.weights(op, in_scale, False)
                self.nodes.append(helper.make_node("Conv", [src, wn, bn], [f"{out}.f"], name=out,
                                                   kernel_shape=[op.kernel], strides=[op.stride],
                                                   pads=[op.pad, op.pad]))
            elif op.kind == "maxpool":
                self.nodes.append(helper.make_node("MaxPool", [src], [f"{out}.f"], name=out, kernel_shape=[op.kernel],
                                                   strides=[op.stride], pads=[op.pad, op.pad]))
            elif op.kind == "add":
                self.nodes.append(helper.make_node("Add", [src, cur[op.inputs[1]]], [f"{out}.f"], name=out))
            elif op.kind == "gap":
                self.nodes.append(helper.make_node("GlobalAveragePool", [src], [f"{out}.pool"], name=out))
                self.nodes.append(helper.make_node("Flatten", [f"{out}.pool"], [f"{out}.f"], axis=1,
                                                   name=f"{out}/flatten"))
            elif op.kind == "flatten":
                self.nodes.append(helper.make_node("Flatten", [src], [f"{out}.dq"], axis=1, name=out))
                cur[out] = f"{out}.dq"
                continue
            elif op.kind == "linear":
                wn, bn = self.weights(op, in_scale, True)
                self.nodes.append(helper.make_node("Gemm", [src, wn, bn], [f"{out}.f"], transB=1, name=out))
            else:  # pragma: no cover
                raise UnsupportedOpError("ONNX QDQ", op.kind)
            res = f"{out}.f"
            if op.relu:
                self.nodes.append(helper.make_node("Relu", [res], [f"{out}.relu"], name=f"{out}/relu"))
                res = f"{out}.relu"
            cur[out] = self.qdq(res, out)
        # The graph output is the dequantized int8 logits (float, so every runtime compares alike).
        self.nodes.append(helper.make_node("Identity", [cur[g.output]], ["logits"], name="output"))
        n_cls = g.tensors[g.output].channels
        leads, length = g.tensors[g.input].channels, g.tensors[g.input].length
        return helper.make_graph(
            self.nodes, "ecg_edge_qdq",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", leads, length])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_cls])],
            initializer=self.inits)


def qgraph_to_qdq(graph: QGraph) -> tuple[onnx.ModelProto, dict[str, str], list[str]]:
    b = _QDQBuilder(graph)
    g = b.build()
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", QDQ_OPSET)],
                              producer_name="ecg-edge")
    model.ir_version = QDQ_IR_VERSION
    return model, b.storage, b.notes


def export_onnx(ckpt: Checkpoint, plan: CompressionPlan | None, out_path: str | Path,
                calib_X: np.ndarray | None = None, qdq: bool = False) -> ExportInfo:
    """fp32 ONNX (qdq=False), or QDQ int8 with the plan's per-layer weights (qdq=True)."""
    if ckpt.arch == "hubert_ecg":  # a transformer: weight-only low-bit MatMuls, not QDQ convs
        from ecg_edge.mobile.hubert_export import export_hubert_onnx

        info = export_hubert_onnx(ckpt, plan, out_path, weight_only=qdq)
        if qdq:
            info.notes.insert(0, "transformer: Linear layers as weight-only MatMulNBits (QDQ applies to the conv nets)")
        return info
    if not qdq:
        if plan is not None:
            raise UnsupportedOpError("ONNX fp32", "compression plan", "",
                                     "a plan's low-bit weights need --qdq (fp32 export ignores plans)")
        return export_onnx_fp32(ckpt, out_path)
    graph = lower(ckpt, plan, calib_X, "ONNX QDQ")
    model, storage, notes = qgraph_to_qdq(graph)
    tq = graph.tensors[graph.input]
    write_metadata(model, ckpt, {"precision": "qdq-int8", "input_scale": repr(tq.scale),
                            "input_zero_point": str(tq.zero_point),
                            "plan": plan.method if plan is not None else "fixed-q8"})
    onnx.checker.check_model(model, full_check=True)
    raw = model.SerializeToString()
    write_bytes(out_path, raw)
    n4 = sum(1 for v in storage.values() if v == "int4")
    notes = [f"QDQ int8 activations, opset {QDQ_OPSET}; {n4} of {len(storage)} weight layers stored as INT4",
             *notes]
    return ExportInfo(Path(out_path), len(raw), "onnx-qdq", notes, storage)
