"""Lower a trained ResNet1D (+ compression plan) to a small quantized graph that both the ONNX
QDQ and the TFLite writers translate op by op.

Why one IR: the two int8 exports must carry the very same integer weights (the levels that
numerics.quantize_weight_channels gives at the plan's bits, pruned weights 0) and the same
calibrated activation scales, so their differences come from the runtimes, not from us.
BatchNorm is folded into the per-output-channel weight scale (levels unchanged; a negative BN
gain flips the channel's levels) and into a float bias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ecg_edge.checkpoint import Checkpoint
from ecg_edge.layerplan.plan import CompressionPlan
from ecg_edge.mobile.common import UnsupportedOpError
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.models.resnet1d import ResNet1D
from ecg_edge.numerics import choose_activation_qparams, quantize_weight_channels

# Modules the ResNet1D lowering understands; anything else is named in the error.
_KNOWN_MODULES = (nn.Conv1d, nn.BatchNorm1d, nn.Linear, nn.MaxPool1d, nn.Dropout, nn.Identity,
                  nn.Sequential, nn.ReLU)


@dataclass
class QTensor:
    name: str
    channels: int
    length: int  # 1 for vectors
    scale: float = 1.0
    zero_point: int = 0


@dataclass
class QWeights:
    layer: str  # dotted module name (plan key)
    bits: int
    levels: np.ndarray  # int8 (C_out, C_in, K) for conv, (C_out, F) for linear; BN sign folded in
    scale: np.ndarray  # float64 (C_out,) > 0, BN gain folded in
    bias: np.ndarray  # float64 (C_out,)
    sparsity: float = 0.0

    def dequantized(self) -> np.ndarray:
        shape = (-1,) + (1,) * (self.levels.ndim - 1)
        return self.levels.astype(np.float64) * self.scale.reshape(shape)


@dataclass
class QOp:
    kind: str  # conv | maxpool | add | gap | flatten | linear
    inputs: list[str]
    output: str
    relu: bool = False
    kernel: int = 1
    stride: int = 1
    pad: int = 0
    weights: QWeights | None = None


@dataclass
class QGraph:
    tensors: dict[str, QTensor]
    ops: list[QOp]
    input: str
    output: str
    classes: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def weighted_ops(self) -> list[QOp]:
        return [op for op in self.ops if op.weights is not None]


def check_expressible(model: nn.Module, fmt: str) -> None:
    """Raise UnsupportedOpError naming the first module the int8 lowering cannot express."""
    if isinstance(model, ResNet1D):
        for name, mod in model.named_modules():
            if name and not isinstance(mod, _KNOWN_MODULES) and type(mod).__module__ != ResNet1D.__module__:
                raise UnsupportedOpError(fmt, type(mod).__name__, name)
            if isinstance(mod, nn.Conv1d) and (mod.dilation[0] != 1 or mod.groups != 1):
                raise UnsupportedOpError(fmt, f"Conv1d(dilation={mod.dilation[0]}, groups={mod.groups})", name,
                                         "only dense, undilated Conv1d is lowered")
        return
    for name, mod in model.named_modules():
        if name and not isinstance(mod, _KNOWN_MODULES):
            raise UnsupportedOpError(fmt, type(mod).__name__, name,
                                     f"the int8 {fmt} lowering handles ResNet1D graphs only")
    raise UnsupportedOpError(fmt, type(model).__name__, "",
                             f"the int8 {fmt} lowering handles ResNet1D graphs only")


def _plan_bits(plan: CompressionPlan | None, name: str) -> tuple[int, float]:
    if plan is None:
        return 8, 0.0
    try:
        lp = plan.layer(name)
    except KeyError:
        return 8, 0.0
    return int(lp.bits), float(lp.sparsity)


def _keep_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Kept weights, by the packer's rule (modelbin.graph.layer_mask): exact zeros stay pruned;
    if the plan asks for more sparsity than the zeros present (an uncompressed checkpoint with
    a plan), prune by magnitude below the layer's sparsity-quantile of |W|."""
    keep = w != 0
    if sparsity > 0 and (1.0 - keep.mean()) < sparsity - 1e-9:
        keep &= np.abs(w) > np.quantile(np.abs(w), sparsity)
    return keep


