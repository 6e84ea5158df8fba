"""Golden vectors for every runtime (export/golden/): small model.bin files with an int8 input
and the expected int8 logits, plus each op's output for debugging parity.

`python -m ecg_edge.modelbin.golden [OUT_DIR]` regenerates them; regenerating gives identical
bytes (seeded torch init, seeded numpy, calibration ranges rounded outward).

Files per vector NAME: NAME.bin, NAME.input.i8 (raw int8 [L][C]), NAME.expected.i8 (int8 logits),
NAME.trace.i8 (every op's output, raw int8 [L][C], concatenated in op order; sizes in index.json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
from torch import nn

from ecg_edge.atomic import write_bytes, write_text
from ecg_edge.checkpoint import Checkpoint
from ecg_edge.layerplan.bitpack import ENCODING_NAMES
from ecg_edge.layerplan.plan import CompressionPlan, LayerPlan
from ecg_edge.modelbin import executor
from ecg_edge.modelbin.calibrate import calibrate
from ecg_edge.modelbin.intops import norm_levels
from ecg_edge.modelbin.ir import GNode, Graph, QuantWeights, conv_out_len
from ecg_edge.modelbin.layout import (
    OP_ADD,
    OP_AVGPOOL1D,
    OP_CONV1D,
    OP_GELU,
    OP_GLOBAL_AVGPOOL,
    OP_GROUPNORM,
    OP_LAYERNORM,
    OP_LINEAR,
    OP_LUT,
    OP_MATMUL,
    OP_MAXPOOL1D,
    OP_NAMES,
    OP_RELU,
    OP_SOFTMAX,
    VERSION,
)
from ecg_edge.modelbin.packer import pack, pack_graph
from ecg_edge.modelbin.reader import read_model
from ecg_edge.models.resnet1d import ResNet1D, ResNet1DConfig
from ecg_edge.numerics import qmax_for_bits, quantize_activation
from ecg_edge.options import entry_point
from ecg_edge.paths import GOLDEN_DIR

TINY = dict(n_samples=256, n_classes=4, stem_channels=8, stem_kernel=7, stem_stride=2, stem_pool=2,
            widths=[8, 16], strides=[1, 2], kernel=5, dropout=0.0)


def default_resnet_config() -> ResNet1DConfig:
    """The default ResNet1D architecture (for benches that need its compute without a checkpoint)."""
    return ResNet1DConfig()


def random_resnet(seed: int, **overrides: Any) -> tuple[ResNet1D, ResNet1DConfig]:
    """A tiny ResNet1D with seeded weights and non-trivial BN statistics (negative gammas too)."""
    cfg = ResNet1DConfig(**{**TINY, **overrides})
    torch.manual_seed(seed)
    model = ResNet1D(cfg)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                n = m.num_features
                m.running_mean.copy_((torch.rand(n, generator=gen) - 0.5) * 0.4)
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen) * 1.5)
                m.weight.copy_((torch.rand(n, generator=gen) - 0.3) * 2.0)
                m.bias.copy_((torch.rand(n, generator=gen) - 0.5) * 0.4)
    model.eval()
    return model, cfg


def cycling_plan(model: nn.Module, bits: int | list[int], sparsity: float | list[float]) -> CompressionPlan:
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Linear))]
    bl = bits if isinstance(bits, list) else [bits] * len(names)
    sl = sparsity if isinstance(sparsity, list) else [sparsity] * len(names)
    layers = [LayerPlan(n, int(bl[i % len(bl)]), float(sl[i % len(sl)])) for i, n in enumerate(names)]
    return CompressionPlan(method="golden", target="", layers=layers)


def ecg_like_inputs(seed: int, n: int, leads: int, samples: int) -> np.ndarray:
    """ECG-like float windows: a few sinusoids plus spikes plus noise (N, leads, samples)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 100.0
    X = np.zeros((n, leads, samples))
    for i in range(n):
        for c in range(leads):
            f = rng.uniform(0.8, 2.5)
            X[i, c] = 0.3 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
            X[i, c, rng.integers(0, samples, 4)] += rng.uniform(0.5, 1.5, 4)
            X[i, c] += rng.normal(0, 0.05, samples)
    return X


