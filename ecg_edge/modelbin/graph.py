"""Lowering a ResNet1D checkpoint to the export graph (ecg_edge.modelbin.ir): BN folded and
weights quantized to per-channel levels (what model.bin will hold), plus the float numpy forward
over that graph used for activation calibration and as the float reference.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ecg_edge.errors import EcgEdgeError
from ecg_edge.layerplan.masks import layer_mask
from ecg_edge.layerplan.plan import CompressionPlan
from ecg_edge.modelbin.ir import GNode, Graph, QuantWeights, conv_out_len
from ecg_edge.modelbin.layout import OP_ADD, OP_CONV1D, OP_GLOBAL_AVGPOOL, OP_LINEAR, OP_MAXPOOL1D
from ecg_edge.modelbin.ops import op_def
from ecg_edge.numerics import quantize_weight_channels

# ---------------------------------------------------------------- weight preparation

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
    _check_resnet1d_modules(model)
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


# The module types ResNet1D is built from; the lowering reads them by position, so any other
# module (one swapped in after construction) would silently drop out of the exported graph.
_RESNET1D_MODULES = (nn.Conv1d, nn.BatchNorm1d, nn.Linear, nn.MaxPool1d, nn.Dropout, nn.Identity, nn.Sequential)


def _check_resnet1d_modules(model: nn.Module) -> None:
    own = type(model).__module__
    for name, mod in model.named_modules():
        if name and not isinstance(mod, _RESNET1D_MODULES) and type(mod).__module__ != own:
            raise EcgEdgeError(f"export: module {name!r} is a {type(mod).__name__!r}, which the ResNet1D "
                               f"lowering does not handle (it reads {', '.join(t.__name__ for t in _RESNET1D_MODULES)})")


def _build_hubert_graph(model: nn.Module, plan: CompressionPlan | None) -> Graph:
    from ecg_edge.modelbin.hubert_graph import build_hubert_graph

    return build_hubert_graph(model, plan)


# Checkpoint architecture -> its lowering to the export graph (the packer's scope).
GRAPH_BUILDERS: dict[str, Callable[[nn.Module, CompressionPlan | None], Graph]] = {
    "resnet1d": build_resnet1d_graph,
    "hubert_ecg": _build_hubert_graph,
}


def graph_inputs(arch: str, model: nn.Module, X_lc: np.ndarray) -> np.ndarray:
    """Dataset windows (N, samples, leads) -> the graph's input: the same for a CNN, the host-side
    input adapter's sequence (N, window_out * leads, 1) for HuBERT-ECG."""
    if arch != "hubert_ecg":
        return X_lc
    from ecg_edge.modelbin.hubert_graph import adapt_inputs

    return adapt_inputs(model, np.asarray(X_lc).transpose(0, 2, 1))


def can_lower(arch: str) -> bool:
    return arch in GRAPH_BUILDERS


def build_graph(arch: str, model: nn.Module, plan: CompressionPlan | None) -> Graph:
    try:
        builder = GRAPH_BUILDERS[arch]
    except KeyError:
        raise EcgEdgeError(f"model.bin export supports {', '.join(GRAPH_BUILDERS)} checkpoints, got {arch!r}") from None
    return builder(model, plan)


def _int(v: int | tuple[int, ...]) -> int:
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


# ---------------------------------------------------------------- float forward

def float_forward(g: Graph, X: np.ndarray) -> list[np.ndarray]:
    """Every tensor's float value for X (N, L, C); the graph's weights are the quantized ones."""
    vals: list[np.ndarray | None] = [None] * len(g.tensors)
    vals[g.input] = np.asarray(X, dtype=np.float64)
    for node in g.nodes:
        try:
            od = op_def(node.op)
        except KeyError:
            raise EcgEdgeError(f"float forward: op {node.op} not supported") from None
        y = od.float_forward(node, [vals[i] for i in node.inputs], g.tensors[node.output])
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
