"""TFLite int8 export written with tflite-micro's `model_editor` (no TensorFlow needed).

Conv1d is expressed as TFLite ops on NHWC tensors of height 1: the [1, L, C] int8 input is
RESHAPEd to [1, 1, L, C]; each Conv1d becomes PAD (explicit, because TFLite's SAME padding puts
the odd pixel on the other side from PyTorch for strided convs) + CONV_2D with a [C_out, 1, K,
C_in] per-channel int8 filter and an int32 bias; residual sums are ADD; the stem pool is
PAD + MAX_POOL_2D (PAD fills with the zero point, i.e. real 0, exact here because the pool's
input is post-ReLU); the head is MEAN over (H, W) (or RESHAPE for the flatten head) and
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
from ecg_edge.mobile.common import ExportInfo
from ecg_edge.mobile.qgraph import QGraph, QOp, lower

INT8_LUT_MAX_BITS = 7  # TFLM's LUT index field is 3 bits wide (1..7)


def _tfl():
    from tflite_micro.tensorflow.lite.micro.compression import model_editor as me
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

    return me, tfl


class _TFLiteBuilder:
    def __init__(self, graph: QGraph) -> None:
        self.me, self.tfl = _tfl()
        self.g = graph
        self.sg = self.me.Subgraph(name="ecg_edge")
        self.weight_tensors: dict[str, object] = {}  # layer -> filter Tensor (for LUT compression)

    # -- tensors -----------------------------------------------------------------------------
    def act(self, name: str, shape: tuple[int, ...], tname: str | None = None):
        tq = self.g.tensors[tname or name]
        return self.sg.add_tensor(shape=shape, dtype=self.tfl.TensorType.INT8, name=name,
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

    def pad(self, src, pad: int, name: str, shape: tuple[int, ...], tname: str):
        if pad == 0:
            return src, shape
        paddings = self.i32(f"{name}/paddings", np.array([[0, 0], [0, 0], [pad, pad], [0, 0]]))
        out_shape = (shape[0], shape[1], shape[2] + 2 * pad, shape[3])
        out = self.act(f"{name}/pad", out_shape, tname)
        self.op(self.tfl.BuiltinOperator.PAD, [src, paddings], [out], self.tfl.BuiltinOptions.PadOptions,
                self.tfl.PadOptionsT(), version=2)
        return out, out_shape

    def weights(self, op: QOp, in_scale: float, shape: tuple[int, ...], levels: np.ndarray | None = None):
        """Filter (int8, per-channel scales on axis 0) and int32 bias tensors of one layer;
        `levels` overrides the layer's own (the flatten head's permuted copy)."""
        w = op.weights
        lv = w.levels if levels is None else levels
        filt = self.sg.add_tensor(
            shape=shape, dtype=self.tfl.TensorType.INT8, name=f"{w.layer}/filter",
            data=lv.astype(np.int8) if len(shape) == 2 else
            np.ascontiguousarray(lv.transpose(0, 2, 1)).reshape(shape).astype(np.int8),
            quantization=self.me.Quantization(scales=[float(s) for s in w.scale],
                                              zero_points=[0] * len(w.scale), axis=0))
        bscale = in_scale * w.scale
        bq = np.clip(np.round(w.bias / bscale), -(2 ** 31) + 1, 2 ** 31 - 1).astype(np.int32)
        bias = self.i32(f"{w.layer}/bias", bq,
                        self.me.Quantization(scales=[float(s) for s in bscale], zero_points=[0] * len(bq), axis=0))
        self.weight_tensors[w.layer] = filt
        return filt, bias

    # -- graph -------------------------------------------------------------------------------
    def build(self) -> bytes:
        tfl, g = self.tfl, self.g
        t_in = g.tensors[g.input]
        x = self.act("input", (1, t_in.length, t_in.channels), g.input)
        self.sg.inputs = [x]
        shape = (1, 1, t_in.length, t_in.channels)
        x4 = self.act("input/4d", shape, g.input)
        self.op(tfl.BuiltinOperator.RESHAPE, [x, self.i32("input/shape", np.array(shape))], [x4],
                tfl.BuiltinOptions.ReshapeOptions, tfl.ReshapeOptionsT(newShape=list(shape)))
        cur = {g.input: (x4, shape)}
        relu = {True: tfl.ActivationFunctionType.RELU, False: tfl.ActivationFunctionType.NONE}
        for op in g.ops:
            src, sshape = cur[op.inputs[0]]
            in_scale = g.tensors[op.inputs[0]].scale
            tout = g.tensors[op.output]
            if op.kind == "conv":
                p, pshape = self.pad(src, op.pad, op.output, sshape, op.inputs[0])
                filt, bias = self.weights(op, in_scale, (tout.channels, 1, op.kernel, sshape[3]))
                oshape = (1, 1, tout.length, tout.channels)
                out = self.act(op.output, oshape)
                self.op(tfl.BuiltinOperator.CONV_2D, [p, filt, bias], [out], tfl.BuiltinOptions.Conv2DOptions,
                        tfl.Conv2DOptionsT(padding=tfl.Padding.VALID, strideW=op.stride, strideH=1,
                                           fusedActivationFunction=relu[op.relu]), version=3)
            elif op.kind == "maxpool":
                p, pshape = self.pad(src, op.pad, op.output, sshape, op.inputs[0])
                oshape = (1, 1, tout.length, tout.channels)
                out = self.act(op.output, oshape)
                self.op(tfl.BuiltinOperator.MAX_POOL_2D, [p], [out], tfl.BuiltinOptions.Pool2DOptions,
                        tfl.Pool2DOptionsT(padding=tfl.Padding.VALID, strideW=op.stride, strideH=1,
                                           filterWidth=op.kernel, filterHeight=1), version=2)
            elif op.kind == "add":
                other, _ = cur[op.inputs[1]]
                oshape = sshape
                out = self.act(op.output, oshape)
                self.op(tfl.BuiltinOperator.ADD, [src, other], [out], tfl.BuiltinOptions.AddOptions,
                        tfl.AddOptionsT(fusedActivationFunction=relu[op.relu]), version=2)
            elif op.kind == "gap":
                oshape = (1, tout.channels)
                out = self.act(op.output, oshape)
                self.op(tfl.BuiltinOperator.MEAN, [src, self.i32(f"{op.output}/axes", np.array([1, 2]))], [out],
                        tfl.BuiltinOptions.ReducerOptions, tfl.ReducerOptionsT(keepDims=False), version=2)
            elif op.kind == "flatten":
                oshape = (1, tout.channels)
                out = self.act(op.output, oshape)
                self.op(tfl.BuiltinOperator.RESHAPE, [src, self.i32(f"{op.output}/shape", np.array(oshape))],
                        [out], tfl.BuiltinOptions.ReshapeOptions, tfl.ReshapeOptionsT(newShape=list(oshape)))
            elif op.kind == "linear":
                lv = op.weights.levels
                if op.inputs[0] == "flatten":  # PyTorch flattens [C][L]; our NHWC tensor is [L][C]
                    src_t = g.tensors[next(o for o in g.ops if o.output == "flatten").inputs[0]]
                    lv = np.ascontiguousarray(
                        lv.reshape(-1, src_t.channels, src_t.length).transpose(0, 2, 1)).reshape(lv.shape[0], -1)
                filt, bias = self.weights(op, in_scale, tuple(lv.shape), lv)
                oshape = (1, tout.channels)
                out = self.act(op.output, oshape)
                self.op(tfl.BuiltinOperator.FULLY_CONNECTED, [src, filt, bias], [out],
                        tfl.BuiltinOptions.FullyConnectedOptions,
                        tfl.FullyConnectedOptionsT(fusedActivationFunction=relu[op.relu]), version=5)
            else:  # pragma: no cover - qgraph emits only the kinds above
                raise AssertionError(op.kind)
            cur[op.output] = (out, oshape)
        self.sg.outputs = [cur[g.output][0]]
        model = self.me.Model(subgraphs=[self.sg], description="ecg-edge int8")
        model.metadata["ecg_edge.classes"] = ",".join(g.classes).encode()
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


def graph_to_tflite(graph: QGraph) -> tuple[bytes, dict[str, object]]:
    b = _TFLiteBuilder(graph)
    raw = b.build()
    return align_flatbuffer(raw), b.weight_tensors


def apply_lut_compression(raw: bytes, graph: QGraph) -> tuple[bytes, dict[str, str], list[str]]:
    """Apply TFLite Micro's LUT compression to every filter whose plan bits are below 8
    (index width = bits needed for the channel's distinct levels, per-channel tables)."""
    from tflite_micro.tensorflow.lite.micro.compression import model_editor as me
    from tflite_micro.tensorflow.lite.micro.compression import spec as cspec
    from tflite_micro.tensorflow.lite.micro.compression.compress import compress

    model = me.read(raw)
    sg = model.subgraphs[0]
    by_name = {t.name: i for i, t in enumerate(sg.tensors)}
    specs, storage, notes = [], {}, []
    for op in graph.weighted_ops:
        w = op.weights
        if w.bits >= 8:
            storage[w.layer] = "int8"
            continue
        distinct = max(len(np.unique(row)) for row in w.levels.reshape(w.levels.shape[0], -1))
        idx_bits = max(1, int(np.ceil(np.log2(distinct))))
        n = w.levels.size
        lut_bytes = (n * idx_bits + 7) // 8 + 16 + w.levels.shape[0] * (1 << idx_bits)
        if idx_bits > INT8_LUT_MAX_BITS or lut_bytes >= n:
            storage[w.layer] = "int8"
            notes.append(f"{w.layer}: {w.bits}-bit layer kept int8 (LUT would take {lut_bytes} B >= {n} B)")
            continue
        specs.append(cspec.Tensor(subgraph=0, tensor=by_name[f"{w.layer}/filter"],
                                  compression=[cspec.LookUpTableCompression(index_bitwidth=idx_bits,
                                                                            mode=cspec.PerChannel(axis=0))]))
        storage[w.layer] = f"lut{idx_bits}"
        if idx_bits != w.bits:
            notes.append(f"{w.layer}: {w.bits}-bit plan -> {idx_bits}-bit LUT indices "
                         f"({distinct} distinct levels per channel incl. pruned 0)")
    if not specs:
        return raw, storage, ["no layer below 8 bits: LUT compression not applied"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = bytes(compress(raw, specs))
    return out, storage, notes


def export_tflite(ckpt: Checkpoint, plan: CompressionPlan | None, out_path: str | Path,
                  calib_X: np.ndarray, lut_compress: bool = False) -> ExportInfo:
    """int8 TFLite of the (compressed) model; with lut_compress, TFLite Micro LUT compression of
    its low-bit layers (DECODE operators; runs only in TFLite Micro)."""
    graph = lower(ckpt, plan, calib_X, "TFLite")
    raw, _ = graph_to_tflite(graph)
    notes = ["int8 activations and per-channel int8 weights; I/O int8 [1, samples, leads]",
             f"input scale {graph.tensors[graph.input].scale!r} zero point {graph.tensors[graph.input].zero_point}"]
    storage = {op.weights.layer: "int8" for op in graph.weighted_ops}
    low = [op.weights for op in graph.weighted_ops if op.weights.bits < 8]
    if lut_compress:
        raw, storage, lnotes = apply_lut_compression(raw, graph)
        notes += ["TFLite Micro LUT compression (DECODE ops): not loadable by LiteRT", *lnotes]
    elif low:
        notes.append(f"{len(low)} layers with plan bits < 8 stored at int8 (TFLite has no sub-8-bit "
                     "conv weights; use LUT compression for TFLite Micro)")
    write_bytes(out_path, raw)
    return ExportInfo(Path(out_path), len(raw), "tflite-lut" if lut_compress else "tflite-int8",
                      notes, storage)
