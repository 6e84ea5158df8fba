"""HuBERT-ECG -> the export graph (format version 2 ops). The input adapter (resampling, DC
removal, min-max scaling) stays on the host: the graph's input is the adapted sequence
(window_out * leads samples, 1 channel), `adapt_inputs` computes it from dataset windows.

Lowering, module by module (names are the compression engine's, so plans apply unchanged):
conv feature extractor (CONV1D; GROUPNORM after the first; GELU as a LUT, the exactly rounded
function on the int8 grid: the I-BERT polynomial cost most of the integer error), feature projection
(LAYERNORM, LINEAR as a K = 1 CONV1D), positional conv (grouped CONV1D with pads K/2, K/2 - 1
for even K, i.e. HuBERT's same-padding, then GELU and ADD), encoder LAYERNORM, then per layer
q/k/v projections, MATMUL(Q, K^T) with head_dim^-1/2 folded in, SOFTMAX per head and query,
MATMUL(P, V), out projection, ADD, LAYERNORM, FFN (CONV1D, GELU, CONV1D), ADD, LAYERNORM;
mean-pool (GLOBAL_AVGPOOL) and the classifier (LINEAR). Dropout is the identity at inference."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ecg_edge.errors import EcgEdgeError
from ecg_edge.layerplan.plan import CompressionPlan
from ecg_edge.modelbin.intops import norm_levels
from ecg_edge.modelbin.ir import GNode, Graph, QuantWeights, conv_out_len
from ecg_edge.modelbin.layout import (
    OP_ADD,
    OP_CONV1D,
    OP_GLOBAL_AVGPOOL,
    OP_GROUPNORM,
    OP_LAYERNORM,
    OP_LINEAR,
    OP_LUT,
    OP_MATMUL,
    OP_SOFTMAX,
)


def _norm_weights(norm: nn.Module) -> QuantWeights:
    gamma = norm.weight.detach().double().numpy()
    levels, scale = norm_levels(gamma)
    return QuantWeights(levels.reshape(-1, 1).astype(np.int8), scale, norm.bias.detach().double().numpy(), 8)


def build_hubert_graph(model: nn.Module, plan: CompressionPlan | None) -> Graph:
    from ecg_edge.modelbin.graph import conv_weights, linear_weights
    from ecg_edge.models.hubert_ecg import HubertECG

    if not isinstance(model, HubertECG):
        raise EcgEdgeError(f"hubert_ecg export expects a HubertECG model, got {type(model).__name__}")
    cfg, hub = model.cfg, model.hubert
    if hub.config.feat_extract_norm != "group" or hub.config.do_stable_layer_norm:
        raise EcgEdgeError("hubert_ecg export supports feat_extract_norm='group' and post-LN encoders only")
    # per-tensor clipping by least squared error: the feature extractor's conv outputs have rare
    # large values (their quantization was the largest remaining error after the GELU tables)
    g = Graph(tensors=[], nodes=[], calib_method="mse")
    x = g.add_tensor("input", cfg.sequence_length, 1)
    g.input = x

    def like(op: int, src: list[int], name: str, **kw) -> int:
        t = g.tensors[src[0]]
        out = g.add_tensor(name, t.length, t.channels)
        g.nodes.append(GNode(op, name, src, out, **kw))
        return out

    def conv(src: int, c: nn.Conv1d, name: str, pl: int = 0, pr: int = 0) -> int:
        t = g.tensors[src]
        k, s = c.kernel_size[0], c.stride[0]
        out = g.add_tensor(name, conv_out_len(t.length, k, s, pl, pr), c.out_channels)
        g.nodes.append(GNode(OP_CONV1D, name, [src], out, False, k, s, pl, pr, 1, c.groups,
                             conv_weights(c, None, name, plan, g)))
        return out

    def dense(src: int, fc: nn.Linear, name: str) -> int:  # a per-frame linear: K = 1 CONV1D
        t = g.tensors[src]
        out = g.add_tensor(name, t.length, fc.out_features)
        w = linear_weights(fc, name, plan, g, 1, fc.in_features)
        g.nodes.append(GNode(OP_CONV1D, name, [src], out, False, 1, 1, 0, 0, 1, 1, w))
        return out

    def gelu(src: int, name: str) -> int:  # exact on the int8 grid: a 256-entry table
        return like(OP_LUT, [src], name, func="gelu")

    def norm(src: int, mod: nn.Module, name: str, groups: int = 0) -> int:
        op = OP_GROUPNORM if groups else OP_LAYERNORM
        return like(op, [src], name, groups=max(groups, 1), eps=float(mod.eps), weights=_norm_weights(mod))

    fe = "hubert.feature_extractor.conv_layers"
    h = x
    for i, layer in enumerate(hub.feature_extractor.conv_layers):
        h = conv(h, layer.conv, f"{fe}.{i}.conv")
        if hasattr(layer, "layer_norm"):
            h = norm(h, layer.layer_norm, f"{fe}.{i}.layer_norm", groups=layer.layer_norm.num_groups)
        h = gelu(h, f"{fe}.{i}.gelu")
    fp = hub.feature_projection
    h = norm(h, fp.layer_norm, "hubert.feature_projection.layer_norm")
    h = dense(h, fp.projection, "hubert.feature_projection.projection")
    pc = hub.encoder.pos_conv_embed
    k = pc.conv.kernel_size[0]
    pad = pc.conv.padding[0]
    pos = conv(h, pc.conv, "hubert.encoder.pos_conv_embed.conv", pad, pad - (1 if k % 2 == 0 else 0))
    pos = gelu(pos, "hubert.encoder.pos_conv_embed.gelu")
    h = like(OP_ADD, [h, pos], "hubert.encoder.pos_add")
    h = norm(h, hub.encoder.layer_norm, "hubert.encoder.layer_norm")
    T = g.tensors[h].length
    H = hub.config.num_attention_heads
    d = hub.config.hidden_size // H
    for i, layer in enumerate(hub.encoder.layers):
        pre = f"hubert.encoder.layers.{i}"
        att = layer.attention
        q, kk, v = (dense(h, getattr(att, f"{n}_proj"), f"{pre}.attention.{n}_proj") for n in ("q", "k", "v"))
        sc = g.add_tensor(f"{pre}.attention.scores", T, H * T)
        g.nodes.append(GNode(OP_MATMUL, f"{pre}.attention.scores", [q, kk], sc, heads=H, transpose_b=True,
                             alpha=float(att.scaling)))
        p = like(OP_SOFTMAX, [sc], f"{pre}.attention.softmax", segment=T)
        ctx = g.add_tensor(f"{pre}.attention.context", T, H * d)
        g.nodes.append(GNode(OP_MATMUL, f"{pre}.attention.context", [p, v], ctx, heads=H))
        a = dense(ctx, att.out_proj, f"{pre}.attention.out_proj")
        h = norm(like(OP_ADD, [h, a], f"{pre}.attn_add"), layer.layer_norm, f"{pre}.layer_norm")
        ff = layer.feed_forward
        f = gelu(dense(h, ff.intermediate_dense, f"{pre}.feed_forward.intermediate_dense"),
                 f"{pre}.feed_forward.gelu")
        f = dense(f, ff.output_dense, f"{pre}.feed_forward.output_dense")
        h = norm(like(OP_ADD, [h, f], f"{pre}.ffn_add"), layer.final_layer_norm, f"{pre}.final_layer_norm")
    gp = g.add_tensor("mean_pool", 1, g.tensors[h].channels)
    g.nodes.append(GNode(OP_GLOBAL_AVGPOOL, "mean_pool", [h], gp))
    out = g.add_tensor("logits", 1, model.classifier.out_features)
    g.nodes.append(GNode(OP_LINEAR, "classifier", [gp], out,
                         weights=linear_weights(model.classifier, "classifier", plan, g, 1, g.tensors[gp].channels)))
    g.output = out
    return g


ADAPTER_FIELDS = ("in_leads", "n_samples", "fs", "window_s", "target_fs", "band_low_hz", "band_high_hz",
                  "sinc_half_width_s")


def adapter_meta(model: nn.Module) -> str:
    """The META `input_adapter` value: what the host computes before quantizing the input."""
    import json

    return json.dumps({"kind": "hubert_ecg", **{k: getattr(model.cfg, k) for k in ADAPTER_FIELDS}}, sort_keys=True)


def adapt_with_meta(adapter_json: str, X_nls: np.ndarray) -> np.ndarray:
    """Apply a model.bin's recorded input adapter to dataset windows -> (N, sequence, 1)."""
    import json

    from ecg_edge.models.hubert_ecg import HubertECGConfig, HubertInputAdapter

    spec = json.loads(adapter_json)
    if spec.pop("kind", None) != "hubert_ecg":
        raise EcgEdgeError(f"unknown input_adapter in model.bin META: {adapter_json[:80]}")
    adapter = HubertInputAdapter(HubertECGConfig(**spec))
    holder = nn.Module()
    holder.adapter = adapter
    holder.cfg = adapter.cfg
    return adapt_inputs(holder, X_nls)


def adapt_inputs(model: nn.Module, X_nls: np.ndarray, batch: int = 256) -> np.ndarray:
    """Dataset windows (N, leads, samples) -> the graph input (N, sequence, 1) through the model's
    own input adapter (float, on the host)."""
    outs = []
    with torch.no_grad():
        for i in range(0, X_nls.shape[0], batch):
            y = model.adapter(torch.as_tensor(np.array(X_nls[i:i + batch], dtype=np.float32)))
            outs.append(y.double().numpy()[..., None])
    return np.concatenate(outs) if outs else np.zeros((0, model.cfg.sequence_length, 1))
