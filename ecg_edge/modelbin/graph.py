"""The export graph: a flat list of int8-ready ops built from a ResNet1D checkpoint, with BN
folded and weights already quantized to per-channel levels (what model.bin will hold), plus a
float numpy forward over that graph used for activation calibration and as the float reference.

Activations are laid out [N][L][C] (time-major, channels last), as in model.bin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ecg_edge.compress.plan import CompressionPlan
from ecg_edge.compress.prune import magnitude_mask
from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin.layout import (
    OP_ADD,
    OP_AVGPOOL1D,
    OP_CONV1D,
    OP_GLOBAL_AVGPOOL,
    OP_LINEAR,
    OP_MAXPOOL1D,
    OP_RELU,
)
from ecg_edge.numerics import quantize_weight_channels


@dataclass
class GTensor:
    name: str
    length: int
    channels: int
    scale: float = 0.0
    zero_point: int = 0

    @property
    def size(self) -> int:
        return self.length * self.channels


@dataclass
class QuantWeights:
    """levels int8 (C_out, span) in model.bin weight order (w[c][k][i], or the [L][C] input
    order for LINEAR); scale float64 (C_out,) > 0 with BN folded in; bias float64 (C_out,)."""
    levels: np.ndarray
    scale: np.ndarray
    bias: np.ndarray
    bits: int
    sparsity_plan: float = 0.0


@dataclass
class GNode:
    op: int
    name: str  # module path for weighted ops ("blocks.0.conv1"), descriptive otherwise
    inputs: list[int]
    output: int
    relu: bool = False
    kernel: int = 1
    stride: int = 1
    pad_left: int = 0
    pad_right: int = 0
    dilation: int = 1
    groups: int = 1
    weights: QuantWeights | None = None


@dataclass
class Graph:
    tensors: list[GTensor]
    nodes: list[GNode]
    input: int = 0
    output: int = 0
    notes: list[str] = field(default_factory=list)

    def add_tensor(self, name: str, length: int, channels: int) -> int:
        self.tensors.append(GTensor(name, int(length), int(channels)))
        return len(self.tensors) - 1


def conv_out_len(length: int, k: int, stride: int, pl: int, pr: int, dilation: int = 1) -> int:
    return (length + pl + pr - dilation * (k - 1) - 1) // stride + 1


# ---------------------------------------------------------------- weight preparation

def layer_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Kept weights: exact zeros stay pruned; if the plan asks for more sparsity than the zeros
    present, prune by magnitude below the layer's sparsity-quantile of |W|."""
    keep = w != 0
    if sparsity > 0 and (1.0 - keep.mean()) < sparsity - 1e-9:
        keep &= magnitude_mask(w, sparsity)  # compress's own rule: |W| > percentile (linear interp.)
    return keep