def _round_out(v: float, up: bool) -> float:
    """Round a calibration bound outward to 11 significant bits, as the model.bin packer does
    (modelbin.calibrate.round_out), so both exports get identical activation scales."""
    if v == 0.0 or not math.isfinite(v):
        return 0.0 if not math.isfinite(v) else v
    q = 2.0 ** (math.floor(math.log2(abs(v))) - 10)
    return (math.ceil(v / q) if up else math.floor(v / q)) * q


def _quant_layer(name: str, w: torch.Tensor, plan: CompressionPlan | None,
                 bn: nn.BatchNorm1d | None, bias: torch.Tensor | None) -> QWeights:
    bits, sparsity = _plan_bits(plan, name)
    wn = w.detach().double().numpy()
    levels, scale = quantize_weight_channels(wn, bits, mask=_keep_mask(wn, sparsity))
    levels = levels.astype(np.int8)
    c_out = levels.shape[0]
    b = bias.detach().double().numpy() if bias is not None else np.zeros(c_out)
    if bn is not None:
        g = (bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)).numpy()
        b = bn.bias.detach().double().numpy() + (b - bn.running_mean.detach().double().numpy()) * g
        scale = scale * g
    neg = scale < 0
    if neg.any():
        levels[neg] = -levels[neg]
        scale = np.abs(scale)
    zero = scale == 0
    if zero.any():  # BN gain exactly 0: the channel outputs its bias only
        levels[zero] = 0
        scale = np.where(zero, 1.0, scale)
    sp = float((levels == 0).mean())
    return QWeights(name, bits, levels, scale.astype(np.float64), b.astype(np.float64), sp)


def build_float_graph(model: ResNet1D, plan: CompressionPlan | None, classes: list[str]) -> QGraph:
    """The op list with quantized-and-folded weights; activation scales not yet calibrated."""
    cfg = model.cfg
    tensors: dict[str, QTensor] = {}
    ops: list[QOp] = []

    def t(name: str, c: int, length: int) -> str:
        tensors[name] = QTensor(name, c, length)
        return name

    def conv(name: str, cv: nn.Conv1d, bn: nn.BatchNorm1d, src: str, relu: bool) -> str:
        length_in = tensors[src].length
        k, s, p = cv.kernel_size[0], cv.stride[0], cv.padding[0]
        lo = (length_in + 2 * p - k) // s + 1
        out = t(name, cv.out_channels, lo)
        ops.append(QOp("conv", [src], out, relu, k, s, p, _quant_layer(name, cv.weight, plan, bn, cv.bias)))
        return out

    x = t("input", cfg.in_leads, cfg.n_samples)
    h = conv("stem.conv", model.stem.conv, model.stem.bn, x, True)
    if isinstance(model.pool, nn.MaxPool1d):
        k, s, p = model.pool.kernel_size, model.pool.stride, model.pool.padding
        length = (tensors[h].length + 2 * p - k) // s + 1
        out = t("pool", tensors[h].channels, length)
        ops.append(QOp("maxpool", [h], out, False, k, s, p))
        h = out
    for i, blk in enumerate(model.blocks):
        a = conv(f"blocks.{i}.conv1", blk.conv1, blk.bn1, h, True)
        b = conv(f"blocks.{i}.conv2", blk.conv2, blk.bn2, a, True)
        sc = conv(f"blocks.{i}.shortcut.conv", blk.shortcut.conv, blk.shortcut.bn, h, False) \
            if isinstance(blk.shortcut, nn.Sequential) else h
        out = t(f"blocks.{i}.add", tensors[b].channels, tensors[b].length)
        ops.append(QOp("add", [b, sc], out, bool(blk.post_add_relu)))
        h = out
    if cfg.head == "gap":
        out = t("gap", tensors[h].channels, 1)
        ops.append(QOp("gap", [h], out))
    else:
        out = t("flatten", tensors[h].channels * tensors[h].length, 1)
        ops.append(QOp("flatten", [h], out))
    fc = model.head.fc
    logits = t("logits", fc.out_features, 1)
    ops.append(QOp("linear", [out], logits, weights=_quant_layer("head.fc", fc.weight, plan, None, fc.bias)))
    return QGraph(tensors, ops, x, logits, list(classes))


