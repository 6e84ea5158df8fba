"""TFLite int8 export written with tflite-micro's `model_editor` (no TensorFlow needed).

It translates, node by node, the lowered and calibrated graph model.bin is written from
(modelbin.packer.shipped_graph), so the .tflite holds model.bin's weight levels and every
tensor's (scale, zero point) under the graph tensor's name. Conv1d is expressed as TFLite ops on
NHWC tensors of height 1: the [1, L, C] int8 input is RESHAPEd to [1, 1, L, C]; each Conv1d
becomes PAD (explicit, because TFLite's SAME padding puts the odd pixel on the other side from
PyTorch for strided convs; PAD fills with the zero point, as model.bin's padding reads it) +
CONV_2D with a [C_out, 1, K, C_in] per-channel int8 filter and an int32 bias; residual sums are
ADD; a padded pool is PAD + MAX_POOL_2D (exact only on a post-ReLU input, where real 0 never
wins; otherwise refused); the head is MEAN over (H, W) (or RESHAPE for the flatten head) and
FULLY_CONNECTED. Input and output are int8 with the scales in the tensors' quantization.

model_editor packs every buffer 1-byte aligned; int32 bias buffers must be 4-aligned for the
kernels (and TFLite Micro checks flatbuffer alignment), so the built model is re-packed with
the aligner that ships in the tflite-micro wheel, and the result is checked.

LUT compression (TFLite Micro's `compression` module, DECODE operators) rewrites each low-bit
layer's filter as n-bit indices into per-channel value tables: the closest peer to our packed
b-bit weights.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ecg_edge.atomic import write_bytes
from ecg_edge.checkpoint import Checkpoint
from ecg_edge.errors import ModelFormatError
from ecg_edge.layerplan.plan import CompressionPlan
from ecg_edge.mobile.common import ExportInfo, UnsupportedOpError, int8_graph, tensor_names
from ecg_edge.modelbin.calibrate import CalibSettings
from ecg_edge.modelbin.ir import GNode, Graph
from ecg_edge.modelbin.layout import OP_ADD, OP_CONV1D, OP_GLOBAL_AVGPOOL, OP_LINEAR, OP_MAXPOOL1D

INT8_LUT_MAX_BITS = 7  # TFLM's LUT index field is 3 bits wide (1..7)
FMT = "TFLite"


def _tfl():
    from tflite_micro.tensorflow.lite.micro.compression import model_editor as me
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

    return me, tfl


def tflite_limits(g: Graph, node: GNode) -> None:
    """What the TFLite writer refuses among the ops it translates."""
    if node.op == OP_CONV1D and node.groups != 1:
        raise UnsupportedOpError(FMT, f"CONV1D(groups={node.groups})", node.name,
                                 "the TFLite writer emits dense CONV_2D only")
    if node.op == OP_MAXPOOL1D and (node.pad_left or node.pad_right):
        src = next((n for n in g.nodes if n.output == node.inputs[0]), None)
        if src is None or not src.relu:
            # PAD fills with the zero point (real 0): the same maximum only on a non-negative input
            raise UnsupportedOpError(FMT, "padded MAXPOOL1D", node.name,
                                     "padding is exact in TFLite only after a fused ReLU")


class _TFLiteBuilder:
    """Translates the lowered graph node by node; each graph tensor becomes an int8 tensor of
    the same name and (scale, zero point). Activations are NHWC [1, 1, L, C]; vectors [1, C]."""

    def __init__(self, graph: Graph, classes: list[str]) -> None:
        self.me, self.tfl = _tfl()
        self.g = graph
        self.classes = classes
        self.names = tensor_names(graph)
        self.sg = self.me.Subgraph(name="ecg_edge")
        self.weight_tensors: dict[str, object] = {}  # layer -> filter Tensor (for LUT compression)
        self.cur: dict[int, tuple[object, tuple[int, ...]]] = {}
        tfl = self.tfl
        self.relu = {True: tfl.ActivationFunctionType.RELU, False: tfl.ActivationFunctionType.NONE}

    # -- tensors -----------------------------------------------------------------------------
    def act(self, t: int, shape: tuple[int, ...], suffix: str = "", name: str | None = None):
        """An int8 tensor with graph tensor t's (scale, zero point), named after it (+ suffix)."""
        tq = self.g.tensors[t]
        return self.sg.add_tensor(shape=shape, dtype=self.tfl.TensorType.INT8, name=name or self.names[t] + suffix,
                                  quantization=self.me.Quantization(scales=float(tq.scale),
                                                                    zero_points=int(tq.zero_point)))

    def i32(self, name: str, values: np.ndarray, quant=None):
        arr = np.asarray(values, dtype=np.int32)
        return self.sg.add_tensor(shape=arr.shape, dtype=self.tfl.TensorType.INT32, name=name,
                                  data=arr.astype("<i4"), quantization=quant)

    def op(self, code: int, inputs: list, outputs: list, opt_type: int | None = None, opts=None, version=1):
        op = self.sg.add_operator(opcode=code, inputs=inputs, outputs=outputs)
        if opt_type is not None:
            op._fb.builtinOptionsType = opt_type
            op._fb.builtinOptions = opts
        op._tfl_version = version
        return op

    def reshape(self, src, t: int, shape: tuple[int, ...], suffix: str):
        tfl = self.tfl
        out = self.act(t, shape, suffix)
        self.op(tfl.BuiltinOperator.RESHAPE, [src, self.i32(f"{self.names[t]}{suffix}/shape", np.array(shape))],
                [out], tfl.BuiltinOptions.ReshapeOptions, tfl.ReshapeOptionsT(newShape=list(shape)))
        return out

    def input4d(self, node: GNode, k: int = 0):
        """Input k of node as a [1, 1, L, C] tensor."""
        t = node.inputs[k]
        src, shape = self.cur[t]
        if len(shape) == 4:
            return src, shape
        gt = self.g.tensors[t]
        shape4 = (1, 1, gt.length, gt.channels)
        return self.reshape(src, t, shape4, "/4d"), shape4

    def pad(self, node: GNode):
        src, shape = self.input4d(node)
        pl, pr = node.pad_left, node.pad_right
        if pl == 0 and pr == 0:
            return src
        t = node.inputs[0]
        paddings = self.i32(f"{node.name}/paddings", np.array([[0, 0], [0, 0], [pl, pr], [0, 0]]))
        out = self.act(t, (shape[0], shape[1], shape[2] + pl + pr, shape[3]), name=f"{node.name}/pad")
        self.op(self.tfl.BuiltinOperator.PAD, [src, paddings], [out], self.tfl.BuiltinOptions.PadOptions,
                self.tfl.PadOptionsT(), version=2)
        return out

    def weights(self, node: GNode, shape: tuple[int, ...]):
        """Filter (int8 levels, per-channel scales on axis 0) and int32 bias of a weighted node.
        The levels are model.bin's, in its order: w[c][k][i] is TFLite's [C_out, 1, K, C_in],
        and LINEAR's [L][C] columns are the order TFLite flattens an NHWC tensor in."""
        w = node.weights
        assert w is not None
        in_scale = self.g.tensors[node.inputs[0]].scale
        filt = self.sg.add_tensor(
            shape=shape, dtype=self.tfl.TensorType.INT8, name=f"{node.name}/filter",
            data=np.ascontiguousarray(w.levels, dtype=np.int8).reshape(shape),
            quantization=self.me.Quantization(scales=[float(s) for s in w.scale],
                                              zero_points=[0] * len(w.scale), axis=0))
        bscale = in_scale * w.scale
        bq = np.clip(np.round(w.bias / bscale), -(2 ** 31) + 1, 2 ** 31 - 1).astype(np.int32)
        bias = self.i32(f"{node.name}/bias", bq,
                        self.me.Quantization(scales=[float(s) for s in bscale], zero_points=[0] * len(bq), axis=0))
        self.weight_tensors[node.name] = filt
        return filt, bias

    # -- one method per op ---------------------------------------------------------------------
    def conv(self, node: GNode):
        tfl, tout = self.tfl, self.g.tensors[node.output]
        src = self.pad(node)
        c_in = self.g.tensors[node.inputs[0]].channels
        filt, bias = self.weights(node, (tout.channels, 1, node.kernel, c_in))
        shape = (1, 1, tout.length, tout.channels)
        out = self.act(node.output, shape)
        self.op(tfl.BuiltinOperator.CONV_2D, [src, filt, bias], [out], tfl.BuiltinOptions.Conv2DOptions,
                tfl.Conv2DOptionsT(padding=tfl.Padding.VALID, strideW=node.stride, strideH=1,
                                   dilationWFactor=node.dilation, dilationHFactor=1,
                                   fusedActivationFunction=self.relu[node.relu]), version=3)
        return out, shape

    def maxpool(self, node: GNode):
        tfl, tout = self.tfl, self.g.tensors[node.output]
        src = self.pad(node)
        shape = (1, 1, tout.length, tout.channels)
        out = self.act(node.output, shape)
        self.op(tfl.BuiltinOperator.MAX_POOL_2D, [src], [out], tfl.BuiltinOptions.Pool2DOptions,
                tfl.Pool2DOptionsT(padding=tfl.Padding.VALID, strideW=node.stride, strideH=1,
                                   filterWidth=node.kernel, filterHeight=1,
                                   fusedActivationFunction=self.relu[node.relu]), version=2)
        return out, shape

    def add(self, node: GNode):
        tfl = self.tfl
        a, shape = self.input4d(node, 0)
        b, _ = self.input4d(node, 1)
        out = self.act(node.output, shape)
        self.op(tfl.BuiltinOperator.ADD, [a, b], [out], tfl.BuiltinOptions.AddOptions,
                tfl.AddOptionsT(fusedActivationFunction=self.relu[node.relu]), version=2)
        return out, shape

    def gap(self, node: GNode):
        tfl = self.tfl
        if node.relu:
            raise UnsupportedOpError(FMT, "GLOBAL_AVGPOOL with a fused ReLU", node.name)
        src, _ = self.input4d(node)
        shape = (1, self.g.tensors[node.output].channels)
        out = self.act(node.output, shape)
        self.op(tfl.BuiltinOperator.MEAN, [src, self.i32(f"{node.name}/axes", np.array([1, 2]))], [out],
                tfl.BuiltinOptions.ReducerOptions, tfl.ReducerOptionsT(keepDims=False), version=2)
        return out, shape

    def linear(self, node: GNode):
        tfl = self.tfl
        t_in = node.inputs[0]
        src, in_shape = self.cur[t_in]
        if len(in_shape) != 2:  # a [1, 1, L, C] tensor: flattened [L][C], the levels' column order
            src = self.reshape(src, t_in, (1, self.g.tensors[t_in].size), "/flat")
        w = node.weights
        assert w is not None
        filt, bias = self.weights(node, tuple(w.levels.shape))
        shape = (1, self.g.tensors[node.output].channels)
        out = self.act(node.output, shape)
        self.op(tfl.BuiltinOperator.FULLY_CONNECTED, [src, filt, bias], [out],
                tfl.BuiltinOptions.FullyConnectedOptions,
                tfl.FullyConnectedOptionsT(fusedActivationFunction=self.relu[node.relu]), version=5)
        return out, shape

    # -- graph -------------------------------------------------------------------------------
    def build(self) -> bytes:
        g = self.g
        t_in = g.tensors[g.input]
        x = self.act(g.input, (1, t_in.length, t_in.channels))
        self.sg.inputs = [x]
        self.cur[g.input] = (x, (1, t_in.length, t_in.channels))
        translate = TRANSLATIONS
        for node in g.nodes:
            self.cur[node.output] = translate[node.op](self, node)
        out, shape = self.cur[g.output]
        if len(shape) != 2:
            t = g.tensors[g.output]
            out = self.reshape(out, g.output, (1, t.size), "/out")
        self.sg.outputs = [out]
        model = self.me.Model(subgraphs=[self.sg], description="ecg-edge int8")
        model.metadata["ecg_edge.classes"] = ",".join(self.classes).encode()
        raw = bytes(model.build())
        return self._set_versions(raw)

    def _set_versions(self, raw: bytes) -> bytes:
        """model_editor writes version 1 for every op code; give each the version its int8 /
        per-channel form needs so interpreters pick the right kernel variant."""
        me = self.me
        model = me.read(raw)
        wanted = {op.opcode: getattr(op, "_tfl_version", 1) for op in self.sg.operators}
        for oc in model.operator_codes:
            oc.version = max(oc.version, wanted.get(oc.builtin_code, 1))
            oc._fb.deprecatedBuiltinCode = min(int(oc.builtin_code), 127)
        return bytes(model.build())