def build_random_model(seed: int, bits: int | list[int] = 8, sparsity: float | list[float] = 0.0,
                       **cfg_overrides: Any) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(model.bin bytes, int8 input [L][C], expected int8 logits) of a seeded tiny ResNet1D packed
    with the given per-layer bits/sparsity (a list cycles over the layers in module order)."""
    model, cfg = random_resnet(seed, **cfg_overrides)
    plan = cycling_plan(model, bits, sparsity)
    ckpt = Checkpoint("resnet1d", cfg.to_dict(), model.state_dict(), [f"c{i}" for i in range(cfg.n_classes)],
                      {"task": "golden", "fs": 100.0, "leads": [f"L{i}" for i in range(cfg.in_leads)],
                       "n_samples": cfg.n_samples})
    calib = ecg_like_inputs(seed + 2, 16, cfg.in_leads, cfg.n_samples)
    res = pack(ckpt, plan, calib, trailer=False)  # every key in the image: byte-identical vectors
    mb = read_model(res.data, f"golden seed {seed}")
    x_q = executor.quantize_inputs(mb, ecg_like_inputs(seed + 3, 1, cfg.in_leads, cfg.n_samples))[0]
    return res.data, x_q, executor.run(mb, x_q)


def _rand_weights(rng: np.random.Generator, c_out: int, span: int, bits: int, sparsity: float) -> QuantWeights:
    q = qmax_for_bits(bits)
    lv = rng.integers(-q, q + 1, size=(c_out, span))
    if bits == 1:
        lv = np.where(rng.random((c_out, span)) < 0.5, -1, 1)
    lv = np.where(rng.random((c_out, span)) < sparsity, 0, lv).astype(np.int8)
    scale = rng.uniform(0.5, 1.5, c_out) / (q * np.sqrt(span))
    return QuantWeights(lv, scale, rng.normal(0, 0.1, c_out), bits, sparsity)


def build_custom_graph(seed: int) -> Graph:
    """A graph using what ResNet1D does not: dilation, asymmetric padding, depthwise conv, the
    RELU and AVGPOOL1D ops, an ADD without a residual conv, LINEAR over a flattened [L][C]."""
    rng = np.random.default_rng(seed)
    g = Graph(tensors=[], nodes=[])
    x = g.add_tensor("input", 96, 2)
    g.input = x

    def conv(src: int, name: str, c_out: int, k: int, stride: int, pl: int, pr: int, dil: int, groups: int,
             bits: int, sp: float, relu: bool) -> int:
        t = g.tensors[src]
        out = g.add_tensor(name, conv_out_len(t.length, k, stride, pl, pr, dil), c_out)
        w = _rand_weights(rng, c_out, k * t.channels // groups, bits, sp)
        g.nodes.append(GNode(OP_CONV1D, name, [src], out, relu, k, stride, pl, pr, dil, groups, w))
        return out

    def simple(op: int, src: list[int], name: str, length: int, ch: int, **kw: Any) -> int:
        out = g.add_tensor(name, length, ch)
        g.nodes.append(GNode(op, name, src, out, **kw))
        return out

    a = conv(x, "conv_dil", 6, 3, 1, 3, 1, 2, 1, 6, 0.0, False)  # dilation 2, pads 3/1
    r = simple(OP_RELU, [a], "relu", g.tensors[a].length, 6)
    d = conv(r, "dw", 6, 5, 2, 2, 2, 1, 6, 4, 0.2, True)  # depthwise, stride 2
    p = simple(OP_AVGPOOL1D, [d], "avgpool", conv_out_len(g.tensors[d].length, 3, 2, 1, 0), 6,
               kernel=3, stride=2, pad_left=1, pad_right=0)
    c = conv(p, "conv_s3", 6, 3, 3, 1, 1, 1, 1, 7, 0.6, True)  # stride 3
    m = simple(OP_MAXPOOL1D, [p], "maxpool", conv_out_len(g.tensors[p].length, 3, 3, 1, 1), 6,
               kernel=3, stride=3, pad_left=1, pad_right=1)
    s = simple(OP_ADD, [c, m], "add", g.tensors[c].length, 6, relu=True)
    gp = simple(OP_GLOBAL_AVGPOOL, [s], "gap", 1, 6)
    t = g.tensors[s]
    h1 = g.add_tensor("fc_flat", 1, 5)
    g.nodes.append(GNode(OP_LINEAR, "fc_flat", [s], h1, True,
                         weights=_rand_weights(rng, 5, t.size, 2, 0.3)))
    h2 = g.add_tensor("fc_gap", 1, 5)
    g.nodes.append(GNode(OP_LINEAR, "fc_gap", [gp], h2, False,
                         weights=_rand_weights(rng, 5, 6, 8, 0.0)))
    out = simple(OP_ADD, [h1, h2], "logits", 1, 5)
    g.output = out
    return g


def build_transformer_graph(seed: int, lut: bool = False) -> Graph:
    """A two-head post-LN transformer shaped like HuBERT-ECG (format version 2): conv feature
    extractor with GROUPNORM and GELU, LAYERNORM, projection, grouped positional conv (pads 2/1),
    attention composed as MATMUL(Q, K^T) -> SOFTMAX -> MATMUL(P, V), FFN, mean-pool, LINEAR.
    lut: the second conv's and the FFN's GELU as LUT tables (format version 3), as HuBERT lowers them."""
    rng = np.random.default_rng(seed)
    g = Graph(tensors=[], nodes=[])
    x = g.add_tensor("input", 128, 1)
    g.input = x

    def conv(src: int, name: str, c_out: int, k: int = 1, stride: int = 1, pl: int = 0, pr: int = 0,
             groups: int = 1, bits: int = 8, sp: float = 0.0) -> int:
        t = g.tensors[src]
        out = g.add_tensor(name, conv_out_len(t.length, k, stride, pl, pr), c_out)
        w = _rand_weights(rng, c_out, k * t.channels // groups, bits, sp)
        g.nodes.append(GNode(OP_CONV1D, name, [src], out, False, k, stride, pl, pr, 1, groups, w))
        return out

    def node(op: int, src: list[int], name: str, length: int, ch: int, **kw: Any) -> int:
        out = g.add_tensor(name, length, ch)
        g.nodes.append(GNode(op, name, src, out, **kw))
        return out

    def like(op: int, src: int, name: str, **kw: Any) -> int:
        t = g.tensors[src]
        return node(op, [src], name, t.length, t.channels, **kw)

    def norm(op: int, src: int, name: str, groups: int = 1) -> int:
        c = g.tensors[src].channels
        levels, scale = norm_levels(rng.uniform(0.5, 1.5, c) * rng.choice([-1.0, 1.0], c))
        w = QuantWeights(levels.reshape(c, 1).astype(np.int8), scale, rng.normal(0, 0.2, c), 8)
        return like(op, src, name, groups=groups, weights=w)

    h = conv(x, "conv0", 8, 10, 4, bits=6, sp=0.3)
    h = like(OP_GELU, norm(OP_GROUPNORM, h, "norm0", groups=8), "gelu0")
    gelu_op, gelu_kw = (OP_LUT, {"func": "gelu"}) if lut else (OP_GELU, {})
    h = like(gelu_op, conv(h, "conv1", 8, 3, 2, bits=4), "gelu1", **gelu_kw)
    h = conv(norm(OP_LAYERNORM, h, "feat_ln"), "projection", 16, bits=5, sp=0.5)
    pos = like(OP_GELU, conv(h, "pos_conv", 16, 4, 1, 2, 1, groups=4, bits=3), "pos_gelu")
    h = norm(OP_LAYERNORM, node(OP_ADD, [h, pos], "pos_add", g.tensors[h].length, 16), "enc_ln")
    T, H = g.tensors[h].length, 2
    q, k, v = (conv(h, n, 16, bits=b, sp=sp) for n, b, sp in (("q", 8, 0.0), ("k", 7, 0.2), ("v", 2, 0.6)))
    sc = node(OP_MATMUL, [q, k], "scores", T, H * T, heads=H, transpose_b=True, alpha=1 / np.sqrt(8))
    p = node(OP_SOFTMAX, [sc], "softmax", T, H * T, segment=T)
    ctx = node(OP_MATMUL, [p, v], "context", T, 16, heads=H)
    a = conv(ctx, "out_proj", 16, bits=4)
    h = norm(OP_LAYERNORM, node(OP_ADD, [h, a], "attn_add", T, 16), "attn_ln")
    f = conv(like(gelu_op, conv(h, "ffn_in", 32, bits=4, sp=0.4), "ffn_gelu", **gelu_kw), "ffn_out", 16, bits=1,
             sp=0.5)
    h = norm(OP_LAYERNORM, node(OP_ADD, [h, f], "ffn_add", T, 16), "ffn_ln")
    gp = node(OP_GLOBAL_AVGPOOL, [h], "mean_pool", 1, 16)
    out = g.add_tensor("logits", 1, 4)
    g.nodes.append(GNode(OP_LINEAR, "classifier", [gp], out, weights=_rand_weights(rng, 4, 16, 8, 0.0)))
    g.output = out
    return g


def build_custom_model(seed: int, builder: Any = None) -> tuple[bytes, np.ndarray, np.ndarray]:
    g = (builder or build_custom_graph)(seed)
    t = g.tensors[g.input]
    calib = ecg_like_inputs(seed + 2, 16, t.channels, t.length).transpose(0, 2, 1)
    calibrate(g, calib)
    meta = {"task": "golden-custom", "classes": [f"c{i}" for i in range(g.tensors[g.output].size)], "input_length": t.length,
            "input_leads": t.channels, "input_scale": t.scale, "input_zero_point": t.zero_point,
            "producer": "ecg-edge golden", "fp32_param_bytes": 4 * sum(n.weights.levels.size for n in g.nodes if n.weights)}
    res = pack_graph(g, meta, trailer=False)
    mb = read_model(res.data, f"golden custom seed {seed}")
    x_q = quantize_activation(ecg_like_inputs(seed + 3, 1, t.channels, t.length)[0].T, t.scale, t.zero_point)
    return res.data, x_q, executor.run(mb, x_q)


# name -> (description, builder)
VECTORS: dict[str, tuple[str, Any]] = {
    "int8_dense": ("int8, dense, GAP head, stem max-pool", lambda: build_random_model(11, 8, 0.0)),
    "w4_bitmask": ("4-bit, 50% pruned (bitmask)", lambda: build_random_model(12, 4, 0.5)),
    "mixed_runlength": ("per-layer bits 1,2,3,5,8,4,8 with 30-98% pruning, flatten head (run-length, bitmask)",
                        lambda: build_random_model(13, [1, 2, 3, 5, 8, 4, 8], [0.5, 0.9, 0.5, 0.95, 0.7, 0.3, 0.98],
                                                   head="flatten")),
    "binary_dense": ("1-bit dense (no pruning)", lambda: build_random_model(14, 1, 0.0)),
    "flatten_2lead": ("flatten head, no stem pool, post-add ReLU, 2 leads, stride-3 stem, 3/5-bit",
                      lambda: build_random_model(15, [3, 5], 0.2, head="flatten", stem_pool=0, in_leads=2,
                                                 stem_stride=3, post_add_relu=True, widths=[8, 8, 12], strides=[2, 1, 2])),
    "custom_ops": ("dilation 2, asymmetric pads, depthwise, RELU, AVGPOOL1D, stride 3, LINEAR on [L][C], ADD of logits",
                   lambda: build_custom_model(16)),
    "transformer": ("format version 2: GROUPNORM, GELU, LAYERNORM, grouped positional conv, two-head attention "
                    "(MATMUL, SOFTMAX, MATMUL), FFN, mean-pool; 1-8-bit weights",
                    lambda: build_custom_model(17, build_transformer_graph)),
    "transformer_lut": ("format version 3: the transformer with two of its GELUs as LUT tables (op 13)",
                        lambda: build_custom_model(18, lambda s: build_transformer_graph(s, lut=True))),
}


def generate(out_dir: Path = GOLDEN_DIR) -> dict[str, Any]:
    out_dir = Path(out_dir)
    index: dict[str, Any] = {"format_version": VERSION, "generator": "python -m ecg_edge.modelbin.golden", "vectors": {}}
    for name, (desc, build) in VECTORS.items():
        data, x_q, y = build()
        mb = read_model(data, name)
        trace = executor.run_traced(mb, x_q)
        write_bytes(out_dir / f"{name}.bin", data)
        write_bytes(out_dir / f"{name}.input.i8", np.ascontiguousarray(x_q, dtype=np.int8).tobytes())
        write_bytes(out_dir / f"{name}.expected.i8", np.asarray(y, dtype=np.int8).tobytes())
        write_bytes(out_dir / f"{name}.trace.i8", b"".join(np.ascontiguousarray(t).tobytes() for t in trace))
        index["vectors"][name] = {
            "description": desc, "version": mb.version, "bytes": len(data), "input_shape": list(x_q.shape),
            "n_classes": int(y.size), "arena_size": mb.arena_size,
            "expected": [int(v) for v in y],
            "bits": sorted({op.block.bits for op in mb.ops if op.block}),
            "encodings": sorted({ENCODING_NAMES[op.block.encoding] for op in mb.ops if op.block}),
            "ops": sorted({OP_NAMES[op.op] for op in mb.ops}),
            "trace": [{"op": k, "type": OP_NAMES[op.op], "tensor": op.out, "bytes": int(trace[k].size)}
                      for k, op in enumerate(mb.ops)],
        }
    write_text(out_dir / "index.json", json.dumps(index, indent=1) + "\n")
    return index


@click.command(help="Regenerate the golden vectors (default: export/golden/).")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path), default=GOLDEN_DIR)
def command(out: Path) -> None:
    idx = generate(out)
    for name, v in idx["vectors"].items():
        print(f"{name:16s} {v['bytes']:6d} B  bits {v['bits']}  {', '.join(v['encodings'])}")
    print(f"wrote {len(idx['vectors'])} vectors to {out}")


main = entry_point(command, "python -m ecg_edge.modelbin.golden")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
