"""ONNX exports: the fp32 eval model (torch.onnx.export), and the compressed model as QDQ int8
translated node by node from the lowered, calibrated graph model.bin is written from
(modelbin.packer.shipped_graph), so the per-layer integer weights and every activation's
(scale, zero point) are model.bin's.

Layers of <= 4 bits are stored as ONNX INT4 (opset 21) initializers feeding DequantizeLinear,
which onnxruntime's CPU provider runs; 5..7-bit layers have no ONNX type and are stored at int8
(said so in ExportInfo.notes). ONNX also has INT2 (opset 25) and onnxruntime 1.32 dequantizes
it, but its QDQ Conv fusion then builds a QLinearConv with int2 weights and rejects the graph
as invalid, so 1..2-bit layers are stored as INT4 too. Activations are QuantizeLinear/DequantizeLinear pairs with the
calibrated per-tensor scales, which onnxruntime fuses into integer kernels where it can.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ecg_edge.atomic import write_bytes
from ecg_edge.checkpoint import Checkpoint
from ecg_edge.layerplan.plan import CompressionPlan
from ecg_edge.mobile.common import ExportInfo, UnsupportedOpError, int8_graph, tensor_names
from ecg_edge.mobile.hubert_export import export_hubert_onnx
from ecg_edge.mobile.onnx_common import FP32_OPSET, dummy_input, torch_to_onnx_bytes, write_metadata
from ecg_edge.modelbin.calibrate import CalibSettings
from ecg_edge.modelbin.ir import GNode, Graph
from ecg_edge.modelbin.layout import OP_ADD, OP_CONV1D, OP_GLOBAL_AVGPOOL, OP_LINEAR, OP_MAXPOOL1D
from ecg_edge.models.registry import model_from_checkpoint

__all__ = ["export_onnx", "export_onnx_fp32", "qdq_graph", "torch_to_onnx_bytes"]

QDQ_OPSET = 21  # first opset with INT4 / per-axis int4 DequantizeLinear
QDQ_IR_VERSION = 10
INT4_MAX_BITS = 4
FMT = "ONNX QDQ"


def export_onnx_fp32(ckpt: Checkpoint, out_path: str | Path) -> ExportInfo:
    data = torch_to_onnx_bytes(model_from_checkpoint(ckpt), dummy_input(ckpt))
    model = onnx.load_from_string(data)
    write_metadata(model, ckpt, {"precision": "fp32"})
    onnx.checker.check_model(model, full_check=True)
    raw = model.SerializeToString()
    write_bytes(out_path, raw)
    return ExportInfo(Path(out_path), len(raw), "onnx-fp32", [f"fp32, opset {FP32_OPSET}"])


class _QDQBuilder:
    """Emits nodes/initializers; every graph tensor is carried as its dequantized float, in
    ONNX's [N, C, L] layout, after a QuantizeLinear/DequantizeLinear pair with its parameters."""

    def __init__(self, graph: Graph) -> None:
        self.g = graph
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.storage: dict[str, str] = {}
        self.notes: list[str] = []
        self.names = tensor_names(graph)
        self.cur: dict[int, str] = {}  # graph tensor -> the ONNX value holding it
        self.rank: dict[int, int] = {}  # 3: [N, C, L]; 2: [N, C]

    def const(self, name: str, arr: np.ndarray, dtype: int | None = None) -> str:
        if dtype in (TensorProto.INT4, TensorProto.UINT4):
            t = helper.make_tensor(name, dtype, list(arr.shape), arr.astype(np.int8).ravel().tolist())
        else:
            t = numpy_helper.from_array(arr, name)
        self.inits.append(t)
        return name

    def qdq(self, src: str, t: int) -> str:
        """QuantizeLinear + DequantizeLinear with graph tensor t's calibrated parameters."""
        tq, tname = self.g.tensors[t], self.names[t]
        s = self.const(f"{tname}.scale", np.array(tq.scale, dtype=np.float32))
        z = self.const(f"{tname}.zp", np.array(tq.zero_point, dtype=np.int8))
        self.nodes.append(helper.make_node("QuantizeLinear", [src, s, z], [f"{tname}.q"], name=f"{tname}/Q"))
        self.nodes.append(helper.make_node("DequantizeLinear", [f"{tname}.q", s, z], [f"{tname}.dq"],
                                           name=f"{tname}/DQ"))
        return f"{tname}.dq"

    def weights(self, node: GNode, levels: np.ndarray) -> tuple[str, str]:
        """Weight (levels -> DequantizeLinear, per-channel axis 0) and int32 bias of a node;
        `levels` are the node's model.bin levels in the ONNX op's weight layout."""
        w = node.weights
        assert w is not None
        name = node.name
        if w.bits <= INT4_MAX_BITS:
            dtype, label = TensorProto.INT4, "int4"
        else:
            dtype, label = TensorProto.INT8, "int8"
            if w.bits < 8:
                self.notes.append(f"{name}: {w.bits}-bit weights stored as int8 (ONNX has no int{w.bits} type)")
        self.storage[name] = label
        packed = None if dtype == TensorProto.INT8 else dtype
        wq = self.const(f"{name}.weight_q", np.ascontiguousarray(levels, dtype=np.int8), packed)
        ws = self.const(f"{name}.weight_scale", w.scale.astype(np.float32))
        wz = self.const(f"{name}.weight_zp", np.zeros(len(w.scale), dtype=np.int8), packed)
        self.nodes.append(helper.make_node("DequantizeLinear", [wq, ws, wz], [f"{name}.weight"], axis=0,
                                           name=f"{name}/weight_DQ"))
        in_scale = self.g.tensors[node.inputs[0]].scale
        bscale = (in_scale * w.scale).astype(np.float32)
        bq = np.round(w.bias / bscale.astype(np.float64)).astype(np.int64)
        bq = np.clip(bq, -(2 ** 31) + 1, 2 ** 31 - 1).astype(np.int32)
        bqn = self.const(f"{name}.bias_q", bq)
        bs = self.const(f"{name}.bias_scale", bscale)
        bz = self.const(f"{name}.bias_zp", np.zeros(len(bq), dtype=np.int32))
        self.nodes.append(helper.make_node("DequantizeLinear", [bqn, bs, bz], [f"{name}.bias"], axis=0,
                                           name=f"{name}/bias_DQ"))
        return f"{name}.weight", f"{name}.bias"

    def in3(self, node: GNode, k: int = 0) -> str:
        """Input k of node as an [N, C, L] value (a [N, C] vector gets L = 1)."""
        t = node.inputs[k]
        if self.rank[t] == 3:
            return self.cur[t]
        out = f"{self.names[t]}.3d"
        self.nodes.append(helper.make_node("Unsqueeze", [self.cur[t], self.const(
            f"{self.names[t]}.3d_axes", np.array([2], dtype=np.int64))], [out], name=f"{self.names[t]}/3d"))
        return out

    # -- one method per op: the float output (before its fused ReLU) and its rank ---------------
    def conv(self, node: GNode, out: str) -> int:
        w = node.weights
        assert w is not None
        c_out = w.levels.shape[0]
        cig = self.g.tensors[node.inputs[0]].channels // node.groups
        levels = w.levels.reshape(c_out, node.kernel, cig).transpose(0, 2, 1)  # w[c][k][i] -> (C_out, C_in/g, K)
        wn, bn = self.weights(node, levels)
        self.nodes.append(helper.make_node("Conv", [self.in3(node), wn, bn], [out], name=node.name,
                                           kernel_shape=[node.kernel], strides=[node.stride],
                                           pads=[node.pad_left, node.pad_right], dilations=[node.dilation],
                                           group=node.groups))
        return 3

    def maxpool(self, node: GNode, out: str) -> int:
        self.nodes.append(helper.make_node("MaxPool", [self.in3(node)], [out], name=node.name,
                                           kernel_shape=[node.kernel], strides=[node.stride],
                                           pads=[node.pad_left, node.pad_right]))
        return 3

    def add(self, node: GNode, out: str) -> int:
        self.nodes.append(helper.make_node("Add", [self.in3(node, 0), self.in3(node, 1)], [out], name=node.name))
        return 3

    def gap(self, node: GNode, out: str) -> int:
        self.nodes.append(helper.make_node("GlobalAveragePool", [self.in3(node)], [f"{out}.pool"], name=node.name))
        self.nodes.append(helper.make_node("Flatten", [f"{out}.pool"], [out], axis=1, name=f"{node.name}/flatten"))
        return 2

    def linear(self, node: GNode, out: str) -> int:
        w = node.weights
        assert w is not None
        t = node.inputs[0]
        src, levels = self.cur[t], w.levels
        if self.rank[t] == 3:
            t_in = self.g.tensors[t]
            src = f"{self.names[t]}.flat"
            self.nodes.append(helper.make_node("Flatten", [self.cur[t]], [src], axis=1, name=f"{node.name}/flatten"))
            # model.bin's columns are [L][C]; ONNX flattens [N, C, L] as [C][L]
            levels = levels.reshape(-1, t_in.length, t_in.channels).transpose(0, 2, 1).reshape(levels.shape[0], -1)
        wn, bn = self.weights(node, levels)
        self.nodes.append(helper.make_node("Gemm", [src, wn, bn], [out], transB=1, name=node.name))
        return 2

    def build(self) -> onnx.GraphProto:
        g = self.g
        self.cur[g.input], self.rank[g.input] = self.qdq("input", g.input), 3
        for node in g.nodes:
            res = f"{self.names[node.output]}.f"
            self.rank[node.output] = TRANSLATIONS[node.op](self, node, res)
            if node.relu:
                self.nodes.append(helper.make_node("Relu", [res], [f"{res}.relu"], name=f"{node.name}/relu"))
                res = f"{res}.relu"
            self.cur[node.output] = self.qdq(res, node.output)
        # The graph output is the dequantized int8 logits (float, so every runtime compares alike).
        out = self.cur[g.output]
        self.nodes.append(helper.make_node("Identity" if self.rank[g.output] == 2 else "Flatten", [out], ["logits"],
                                           name="output", **({} if self.rank[g.output] == 2 else {"axis": 1})))
        t_out, t_in = g.tensors[g.output], g.tensors[g.input]
        return helper.make_graph(
            self.nodes, "ecg_edge_qdq",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", t_in.channels, t_in.length])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", t_out.size])],
            initializer=self.inits)


