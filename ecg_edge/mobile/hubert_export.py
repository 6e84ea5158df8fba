"""HuBERT-ECG to ONNX: the fine-tuned transformer as fp32, and the compressed one with its
Linear layers as onnxruntime's weight-only low-bit operator `com.microsoft.MatMulNBits`.

Why MatMulNBits: it is onnxruntime's own packed b-bit weight format (b-bit unsigned levels,
one scale per block of K; we give every block of a row the row's scale so the levels are
exactly numerics.quantize_weight_channels' per-output-channel levels at the plan's bits).
onnxruntime's quantization tool for it (matmul_nbits_quantizer) needs the `onnx_ir` package,
which is not installed, so the nodes are written here directly.

Layers MatMulNBits cannot hold stay fp32 and are listed in ExportInfo.notes: the convolutional
feature encoder and positional conv, LayerNorms, and the input adapter's resampling matrix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from ecg_edge.atomic import write_bytes
from ecg_edge.checkpoint import Checkpoint
from ecg_edge.layerplan.masks import layer_mask
from ecg_edge.layerplan.plan import CompressionPlan
from ecg_edge.mobile.common import ExportInfo, UnsupportedOpError
from ecg_edge.mobile.onnx_common import dummy_input, torch_to_onnx_bytes, write_metadata
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.numerics import quantize_weight_channels

NBITS_SUPPORTED = (2, 4, 8)  # onnxruntime CPU MatMulNBits storage widths used here
BLOCK_SIZE = 32


def _storage_bits(bits: int) -> int:
    for b in NBITS_SUPPORTED:
        if bits <= b:
            return b
    return 8


def pack_nbits(q: np.ndarray, bits: int, block_size: int) -> np.ndarray:
    """Unsigned levels (N, K) -> MatMulNBits' B: uint8 (N, k_blocks, block_size*bits/8),
    values LSB-first within each byte; K padded to whole blocks."""
    n, k = q.shape
    kb = -(-k // block_size)
    pad = np.full((n, kb * block_size), 1 << (bits - 1), dtype=np.uint8)  # padding decodes to 0
    pad[:, :k] = q
    per = 8 // bits
    v = pad.reshape(n, kb, block_size // per, per).astype(np.uint16)
    shifts = (np.arange(per, dtype=np.uint16) * bits).reshape(1, 1, 1, per)
    return (v << shifts).sum(axis=-1).astype(np.uint8)


def matmul_nbits_node(a: str, out: str, w: np.ndarray, bits: int, sparsity: float, name: str,
                      block_size: int = BLOCK_SIZE) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], int, np.ndarray]:
    """A MatMulNBits computing a @ w.T for w (N, K): returns nodes, initializers, stored bits and
    the dequantized weight (for parity checks)."""
    sb = _storage_bits(bits)
    levels, scale = quantize_weight_channels(w, bits, mask=layer_mask(w, sparsity))
    n, k = w.shape
    kb = -(-k // block_size)
    q = (levels.astype(np.int16) + (1 << (sb - 1))).astype(np.uint8)
    packed = pack_nbits(q, sb, block_size)
    scales = np.repeat(scale.astype(np.float32)[:, None], kb, axis=1).reshape(-1)
    inits = [numpy_helper.from_array(packed, f"{name}.qweight"), numpy_helper.from_array(scales, f"{name}.scales")]
    node = helper.make_node("MatMulNBits", [a, f"{name}.qweight", f"{name}.scales"], [out], name=f"{name}/MatMulNBits",
                            domain="com.microsoft", K=k, N=n, bits=sb, block_size=block_size)
    deq = levels.astype(np.float64) * scale[:, None]
    return [node], inits, sb, deq


def _linear_weights(model: nn.Module) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    return {name: (m.weight.detach().double().numpy(), None if m.bias is None else m.bias.detach().numpy())
            for name, m in model.named_modules() if isinstance(m, nn.Linear)}


def _match(arr: np.ndarray, linears: dict[str, tuple[np.ndarray, np.ndarray | None]], transposed: bool) -> str | None:
    for name, (w, _) in linears.items():
        cand = w.T if transposed else w
        if cand.shape == arr.shape and np.allclose(cand, arr, rtol=0, atol=1e-7):
            return name
    return None


def constant_note(m: onnx.ModelProto) -> str:
    """Bytes held by Constant nodes (the input adapter's fixed resampling matrix is one)."""
    sizes = [len(a.t.raw_data) or 4 * int(np.prod(a.t.dims)) for n in m.graph.node if n.op_type == "Constant"
             for a in n.attribute if a.name == "value"]
    return (f"{sum(sizes)} bytes in Constant nodes, largest {max(sizes, default=0)} "
            "(the input adapter's fixed sinc resampling matrix, not a trained weight)")


def export_hubert_onnx(ckpt: Checkpoint, plan: CompressionPlan | None, out_path: str | Path,
                       weight_only: bool = False, default_bits: int = 4) -> ExportInfo:
    """fp32 ONNX of a HuBERT-ECG checkpoint; with weight_only, every Linear becomes MatMulNBits
    at its plan bits (default_bits where no plan / layer not in the plan)."""
    model = model_from_checkpoint(ckpt)
    raw = torch_to_onnx_bytes(model, dummy_input(ckpt))
    m = onnx.load_from_string(raw)
    if not weight_only:
        write_metadata(m, ckpt, {"precision": "fp32"})
        onnx.checker.check_model(m, full_check=True)
        data = m.SerializeToString()
        write_bytes(out_path, data)
        return ExportInfo(Path(out_path), len(data), "onnx-fp32", ["fp32, TorchScript exporter", constant_note(m)])
    linears = _linear_weights(model)
    inits = {t.name: t for t in m.graph.initializer}
    new_nodes: list[onnx.NodeProto] = []
    new_inits: list[onnx.TensorProto] = []
    storage: dict[str, str] = {}
    notes: list[str] = []
    dropped: set[str] = set()
    for node in m.graph.node:
        b_name = node.input[1] if len(node.input) > 1 else ""
        transposed = node.op_type == "MatMul"
        gemm_ok = node.op_type == "Gemm" and any(a.name == "transB" and a.i == 1 for a in node.attribute) \
            and not any(a.name in ("transA",) and a.i for a in node.attribute)
        if b_name in inits and (transposed or gemm_ok):
            arr = numpy_helper.to_array(inits[b_name]).astype(np.float64)
            layer = _match(arr, linears, transposed)
            if layer is not None:
                bits, sparsity = default_bits, 0.0
                if plan is not None:
                    try:
                        lp = plan.layer(layer)
                        bits, sparsity = int(lp.bits), float(lp.sparsity)
                    except KeyError:
                        notes.append(f"{layer}: not in the plan, {default_bits}-bit")
                out = node.output[0] if node.op_type == "MatMul" or len(node.input) < 3 else f"{layer}.mm"
                nodes, qi, sb, _ = matmul_nbits_node(node.input[0], out, linears[layer][0], bits, sparsity, layer)
                new_nodes += nodes
                new_inits += qi
                if node.op_type == "Gemm" and len(node.input) >= 3:
                    new_nodes.append(helper.make_node("Add", [out, node.input[2]], [node.output[0]], name=f"{layer}/bias"))
                storage[layer] = f"MatMulNBits{sb}"
                if sb != bits:
                    notes.append(f"{layer}: {bits}-bit plan stored at {sb} bits (MatMulNBits holds {NBITS_SUPPORTED})")
                dropped.add(b_name)
                continue
        new_nodes.append(node)
    for name in linears:
        if name not in storage:
            raise UnsupportedOpError("ONNX MatMulNBits", f"Linear {name}", name,
                                     "its weight did not appear as a constant MatMul/Gemm input")
    still_used = {i for n in new_nodes for i in n.input}
    kept = [t for t in m.graph.initializer if t.name not in dropped or t.name in still_used]
    del m.graph.node[:]
    m.graph.node.extend(new_nodes)
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept + new_inits)
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    fp32_left = sum(int(np.prod(t.dims)) for t in kept if t.data_type == TensorProto.FLOAT)
    notes.insert(0, f"{len(storage)} Linear layers as com.microsoft.MatMulNBits (block {BLOCK_SIZE}, "
                    f"per-row scale); {fp32_left} fp32 weight values left (conv feature encoder, positional "
                    "conv, LayerNorm, biases)")
    notes.insert(1, constant_note(m))
    write_metadata(m, ckpt, {"precision": "weight-only-nbits",
                        "plan": plan.method if plan is not None else f"uniform-{default_bits}bit"})
    onnx.checker.check_model(m)
    data = m.SerializeToString()
    write_bytes(out_path, data)
    return ExportInfo(Path(out_path), len(data), "onnx-matmulnbits", notes, storage)
