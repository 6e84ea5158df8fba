"""The numpy integer transformer ops (ecg_edge.modelbin.intops) against the C kernels, byte for
byte, through a version-2 model.bin run by the host C runtime; and against the real functions
they approximate, at the scales the packer produces."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest

from ecg_edge.modelbin import intops
from ecg_edge.modelbin.blocks import encode_block
from ecg_edge.modelbin.layout import (
    BLOCK_ALIGN,
    HEADER_SIZE,
    HEADER_STRUCT,
    MAGIC,
    NO_BLOCK,
    NO_TENSOR,
    OP_CONV1D,
    OP_GELU,
    OP_GROUPNORM,
    OP_LAYERNORM,
    OP_MATMUL,
    OP_SOFTMAX,
    OP_STRUCT,
    SEC_META,
    SEC_OPS,
    SEC_TENSORS,
    SEC_WEIGHTS,
    SECTION_STRUCT,
    TENSOR_STRUCT,
    align_up,
)

VERSION_2 = 2


def _write_v2(tensors: list[tuple[int, int, int]], ops: list[dict], blocks: list[bytes]) -> bytes:
    """A version-2 model.bin from (L, C, zp) tensors (0 = input, last = output), op dicts and
    weight blocks, laid out as FORMAT.md sections 1-8 say (tensors back to back in the arena)."""
    meta = struct.pack("<H4sBI4s", 4, b"task", 3, 4, b"test")
    trec, at = [], 0
    for j, (L, C, zp) in enumerate(tensors):
        flags = 1 if j == 0 else 2 if j == len(tensors) - 1 else 0
        trec.append(TENSOR_STRUCT.pack(L, C, 0.05, zp, at, L * C, flags, 0))
        at = align_up(at + L * C, 16)
    weights, offs = b"", []
    for b in blocks:
        weights += b"\0" * (align_up(len(weights), BLOCK_ALIGN) - len(weights))
        offs.append(len(weights))
        weights += b
    orec = []
    for op in ops:
        blk = op.get("block")
        p = list(op.get("p", [])) + [0] * (9 - len(op.get("p", [])))
        orec.append(OP_STRUCT.pack(op["type"], 0, op["in0"], op.get("in1", NO_TENSOR), op["out"], 0, -128, 127,
                                   NO_BLOCK if blk is None else offs[blk], 0 if blk is None else len(blocks[blk]), *p))
    bodies = [(SEC_META, meta, 1), (SEC_TENSORS, b"".join(trec), len(trec)), (SEC_OPS, b"".join(orec), len(orec)),
              (SEC_WEIGHTS, weights, len(blocks))]
    off = align_up(HEADER_SIZE + 16 * len(bodies), 16)
    table, data = b"", b""
    for typ, body, count in bodies:
        table += SECTION_STRUCT.pack(typ, off + len(data), len(body), count)
        data += body + b"\0" * (align_up(len(body), 16) - len(body))
    body = table + b"\0" * (off - HEADER_SIZE - len(table)) + data
    size = HEADER_SIZE + len(body)
    L, C, _ = tensors[-1]
    head = HEADER_STRUCT.pack(MAGIC, VERSION_2, HEADER_SIZE, size, zlib.crc32(body), 0, len(bodies), HEADER_SIZE,
                              align_up(at, 16), 0, len(tensors) - 1, len(tensors), len(ops), L * C, b"\0" * 20)
    return head + body


def _norm_block(rng: np.random.Generator, c: int) -> tuple[bytes, intops.NormAffine]:
    aff = intops.norm_affine(rng.uniform(0.5, 1.5, c) * rng.choice([-1, 1], c), rng.normal(0, 0.3, c), 0.03)
    blk, _ = encode_block(aff.levels.reshape(c, 1), 8, 1, aff.bias, aff.mult, aff.shift, encoding=0)
    return blk, aff


def _conv_block(rng: np.random.Generator, c_out: int, span: int, k: int) -> bytes:
    levels = rng.integers(-7, 8, (c_out, span))
    blk, _ = encode_block(levels, 4, k, rng.integers(-500, 500, c_out), np.full(c_out, 1 << 30),
                          np.full(c_out, 35))
    return blk


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_ops_equal_c_runtime(seed: int) -> None:
    from ecg_edge.runtime import CRuntime

    rng = np.random.default_rng(seed)
    L, C, H = 16, 8, 2
    zp = [int(v) for v in rng.integers(-20, 20, 10)]
    zp[8] = -128  # softmax output
    tensors = [(L, C, zp[0]), (L, C, zp[1]), (L, C, zp[2]), (L, C, zp[3]), (L, C, zp[4]), (L, C, zp[5]),
               (L, C, zp[6]), (L, H * L, zp[7]), (L, H * L, zp[8]), (L, C, zp[9])]
    gn_blk, gn = _norm_block(rng, C)
    ln_blk, ln = _norm_block(rng, C)
    g = intops.gelu_consts(0.05, 0.04)
    sm = intops.softmax_consts(0.07)
    ops = [
        dict(type=OP_GROUPNORM, in0=0, out=1, p=[4, intops.norm_eps(1e-5, L * 2, 0.05)], block=0),
        dict(type=OP_GELU, in0=1, out=2, p=[g.b_int, g.c_int, g.mult, g.shift]),
        dict(type=OP_LAYERNORM, in0=2, out=3, p=[intops.norm_eps(1e-5, C, 0.04)], block=1),
        dict(type=OP_CONV1D, in0=3, out=4, p=[1, 1, 0, 0, 1, 1], block=2),
        dict(type=OP_CONV1D, in0=3, out=5, p=[1, 1, 0, 0, 1, 1], block=3),
        dict(type=OP_CONV1D, in0=3, out=6, p=[4, 1, 2, 1, 1, 2], block=4),  # grouped, pad 2/1
        dict(type=OP_MATMUL, in0=4, in1=5, out=7, p=[H, 1, 1 << 30, 37]),
        dict(type=OP_SOFTMAX, in0=7, out=8, p=[L, sm.q_ln2, sm.q_b, sm.q_c, sm.pre_shift]),
        dict(type=OP_MATMUL, in0=8, in1=6, out=9, p=[H, 0, 1 << 30, 36]),
    ]
    blocks = [gn_blk, ln_blk, _conv_block(rng, C, C, 1), _conv_block(rng, C, C, 1), _conv_block(rng, C, 4 * 4, 4)]
    rt = CRuntime(_write_v2(tensors, ops, blocks), source="v2 test model")
    for _ in range(4):
        x = rng.integers(-128, 128, (L, C)).astype(np.int8)
        tr = rt.invoke_traced(x)
        assert np.array_equal(tr[0], intops.groupnorm(x, 4, ops[0]["p"][1], gn, zp[1]))
        assert np.array_equal(tr[1], intops.gelu(tr[0], zp[1], g.b_int, g.c_int, g.mult, g.shift, zp[2]))
        assert np.array_equal(tr[2], intops.layernorm(tr[1], ops[2]["p"][0], ln, zp[3]))
        assert np.array_equal(tr[6], intops.matmul(tr[3], zp[4], tr[4], zp[5], H, True, 1 << 30, 37, zp[7]))
        assert np.array_equal(tr[7], intops.softmax(tr[6], L, sm.q_ln2, sm.q_b, sm.q_c, sm.pre_shift, zp[8]))
        assert np.array_equal(tr[8], intops.matmul(tr[7], zp[8], tr[5], zp[6], H, False, 1 << 30, 36, zp[9]))
        assert len(np.unique(tr[7])) > 10 and len(np.unique(tr[8])) > 10  # signal reaches the end


def test_isqrt_exact() -> None:
    v = np.array([0, 1, 2, 3, 4, 15, 16, 17, (1 << 62) - 1, (1 << 63) - 1], dtype=np.int64)
    r = intops.isqrt(v)
    assert all(int(a) * int(a) <= int(b) < (int(a) + 1) ** 2 for a, b in zip(r, v, strict=True))


def test_norm_z_is_the_standardised_value() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (50, 96))
    z = intops.norm_z(x, 1) / 2.0 ** intops.NORM_FRAC
    ref = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    assert np.abs(z - ref).max() < 2e-3
    assert np.array_equal(intops.norm_z(np.full((1, 8), 5), 1), np.zeros((1, 8)))  # constant: eps keeps sd >= 1


@pytest.mark.parametrize("s_in,s_out", [(0.02, 0.015), (0.05, 0.04), (0.1, 0.08)])
def test_gelu_close_to_float(s_in: float, s_out: float) -> None:
    g = intops.gelu_consts(s_in, s_out)
    q = np.arange(-128, 128).reshape(1, -1)
    got = s_out * (intops.gelu(q, 0, g.b_int, g.c_int, g.mult, g.shift, -20).astype(np.float64) + 20)
    v = s_in * q
    want = np.clip(0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2))), s_out * -108, s_out * 147)
    assert np.abs(got - want).max() <= 0.02 + s_out


def test_gelu_refuses_too_fine_input_scale() -> None:
    with pytest.raises(ValueError, match="too fine"):
        intops.gelu_consts(1e-4, 1e-4)


@pytest.mark.parametrize("s_in", [0.01, 0.05, 0.2])
def test_softmax_close_to_float(s_in: float) -> None:
    sm = intops.softmax_consts(s_in)
    rng = np.random.default_rng(4)
    x = rng.integers(-128, 128, (20, 30))
    got = (intops.softmax(x, 30, sm.q_ln2, sm.q_b, sm.q_c, sm.pre_shift, -128).astype(np.float64) + 128) / 256
    e = np.exp(s_in * (x - x.max(1, keepdims=True)))
    assert np.abs(got - e / e.sum(1, keepdims=True)).max() <= 0.003 + 1 / 256


def test_matmul_matches_float_product() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.integers(-128, 128, (6, 12)), rng.integers(-128, 128, (6, 12))
    out = intops.matmul(a, 3, b, -2, 3, True, 1 << 30, 45, 0)  # acc / 2^15, rounded
    want = np.concatenate([(a[:, h * 4:(h + 1) * 4] - 3) @ (b[:, h * 4:(h + 1) * 4] + 2).T for h in range(3)], 1)
    assert np.array_equal(out, np.clip(np.floor(want / 2 ** 15 + 0.5), -128, 127).astype(np.int8))


def test_version_1_header_with_version_2_ops_is_refused() -> None:
    from ecg_edge.errors import ModelFormatError
    from ecg_edge.modelbin.golden import GOLDEN_DIR
    from ecg_edge.modelbin.reader import read_model
    from ecg_edge.runtime import CRuntime, RuntimeStatusError

    data = (GOLDEN_DIR / "transformer.bin").read_bytes()
    assert read_model(data).version == 2
    v1 = data[:4] + struct.pack("<H", 1) + data[6:]  # the CRC covers [64, end): still valid
    with pytest.raises(ModelFormatError, match="is not supported by format version 1 runtimes") as py:
        read_model(v1)
    with pytest.raises(RuntimeStatusError) as ei:
        CRuntime(v1)
    assert ei.value.name == "ECG_RT_E_UNSUPPORTED_OP"
    assert (py.value.rule, py.value.index) == (ei.value.rule, ei.value.index) == ("op.type", 1)
    assert np.array_equal(CRuntime(data).invoke(np.fromfile(GOLDEN_DIR / "transformer.input.i8", np.int8)
                                                .reshape(128, 1)),
                          np.fromfile(GOLDEN_DIR / "transformer.expected.i8", np.int8))
