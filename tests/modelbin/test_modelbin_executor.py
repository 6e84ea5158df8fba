"""The vectorised executor against (a) a literal, loop-by-loop transcription of FORMAT.md section 7,
(b) hand-computed cases, (c) the float model within quantization tolerance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ecg_edge.modelbin import executor
from ecg_edge.modelbin.golden import VECTORS, build_random_model
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
    OP_RELU,
    OP_SOFTMAX,
)
from ecg_edge.modelbin.packer import pack
from ecg_edge.modelbin.reader import read_model
from ecg_edge.models.registry import model_from_checkpoint

from .conftest import make_checkpoint


def rshift_round(v: int, m: int, n: int) -> int:
    return (v * m + (1 << (n - 1))) >> n  # Python ints: exact floor


def clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def literal_reference(mb, x: np.ndarray) -> list[np.ndarray]:
    """FORMAT.md section 7 (the transformer ops included), element by element, in Python integers."""
    vals = {mb.input_tensor: x.astype(np.int64)}
    outs = []
    for op in mb.ops:
        a = vals[op.in0]
        ta, to = mb.tensors[op.in0], mb.tensors[op.out]
        y = np.zeros((to.length, to.channels), np.int64)
        if op.op == OP_CONV1D:
            K, st, pl, _, dil, g = op.params[:6]
            b = op.block
            cig, cog = ta.channels // g, to.channels // g
            w = b.levels.astype(np.int64).reshape(to.channels, K, cig)
            for t in range(to.length):
                for c in range(to.channels):
                    gc = c // cog
                    acc = int(b.bias[c])
                    for k in range(K):
                        pos = t * st + k * dil - pl
                        xs = a[pos, gc * cig:(gc + 1) * cig] if 0 <= pos < ta.length else np.full(cig, ta.zero_point)
                        acc += int(np.dot(w[c, k], xs))
                    y[t, c] = clamp(rshift_round(acc, int(b.mult[c]), int(b.shift[c])) + to.zero_point, op.act_min, op.act_max)
        elif op.op == OP_LINEAR:
            b = op.block
            v = a.reshape(-1)
            for c in range(to.channels):
                acc = int(b.bias[c]) + int(np.dot(b.levels[c].astype(np.int64), v))
                y[0, c] = clamp(rshift_round(acc, int(b.mult[c]), int(b.shift[c])) + to.zero_point, op.act_min, op.act_max)
        elif op.op == OP_ADD:
            bb, tb = vals[op.in1], mb.tensors[op.in1]
            for t in range(to.length):
                for c in range(to.channels):
                    s = (int(a[t, c]) - ta.zero_point) * op.sparam(0) + (int(bb[t, c]) - tb.zero_point) * op.sparam(1)
                    y[t, c] = clamp(rshift_round(s, 1, op.params[2]) + to.zero_point, op.act_min, op.act_max)
        elif op.op in (OP_MAXPOOL1D, OP_AVGPOOL1D):
            K, st, pl = op.params[:3]
            for t in range(to.length):
                for c in range(to.channels):
                    pos = [t * st + k - pl for k in range(K)]
                    inside = [int(a[p, c]) for p in pos if 0 <= p < ta.length]
                    if op.op == OP_MAXPOOL1D:
                        y[t, c] = clamp(max(inside), op.act_min, op.act_max)
                    else:
                        acc = sum(v - ta.zero_point for v in inside)
                        y[t, c] = clamp(rshift_round(acc, op.sparam(4), op.params[5]) + to.zero_point, op.act_min, op.act_max)
        elif op.op == OP_GLOBAL_AVGPOOL:
            for c in range(to.channels):
                acc = int((a[:, c] - ta.zero_point).sum())
                y[0, c] = clamp(rshift_round(acc, op.sparam(0), op.params[1]) + to.zero_point, op.act_min, op.act_max)
        elif op.op == OP_RELU:
            y = np.clip(a, op.act_min, op.act_max)
        elif op.op in (OP_LAYERNORM, OP_GROUPNORM):
            b = op.block
            C = to.channels
            G = op.params[0] if op.op == OP_GROUPNORM else None
            eps = op.params[1] if G else op.params[0]
            sets = ([[(t, c) for c in range(C)] for t in range(to.length)] if G is None else
                    [[(t, c) for t in range(to.length) for c in range(gi * C // G, (gi + 1) * C // G)]
                     for gi in range(G)])
            for members in sets:
                xv = [int(a[t, c]) for t, c in members]
                n, sm = len(xv), sum(xv)
                sd = math.isqrt(sum((n * v - sm) ** 2 for v in xv) // n + eps)
                for (t, c), v in zip(members, xv, strict=True):
                    d = n * v - sm
                    z = min((abs(d) * 4096 + sd) // (2 * sd), 32768) * (1 if d >= 0 else -1)
                    acc = z * int(b.levels[c, 0]) + int(b.bias[c])
                    y[t, c] = clamp(rshift_round(acc, int(b.mult[c]), int(b.shift[c])) + to.zero_point,
                                    op.act_min, op.act_max)
        elif op.op == OP_GELU:
            bi, ci, m, n = op.params[0], op.params[1], op.sparam(2), op.params[3]
            for t in range(to.length):
                for c in range(to.channels):
                    v = int(a[t, c]) - ta.zero_point
                    e = ci - (bi - min(abs(v), bi)) ** 2
                    e = -e if v < 0 else e
                    y[t, c] = clamp(rshift_round(v * (ci + e), m, n) + to.zero_point, op.act_min, op.act_max)
        elif op.op == OP_LUT:
            table = [int(v) for v in op.block.levels[0]]
            for t in range(to.length):
                for c in range(to.channels):
                    y[t, c] = clamp(table[int(a[t, c]) + 128], op.act_min, op.act_max)
        elif op.op == OP_SOFTMAX:
            seg, q_ln2, q_b, q_c, k = op.params[:5]
            for t in range(to.length):
                for s0 in range(0, to.channels, seg):
                    row = [int(v) for v in a[t, s0:s0 + seg]]
                    es = []
                    for v in row:
                        d = (max(row) - v) << k
                        z, r = divmod(d, q_ln2)
                        es.append(0 if z >= 63 else ((q_b - r) ** 2 + q_c) >> z)
                    tot = sum(es)
                    for j, e in enumerate(es):
                        y[t, s0 + j] = clamp((e * 512 + tot) // (2 * tot) + to.zero_point, op.act_min, op.act_max)
        elif op.op == OP_MATMUL:
            bb, tb = vals[op.in1], mb.tensors[op.in1]
            H, trb, m, n = op.params[0], op.params[1], op.sparam(2), op.params[3]
            K = ta.channels // H
            N = tb.length if trb else tb.channels // H
            for i in range(to.length):
                for h in range(H):
                    for j in range(N):
                        acc = 0
                        for kk in range(K):
                            av = int(a[i, h * K + kk]) - ta.zero_point
                            bv = int(bb[j, h * K + kk] if trb else bb[kk, h * N + j]) - tb.zero_point
                            acc += av * bv
                        y[i, h * N + j] = clamp(rshift_round(acc, m, n) + to.zero_point, op.act_min, op.act_max)
        vals[op.out] = y
        outs.append(y.astype(np.int8))
    return outs


@pytest.mark.parametrize("name", list(VECTORS))
def test_executor_equals_literal_spec(name: str) -> None:
    data, x, expected = VECTORS[name][1]()
    mb = read_model(data)
    ref = literal_reference(mb, x)
    got = executor.run_traced(mb, x)
    for k, (r, g) in enumerate(zip(ref, got, strict=True)):
        assert np.array_equal(r, g), f"{name}: op {k} differs"
    assert np.array_equal(executor.run(mb, x), ref[-1].reshape(-1))
    assert np.array_equal(executor.run(mb, x), expected)


def test_batch_equals_single() -> None:
    data, x, _ = build_random_model(5, [2, 4, 8], 0.3)
    mb = read_model(data)
    rng = np.random.default_rng(0)
    X = rng.integers(-128, 128, size=(7, *x.shape)).astype(np.int8)
    batch = executor.run(mb, X, batch=3)
    for i in range(7):
        assert np.array_equal(batch[i], executor.run(mb, X[i]))


def test_hand_computed_conv_add_gap() -> None:
    """A 1x... graph small enough to compute by hand."""
    from ecg_edge.modelbin.ir import GNode, Graph, QuantWeights
    from ecg_edge.modelbin.packer import pack_graph

    g = Graph(tensors=[], nodes=[])
    x = g.add_tensor("in", 4, 1)
    c = g.add_tensor("conv", 4, 1)
    s = g.add_tensor("add", 4, 1)
    o = g.add_tensor("gap", 1, 1)
    g.input, g.output = x, o
    # weights [1, 2, -1] (k = 0..2), pad 1/1, bias 0
    g.nodes.append(GNode(OP_CONV1D, "conv", [x], c, False, 3, 1, 1, 1, 1, 1,
                         QuantWeights(np.array([[1, 2, -1]], np.int8), np.array([1.0]), np.array([0.0]), 8)))
    g.nodes.append(GNode(OP_ADD, "add", [c, x], s, True))
    g.nodes.append(GNode(OP_GLOBAL_AVGPOOL, "gap", [s], o))
    for t in g.tensors:
        t.scale, t.zero_point = 1.0, 0
    g.tensors[c].scale = 0.5  # conv: M 2^-n = 1*1/0.5 = 2
    data = pack_graph(g, {"task": "hand"}).data
    mb = read_model(data)
    xq = np.array([[1], [2], [3], [-4]], np.int8)
    # conv acc[t] = x[t-1]*1 + x[t]*2 + x[t+1]*(-1) with zero padding; output = 2*acc
    acc = [0 + 2 - 2, 1 + 4 - 3, 2 + 6 + 4, 3 - 8 - 0]
    conv = [2 * a for a in acc]  # [0, 4, 24, -10]
    # add: out = clamp(conv*0.5 + x, relu) = [1, 4, 15, -9 -> 0]
    add = [max(0, round(v * 0.5 + int(xi))) for v, xi in zip(conv, xq[:, 0], strict=True)]
    trace = executor.run_traced(mb, xq)
    assert trace[0][:, 0].tolist() == conv
    assert trace[1][:, 0].tolist() == add
    assert trace[2][0, 0] == 5  # mean(1, 4, 15, 0) = 5


def test_rounding_is_half_up_for_negatives() -> None:
    from ecg_edge.numerics import rounding_shift

    assert rounding_shift(-3, 1, 1).item() == -1  # -1.5 -> -1
    assert rounding_shift(-5, 1, 1).item() == -2  # -2.5 -> -2
    assert rounding_shift(3, 1, 1).item() == 2  # 1.5 -> 2


def test_executor_tracks_float_model(tiny_dataset) -> None:
    """int8 logits dequantized stay within a few output steps of the fake-quant float model."""
    ck = make_checkpoint(tiny_dataset)
    X = np.load(tiny_dataset / "X_train.npy")
    res = pack(ck, None, X)
    mb = read_model(res.data)
    Xt = np.load(tiny_dataset / "X_test.npy")
    y = executor.run(mb, executor.quantize_inputs(mb, Xt))
    t = mb.tensors[mb.output_tensor]
    deq = (y.astype(np.float64) - t.zero_point) * t.scale
    from ecg_edge.modelbin.graph import fake_quant_model

    with torch.no_grad():
        ref = fake_quant_model(model_from_checkpoint(ck), None)(torch.from_numpy(Xt)).double().numpy()
    span = ref.max() - ref.min()
    assert np.abs(deq - ref).max() < 0.05 * span
    assert (deq.argmax(1) == ref.argmax(1)).mean() >= 0.9


def test_large_accumulators_use_the_exact_float64_path() -> None:
    """A LINEAR whose partial sums exceed 2^24 (float32 would round) still matches Python integers."""
    from ecg_edge.modelbin.ir import GNode, Graph, QuantWeights
    from ecg_edge.modelbin.ops.base import dot_dtype
    from ecg_edge.modelbin.packer import pack_graph

    rng = np.random.default_rng(3)
    g = Graph(tensors=[], nodes=[])
    x = g.add_tensor("in", 1000, 3)
    o = g.add_tensor("out", 1, 2)
    g.input, g.output = x, o
    lv = rng.choice([-127, 127, 126, -125], size=(2, 3000)).astype(np.int8)
    g.nodes.append(GNode(OP_LINEAR, "fc", [x], o, weights=QuantWeights(lv, np.array([1e-3, 1e-3]), np.array([0.0, 0.0]), 8)))
    g.tensors[x].scale, g.tensors[x].zero_point = 1.0, 3
    g.tensors[o].scale, g.tensors[o].zero_point = 300.0, 0
    mb = read_model(pack_graph(g, {"task": "big"}).data)
    assert dot_dtype(mb.ops[0].block.levels) is np.float64
    xq = rng.integers(-128, 128, size=(1000, 3)).astype(np.int8)
    assert np.array_equal(executor.run(mb, xq), literal_reference(mb, xq)[-1].reshape(-1))