# Graph op code -> its translation (the ops the QDQ writer can express).
TRANSLATIONS = {OP_CONV1D: _QDQBuilder.conv, OP_MAXPOOL1D: _QDQBuilder.maxpool, OP_ADD: _QDQBuilder.add,
                OP_GLOBAL_AVGPOOL: _QDQBuilder.gap, OP_LINEAR: _QDQBuilder.linear}


def graph_to_qdq(graph: Graph) -> tuple[onnx.ModelProto, dict[str, str], list[str]]:
    b = _QDQBuilder(graph)
    g = b.build()
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", QDQ_OPSET)],
                              producer_name="ecg-edge")
    model.ir_version = QDQ_IR_VERSION
    return model, b.storage, b.notes


def qdq_graph(ckpt: Checkpoint, plan: CompressionPlan | None, calib_X: np.ndarray | None,
              calib: CalibSettings | None = None) -> Graph:
    """The graph the QDQ .onnx translates: model.bin's for the same inputs and settings."""
    return int8_graph(ckpt, plan, calib_X, calib, FMT, TRANSLATIONS)


def export_onnx(ckpt: Checkpoint, plan: CompressionPlan | None, out_path: str | Path,
                calib_X: np.ndarray | None = None, qdq: bool = False,
                calib: CalibSettings | None = None) -> ExportInfo:
    """fp32 ONNX (qdq=False), or QDQ int8 of the graph model.bin is written from (qdq=True)."""
    if ckpt.arch == "hubert_ecg":  # a transformer: weight-only low-bit MatMuls, not QDQ convs
        info = export_hubert_onnx(ckpt, plan, out_path, weight_only=qdq)
        if qdq:
            info.notes.insert(0, "transformer: Linear layers as weight-only MatMulNBits (QDQ applies to the conv nets)")
        return info
    if not qdq:
        if plan is not None:
            raise UnsupportedOpError("ONNX fp32", "compression plan", "",
                                     "a plan's low-bit weights need --qdq (fp32 export ignores plans)")
        return export_onnx_fp32(ckpt, out_path)
    graph = qdq_graph(ckpt, plan, calib_X, calib)
    model, storage, notes = graph_to_qdq(graph)
    tq = graph.tensors[graph.input]
    write_metadata(model, ckpt, {"precision": "qdq-int8", "input_scale": repr(tq.scale),
                                 "input_zero_point": str(tq.zero_point),
                                 "plan": plan.method if plan is not None else "fixed-q8"})
    onnx.checker.check_model(model, full_check=True)
    raw = model.SerializeToString()
    write_bytes(out_path, raw)
    n4 = sum(1 for v in storage.values() if v == "int4")
    notes = [f"QDQ int8 activations, opset {QDQ_OPSET}; {n4} of {len(storage)} weight layers stored as INT4",
             *notes, *graph.notes]
    return ExportInfo(Path(out_path), len(raw), "onnx-qdq", notes, storage)
