"""Bitstreams and the three weight encodings at every bit-width: exact sizes, exact round trips."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.layerplan.bitpack import (
    ENC_BITMASK,
    ENC_DENSE,
    ENC_RUNLENGTH,
    encoding_bytes,
    pack_bits,
    unpack_bits,
)
from ecg_edge.modelbin.blocks import decode_levels, encode_block, run_bytes
from ecg_edge.modelbin.layout import BLOCK_STRUCT
from ecg_edge.numerics import qmax_for_bits


def _levels(rng: np.random.Generator, bits: int, shape: tuple[int, int], density: float) -> np.ndarray:
    q = qmax_for_bits(bits)
    lv = rng.choice([-1, 1], size=shape) if bits == 1 else rng.integers(-q, q + 1, size=shape)
    if bits > 1:
        lv = np.where(lv == 0, 1, lv)
    return np.where(rng.random(shape) < density, lv, 0).astype(np.int8)


@pytest.mark.parametrize("bits", range(1, 9))
def test_bitstream_roundtrip_and_bit_order(bits: int) -> None:
    rng = np.random.default_rng(bits)
    if bits == 1:
        v = rng.choice([-1, 1], size=37)
    else:
        v = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=37)
    raw = pack_bits(v, bits)
    assert len(raw) == (37 * bits + 7) // 8
    assert np.array_equal(unpack_bits(raw, bits, 37), v)
    # value j occupies stream bits [j*b, j*b+b), LSB first
    stream = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")
    u = (v > 0).astype(int) if bits == 1 else v & ((1 << bits) - 1)
    for j in (0, 5, 36):
        got = sum(int(stream[j * bits + i]) << i for i in range(bits))
        assert got == u[j]


def test_bitstream_known_bytes() -> None:
    assert pack_bits(np.array([1, -1, 1, 1, -1, -1, -1, 1, 1]), 1) == bytes([0b10001101, 0b1])
    # 3-bit: 1 = 001, -2 = 110, 3 = 011 -> stream 1,0,0, 0,1,1, 1,1,0 -> 0xF1, 0x00
    assert pack_bits(np.array([1, -2, 3]), 3) == bytes([0xF1, 0x00])
    # 4-bit: 0x?: values 1 and -2 (0xE) -> byte 0xE1
    assert pack_bits(np.array([1, -2]), 4) == bytes([0xE1])


def test_run_bytes_escapes_long_runs() -> None:
    row = np.zeros(700, bool)
    row[[3, 300, 699]] = True
    # 3 zeros, value; 296 zeros = 255 escape + 41, value; 398 zeros = 255 + 143, value
    assert run_bytes(row) == bytes([3, 255, 41, 255, 143])


@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("density", [1.0, 0.5, 0.02])
def test_every_encoding_roundtrips(bits: int, density: float) -> None:
    rng = np.random.default_rng(bits * 100 + int(density * 10))
    lv = _levels(rng, bits, (6, 300), density)
    sizes = encoding_bytes(lv != 0, bits)
    for enc in (ENC_DENSE, ENC_BITMASK, ENC_RUNLENGTH):
        if enc not in sizes:
            assert bits == 1 and density < 1.0
            with pytest.raises(ValueError):
                encode_block(lv, bits, 3, np.zeros(6), np.ones(6), np.ones(6), encoding=enc)
            continue
        c = lv.shape[0]
        blk, used = encode_block(lv, bits, 3, np.arange(c) - 2, np.arange(c) + 7, np.arange(c) + 1, encoding=enc)
        assert used == enc
        h = BLOCK_STRUCT.unpack_from(blk, 0)
        assert len(blk) == 48 + 4 * c + 4 * c + 8 + sizes[enc], "encoding_bytes must count the shipped bytes"
        assert h[6] == int(np.count_nonzero(lv))
        got = decode_levels(blk, "t", bits, enc, 6, 300, h[6], h[10], h[11], h[12], h[13])
        assert np.array_equal(got, lv)
        assert np.array_equal(np.frombuffer(blk, "<i4", c, h[7]), np.arange(c) - 2)
        assert np.array_equal(np.frombuffer(blk, "<i4", c, h[8]), np.arange(c) + 7)
        assert np.array_equal(np.frombuffer(blk, np.int8, c, h[9]), np.arange(c) + 1)


def test_smallest_encoding_is_chosen() -> None:
    rng = np.random.default_rng(1)
    assert encode_block(_levels(rng, 8, (8, 64), 1.0), 8, 1, np.zeros(8), np.ones(8), np.ones(8))[1] == ENC_DENSE
    assert encode_block(_levels(rng, 4, (8, 64), 0.4), 4, 1, np.zeros(8), np.ones(8), np.ones(8))[1] == ENC_BITMASK
    assert encode_block(_levels(rng, 8, (4, 2000), 0.01), 8, 1, np.zeros(4), np.ones(4), np.ones(4))[1] == ENC_RUNLENGTH