def quantize_layer(w: np.ndarray, bits: int, sparsity: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel levels and scales, exactly as the compression fake-quant computes them."""
    mask = layer_mask(np.asarray(w, dtype=np.float64), sparsity)
    return quantize_weight_channels(w, bits, mask=mask)


def fold_bn(levels: np.ndarray, scale: np.ndarray, bias: np.ndarray | None, bn: nn.BatchNorm1d | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fold eval-mode BN into per-channel (levels, scale, bias) without changing the levels'
    magnitudes: the BN factor joins the channel scale (a negative factor flips the levels' sign),
    so the integers stay identical to the fake-quant ones."""
    c_out = levels.shape[0]
    b = np.zeros(c_out) if bias is None else np.asarray(bias, dtype=np.float64)
    if bn is None:
        return levels, scale.astype(np.float64), b
    g = (bn.weight.detach().double().numpy() / np.sqrt(bn.running_var.detach().double().numpy() + bn.eps))
    beta = bn.bias.detach().double().numpy() - bn.running_mean.detach().double().numpy() * g
    sign = np.where(g < 0, -1, 1).astype(np.int8)
    lv = levels * sign.reshape((-1,) + (1,) * (levels.ndim - 1))
    s = scale * np.abs(g)
    zero = s == 0
    if zero.any():  # BN factor exactly 0: the channel outputs its bias only
        lv[zero] = 0
        s = np.where(zero, 1.0, s)
    return lv.astype(np.int8), s, b * g + beta


def _plan_for(plan: CompressionPlan | None, name: str, graph: Graph) -> tuple[int, float]:
    if plan is None:
        return 8, 0.0
    try:
        lp = plan.layer(name)
    except KeyError:
        graph.notes.append(f"plan has no entry for {name}: packed as int8 dense")
        return 8, 0.0
    return int(lp.bits), float(lp.sparsity)


def conv_weights(conv: nn.Conv1d, bn: nn.BatchNorm1d | None, name: str, plan: CompressionPlan | None,
                 graph: Graph) -> QuantWeights:
    bits, sp = _plan_for(plan, name, graph)
    w = conv.weight.detach().double().numpy()  # (C_out, C_in/g, K)
    levels, scale = quantize_layer(w, bits, sp)
    bias = None if conv.bias is None else conv.bias.detach().double().numpy()
    levels, scale, b = fold_bn(levels, scale, bias, bn)
    flat = np.ascontiguousarray(levels.transpose(0, 2, 1)).reshape(levels.shape[0], -1)  # [c][k][i]
    return QuantWeights(flat, scale, b, bits, sp)


def linear_weights(fc: nn.Linear, name: str, plan: CompressionPlan | None, graph: Graph,
                   in_len: int, in_ch: int) -> QuantWeights:
    bits, sp = _plan_for(plan, name, graph)
    w = fc.weight.detach().double().numpy()  # (C_out, C*L) in PyTorch flatten order [C][L]
    levels, scale = quantize_layer(w, bits, sp)
    if in_len > 1:  # permute columns from [C][L] to model.bin's [L][C]
        levels = levels.reshape(-1, in_ch, in_len).transpose(0, 2, 1).reshape(levels.shape[0], -1)
    b = None if fc.bias is None else fc.bias.detach().double().numpy()
    levels, scale, bias = fold_bn(np.ascontiguousarray(levels), scale, b, None)
    return QuantWeights(levels, scale, bias, bits, sp)


# ---------------------------------------------------------------- ResNet1D -> graph

def build_resnet1d_graph(model: nn.Module, plan: CompressionPlan | None) -> Graph:
    from ecg_edge.models.resnet1d import ResNet1D

    if not isinstance(model, ResNet1D):
        raise EcgEdgeError(f"export supports ResNet1D checkpoints only, got {type(model).__name__}")
    cfg = model.cfg
    g = Graph(tensors=[], nodes=[])
    x = g.add_tensor("input", cfg.n_samples, cfg.in_leads)
    g.input = x

    def conv(src: int, c: nn.Conv1d, bn: nn.BatchNorm1d | None, name: str, relu: bool, tname: str) -> int:
        k, s, p, d = c.kernel_size[0], c.stride[0], c.padding[0], c.dilation[0]
        if not isinstance(p, int):
            raise EcgEdgeError(f"{name}: padding mode {p!r} is not supported by export")
        t_in = g.tensors[src]
        lo = conv_out_len(t_in.length, k, s, p, p, d)
        out = g.add_tensor(tname, lo, c.out_channels)
        g.nodes.append(GNode(OP_CONV1D, name, [src], out, relu, k, s, p, p, d, c.groups,
                             conv_weights(c, bn, name, plan, g)))
        return out

    h = conv(x, model.stem.conv, model.stem.bn, "stem.conv", True, "stem")
    if isinstance(model.pool, nn.MaxPool1d):
        mp = model.pool
        k, s, p = _int(mp.kernel_size), _int(mp.stride), _int(mp.padding)
        if _int(mp.dilation) != 1 or mp.ceil_mode:
            raise EcgEdgeError("pool: only dilation 1 and floor mode are supported by export")
        t_in = g.tensors[h]
        out = g.add_tensor("pool", conv_out_len(t_in.length, k, s, p, p), t_in.channels)
        g.nodes.append(GNode(OP_MAXPOOL1D, "pool", [h], out, False, k, s, p, p))
        h = out
    for i, blk in enumerate(model.blocks):
        pre = f"blocks.{i}"
        z = conv(h, blk.conv1, blk.bn1, f"{pre}.conv1", True, f"{pre}.conv1")
        z = conv(z, blk.conv2, blk.bn2, f"{pre}.conv2", True, f"{pre}.conv2")
        if isinstance(blk.shortcut, nn.Identity):
            sc = h
        else:
            sc = conv(h, blk.shortcut.conv, blk.shortcut.bn, f"{pre}.shortcut.conv", False,
                      f"{pre}.shortcut")
        t = g.tensors[z]
        out = g.add_tensor(f"{pre}.add", t.length, t.channels)
        g.nodes.append(GNode(OP_ADD, f"{pre}.add", [z, sc], out, bool(blk.post_add_relu)))
        h = out
    t = g.tensors[h]
    if cfg.head == "gap":
        out = g.add_tensor("gap", 1, t.channels)
        g.nodes.append(GNode(OP_GLOBAL_AVGPOOL, "gap", [h], out))
        h = out
    t = g.tensors[h]
    fc = model.head.fc
    if fc.in_features != t.size:
        raise EcgEdgeError(f"head.fc expects {fc.in_features} inputs, the graph gives {t.length}x{t.channels}")
    out = g.add_tensor("logits", 1, fc.out_features)
    g.nodes.append(GNode(OP_LINEAR, "head.fc", [h], out, False,
                         weights=linear_weights(fc, "head.fc", plan, g, t.length, t.channels)))
    g.output = out
    return g


def _int(v: int | tuple[int, ...]) -> int:
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


# ---------------------------------------------------------------- float forward

def _im2col_taps(x: np.ndarray, k: int, stride: int, dilation: int, l_out: int):
    for j in range(k):
        start = j * dilation
        yield j, x[:, start:start + stride * (l_out - 1) + 1:stride, :]


def conv_float(x: np.ndarray, node: GNode, l_out: int, c_out: int) -> np.ndarray:
    """x (N, L, C) float64 -> (N, L_out, C_out): same arithmetic shape as the integer kernel."""
    w = node.weights
    assert w is not None
    n, _, c_in = x.shape
    g = node.groups
    cig, cog = c_in // g, c_out // g
    wf = (w.levels.astype(np.float64) * w.scale[:, None]).reshape(c_out, node.kernel, cig)
    xp = np.pad(x, ((0, 0), (node.pad_left, node.pad_right), (0, 0)))
    acc = np.zeros((n, l_out, c_out))
    for j, xs in _im2col_taps(xp, node.kernel, node.stride, node.dilation, l_out):
        if g == 1:
            acc += xs @ wf[:, j, :].T
        else:
            for gi in range(g):
                acc[..., gi * cog:(gi + 1) * cog] += xs[..., gi * cig:(gi + 1) * cig] @ wf[gi * cog:(gi + 1) * cog, j, :].T
    return acc + w.bias


def pool_windows(x: np.ndarray, k: int, stride: int, pl: int, pr: int, l_out: int, fill: float):
    xp = np.pad(x, ((0, 0), (pl, pr), (0, 0)), constant_values=fill)
    return [xp[:, j:j + stride * (l_out - 1) + 1:stride, :] for j in range(k)]


def float_forward(g: Graph, X: np.ndarray) -> list[np.ndarray]:
    """Every tensor's float value for X (N, L, C); the graph's weights are the quantized ones."""
    vals: list[np.ndarray | None] = [None] * len(g.tensors)
    vals[g.input] = np.asarray(X, dtype=np.float64)
    for node in g.nodes:
        x = vals[node.inputs[0]]
        t = g.tensors[node.output]
        if node.op == OP_CONV1D:
            y = conv_float(x, node, t.length, t.channels)
        elif node.op == OP_LINEAR:
            w = node.weights
            y = (x.reshape(x.shape[0], -1) @ (w.levels * w.scale[:, None]).T + w.bias)[:, None, :]
        elif node.op == OP_ADD:
            y = x + vals[node.inputs[1]]
        elif node.op == OP_MAXPOOL1D:
            y = np.max(pool_windows(x, node.kernel, node.stride, node.pad_left, node.pad_right, t.length, -np.inf), axis=0)
        elif node.op == OP_AVGPOOL1D:
            y = np.sum(pool_windows(x, node.kernel, node.stride, node.pad_left, node.pad_right, t.length, 0.0), axis=0) / node.kernel
        elif node.op == OP_GLOBAL_AVGPOOL:
            y = x.mean(axis=1, keepdims=True)
        elif node.op == OP_RELU:
            y = np.maximum(x, 0.0)
        else:
            raise EcgEdgeError(f"float forward: op {node.op} not supported")
        if node.relu:
            y = np.maximum(y, 0.0)
        vals[node.output] = y
    return vals  # type: ignore[return-value]


def fake_quant_model(model: nn.Module, plan: CompressionPlan | None) -> nn.Module:
    """The PyTorch fake-quant model: every Conv1d/Linear weight replaced by its dequantized levels
    (BN left unfolded), i.e. what compress's compressed.pt holds for the same plan."""
    g = Graph(tensors=[], nodes=[])
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, (nn.Conv1d, nn.Linear)):
                bits, sp = _plan_for(plan, name, g)
                w = mod.weight.detach().double().numpy()
                levels, scale = quantize_layer(w, bits, sp)
                deq = levels.astype(np.float64) * scale.reshape((-1,) + (1,) * (w.ndim - 1))
                mod.weight.copy_(torch.from_numpy(deq).to(mod.weight.dtype))
    return model