# Graph op code -> its translation (the ops the TFLite writer can express).
TRANSLATIONS = {OP_CONV1D: _TFLiteBuilder.conv, OP_MAXPOOL1D: _TFLiteBuilder.maxpool, OP_ADD: _TFLiteBuilder.add,
                OP_GLOBAL_AVGPOOL: _TFLiteBuilder.gap, OP_LINEAR: _TFLiteBuilder.linear}


def align_flatbuffer(raw: bytes) -> bytes:
    """Re-pack with the aligner shipped in the tflite-micro wheel (honours the schema's
    force_align), then check every int32/float buffer lies at a 4-aligned (16 for safety on
    DECODE tables is up to the aligner) offset."""
    from tflite_micro.tensorflow.lite.micro.tools import tflite_flatbuffer_align_wrapper as aligner

    fd_in, p_in = tempfile.mkstemp(suffix=".tflite")
    fd_out, p_out = tempfile.mkstemp(suffix=".tflite")
    os.close(fd_out)
    try:
        with os.fdopen(fd_in, "wb") as fh:
            fh.write(raw)
        aligner.align_tflite_model(p_in, p_out)
        out = Path(p_out).read_bytes()
    finally:
        for p in (p_in, p_out):
            if os.path.exists(p):
                os.unlink(p)
    check_alignment(out)
    return out