def run_float(graph: QGraph, X: np.ndarray, observe: dict[str, list[float]] | None = None,
              fake_quant: bool = False) -> np.ndarray:
    """Float forward of the graph with its quantized weights (float activations); records each
    tensor's min/max into `observe` for calibration. fake_quant=True also rounds and clamps
    every activation to its calibrated int8 grid: the QDQ model's exact float semantics."""
    import torch.nn.functional as F

    def fq(name: str, v: torch.Tensor) -> torch.Tensor:
        if not fake_quant:
            return v
        t = graph.tensors[name]
        q = torch.clamp(torch.round(v / t.scale) + t.zero_point, -128, 127)
        return (q - t.zero_point) * t.scale

    vals: dict[str, torch.Tensor] = {
        graph.input: fq(graph.input, torch.as_tensor(np.asarray(X, dtype=np.float32)).double())}

    def record(name: str) -> None:
        if observe is not None:
            v = vals[name]
            lo, hi = float(v.min()), float(v.max())
            prev = observe.get(name)
            observe[name] = [lo, hi] if prev is None else [min(prev[0], lo), max(prev[1], hi)]

    record(graph.input)
    for op in graph.ops:
        x = vals[op.inputs[0]]
        if op.kind == "conv":
            w = torch.as_tensor(op.weights.dequantized())
            y = F.conv1d(x, w, torch.as_tensor(op.weights.bias), stride=op.stride, padding=op.pad)
        elif op.kind == "maxpool":
            y = F.max_pool1d(x, op.kernel, op.stride, op.pad)
        elif op.kind == "add":
            y = x + vals[op.inputs[1]]
        elif op.kind == "gap":
            y = x.mean(dim=-1)
        elif op.kind == "flatten":
            y = x.flatten(1)
        elif op.kind == "linear":
            y = x @ torch.as_tensor(op.weights.dequantized()).T + torch.as_tensor(op.weights.bias)
        else:  # pragma: no cover - the builder emits only the kinds above
            raise AssertionError(op.kind)
        if op.relu:
            y = torch.relu(y)
        vals[op.output] = y if op.kind == "flatten" else fq(op.output, y)
        record(op.output)
    return vals[graph.output].float().numpy()


def lower(ckpt: Checkpoint, plan: CompressionPlan | None, calib_X: np.ndarray, fmt: str,
          batch: int = 64) -> QGraph:
    """Checkpoint + plan + calibration windows -> calibrated QGraph (per-tensor asymmetric int8
    activations from min/max, as numerics.choose_activation_qparams defines)."""
    model = model_from_checkpoint(ckpt)
    check_expressible(model, fmt)
    if calib_X is None or len(calib_X) == 0:
        raise UnsupportedOpError(fmt, "calibration", "", "int8 export needs calibration windows (calib_X)")
    graph = build_float_graph(model, plan, ckpt.classes)
    ranges: dict[str, list[float]] = {}
    with torch.no_grad():
        for i in range(0, len(calib_X), batch):
            run_float(graph, calib_X[i:i + batch], ranges)
    for name, tq in graph.tensors.items():
        if name == "flatten":
            continue
        lo, hi = ranges[name]
        tq.scale, tq.zero_point = choose_activation_qparams(_round_out(lo, False), _round_out(hi, True))
    for op in graph.ops:  # pools and reshapes keep their input's quantization (TFLite requires it)
        if op.kind in ("maxpool", "flatten"):
            src = graph.tensors[op.inputs[0]]
            graph.tensors[op.output].scale, graph.tensors[op.output].zero_point = src.scale, src.zero_point
    return graph