def check_alignment(raw: bytes) -> None:
    """Every non-empty buffer used by an int32/float tensor must start 4-aligned in the file."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

    m = tfl.Model.GetRootAsModel(raw, 0)
    wide = set()
    for si in range(m.SubgraphsLength()):
        sg = m.Subgraphs(si)
        for ti in range(sg.TensorsLength()):
            t = sg.Tensors(ti)
            if t.Type() in (tfl.TensorType.INT32, tfl.TensorType.FLOAT32, tfl.TensorType.INT64):
                wide.add(t.Buffer())
    for bi in wide:
        b = m.Buffers(bi)
        if b is None or b.DataLength() == 0:
            continue
        off = _buffer_offset(b)
        if off % 4:
            raise ModelFormatError(f"TFLite export: buffer {bi} (int32/float data) lands at offset {off}, not 4-aligned")


def _buffer_offset(b) -> int:
    """Offset of a Buffer's data vector's first byte within the flatbuffer."""
    import flatbuffers

    o = flatbuffers.number_types.UOffsetTFlags.py_type(b._tab.Offset(4))
    return b._tab.Vector(o)


def graph_to_tflite(graph: Graph, classes: list[str]) -> tuple[bytes, dict[str, object]]:
    b = _TFLiteBuilder(graph, classes)
    raw = b.build()
    return align_flatbuffer(raw), b.weight_tensors


def weighted_nodes(graph: Graph) -> list[GNode]:
    return [n for n in graph.nodes if n.weights is not None]


def apply_lut_compression(raw: bytes, graph: Graph) -> tuple[bytes, dict[str, str], list[str]]:
    """Apply TFLite Micro's LUT compression to every filter whose plan bits are below 8
    (index width = bits needed for the channel's distinct levels, per-channel tables)."""
    from tflite_micro.tensorflow.lite.micro.compression import model_editor as me
    from tflite_micro.tensorflow.lite.micro.compression import spec as cspec
    from tflite_micro.tensorflow.lite.micro.compression.compress import compress

    model = me.read(raw)
    sg = model.subgraphs[0]
    by_name = {t.name: i for i, t in enumerate(sg.tensors)}
    specs, storage, notes = [], {}, []
    for node in weighted_nodes(graph):
        w = node.weights
        assert w is not None
        if w.bits >= 8:
            storage[node.name] = "int8"
            continue
        distinct = max(len(np.unique(row)) for row in w.levels)
        idx_bits = max(1, int(np.ceil(np.log2(distinct))))
        n = w.levels.size
        lut_bytes = (n * idx_bits + 7) // 8 + 16 + w.levels.shape[0] * (1 << idx_bits)
        if idx_bits > INT8_LUT_MAX_BITS or lut_bytes >= n:
            storage[node.name] = "int8"
            notes.append(f"{node.name}: {w.bits}-bit layer kept int8 (LUT would take {lut_bytes} B >= {n} B)")
            continue
        specs.append(cspec.Tensor(subgraph=0, tensor=by_name[f"{node.name}/filter"],
                                  compression=[cspec.LookUpTableCompression(index_bitwidth=idx_bits,
                                                                            mode=cspec.PerChannel(axis=0))]))
        storage[node.name] = f"lut{idx_bits}"
        if idx_bits != w.bits:
            notes.append(f"{node.name}: {w.bits}-bit plan -> {idx_bits}-bit LUT indices "
                         f"({distinct} distinct levels per channel incl. pruned 0)")
    if not specs:
        return raw, storage, ["no layer below 8 bits: LUT compression not applied"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = bytes(compress(raw, specs))
    return out, storage, notes


def tflite_graph(ckpt: Checkpoint, plan: CompressionPlan | None, calib_X: np.ndarray | None,
                 calib: CalibSettings | None = None) -> Graph:
    """The graph the .tflite translates: model.bin's for the same inputs and settings."""
    return int8_graph(ckpt, plan, calib_X, calib, FMT, TRANSLATIONS, tflite_limits)


def export_tflite(ckpt: Checkpoint, plan: CompressionPlan | None, out_path: str | Path,
                  calib_X: np.ndarray | None, lut_compress: bool = False,
                  calib: CalibSettings | None = None) -> ExportInfo:
    """int8 TFLite of the graph model.bin is written from (same calibration windows and
    settings, so the same integers, scales and zero points); with lut_compress, TFLite Micro
    LUT compression of its low-bit layers (DECODE operators; runs only in TFLite Micro)."""
    graph = tflite_graph(ckpt, plan, calib_X, calib)
    raw, _ = graph_to_tflite(graph, list(ckpt.classes))
    t_in = graph.tensors[graph.input]
    notes = ["int8 activations and per-channel int8 weights; I/O int8 [1, samples, leads]",
             f"input scale {t_in.scale!r} zero point {t_in.zero_point}", *graph.notes]
    nodes = weighted_nodes(graph)
    storage = {n.name: "int8" for n in nodes}
    low = [n for n in nodes if n.weights is not None and n.weights.bits < 8]
    if lut_compress:
        raw, storage, lnotes = apply_lut_compression(raw, graph)
        notes += ["TFLite Micro LUT compression (DECODE ops): not loadable by LiteRT", *lnotes]
    elif low:
        notes.append(f"{len(low)} layers with plan bits < 8 stored at int8 (TFLite has no sub-8-bit "
                     "conv weights; use LUT compression for TFLite Micro)")
    write_bytes(out_path, raw)
    return ExportInfo(Path(out_path), len(raw), "tflite-lut" if lut_compress else "tflite-int8",
                      notes, storage)
