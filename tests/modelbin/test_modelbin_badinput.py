"""Hostile model.bin files: each defect is refused with a ModelFormatError naming the field; random
mutations never crash, hang or read out of bounds (only ModelFormatError, or a valid model)."""

from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecg_edge.errors import ModelFormatError
from ecg_edge.modelbin import executor
from ecg_edge.modelbin.golden import GOLDEN_DIR
from ecg_edge.modelbin.layout import BLOCK_HEADER_SIZE, OP_NAMES, OP_RECORD_SIZE, TENSOR_RECORD_SIZE
from ecg_edge.modelbin.ops import REGISTRY, runnable_summary
from ecg_edge.modelbin.reader import read_model

GOOD = (GOLDEN_DIR / "mixed_runlength.bin").read_bytes()  # has dense, bitmask and run-length blocks
CUSTOM = (GOLDEN_DIR / "custom_ops.bin").read_bytes()


def fix_crc(b: bytearray) -> bytes:
    b[12:16] = struct.pack("<I", zlib.crc32(bytes(b[64:])) & 0xFFFFFFFF)
    return bytes(b)


def patch(data: bytes, off: int, fmt: str, value: int, crc: bool = True) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, off, value)
    return fix_crc(b) if crc else bytes(b)


def section(data: bytes, typ: int) -> tuple[int, int, int, int]:
    n = struct.unpack_from("<I", data, 20)[0]
    for i in range(n):
        t, off, size, count = struct.unpack_from("<IIII", data, 64 + 16 * i)
        if t == typ:
            return i, off, size, count
    raise AssertionError(typ)


def op_off(data: bytes, k: int) -> int:
    return section(data, 3)[1] + k * OP_RECORD_SIZE


def tensor_off(data: bytes, t: int) -> int:
    return section(data, 2)[1] + t * TENSOR_RECORD_SIZE


def block_off(data: bytes, enc: int | None = None, bits: int | None = None) -> int:
    """File offset of the first weight block with the given encoding / bits."""
    mb = read_model(data)
    for op in mb.ops:
        if op.block and (enc is None or op.block.encoding == enc) and (bits is None or op.block.bits == bits):
            return op.block.offset
    raise AssertionError("no such block")


def refuses(data: bytes, pattern: str) -> None:
    with pytest.raises(ModelFormatError, match=pattern):
        read_model(data, "bad.bin")


def test_good_files_load() -> None:
    read_model(GOOD)
    read_model(CUSTOM)


def test_truncated() -> None:
    refuses(GOOD[:40], r"bad.bin: file is 40 bytes, shorter than the 64-byte header")
    refuses(GOOD[:-16], r"header field 'file_size' is \d+ but the buffer holds \d+ bytes \(truncated\)")


def test_bit_flip_is_caught_by_crc() -> None:
    b = bytearray(GOOD)
    b[len(b) // 2] ^= 0x10
    refuses(bytes(b), r"header field 'crc32'")


def test_magic_version_header() -> None:
    refuses(b"XXXX" + GOOD[4:], r"header field 'magic'")
    refuses(patch(GOOD, 4, "<H", 4), r"header field 'version' is 4")
    refuses(patch(GOOD, 4, "<H", 0), r"header field 'version' is 0")
    refuses(patch(GOOD, 6, "<H", 32), r"header field 'header_size' is 32")
    refuses(patch(GOOD, 16, "<I", 4), r"header field 'flags' is 0x4")
    refuses(patch(GOOD, 20, "<I", 0), r"header field 'n_sections' is 0")
    refuses(patch(GOOD, 36, "<H", 99), r"section TENSORS: count \d+ disagrees with header field 'n_tensors' 99")
    refuses(patch(GOOD, 40, "<I", 3), r"header field 'n_classes' 3 disagrees")


def test_section_table() -> None:
    i, off, size, _ = section(GOOD, 4)
    refuses(patch(GOOD, 64 + 16 * i + 4, "<I", len(GOOD) - 16),
            rf"section table entry {i} \(WEIGHTS\): offset {len(GOOD) - 16} \+ size {size} exceeds file_size {len(GOOD)}")
    refuses(patch(GOOD, 64 + 16 * i + 4, "<I", off + 4), rf"section table entry {i} \(WEIGHTS\): offset {off + 4} is not aligned")
    refuses(patch(GOOD, 64 + 16 * i, "<I", 9), rf"section table entry {i}: unknown section type 9")
    refuses(patch(GOOD, 64 + 16 * i, "<I", 1), r"duplicate section type META")
    j, off2, _, _ = section(GOOD, 3)
    refuses(patch(GOOD, 64 + 16 * i + 4, "<I", off2), r"overlaps")


def test_tensor_fields() -> None:
    t = tensor_off(GOOD, 1)
    refuses(patch(patch(GOOD, t, "<I", 1 << 20, False), t + 4, "<I", 1 << 10),
            r"tensor 1: shape L=1048576 x C=1024 = \d+ elements overflows the limit 2\^24")
    refuses(patch(GOOD, t + 20, "<I", 7), r"tensor 1: field 'size_bytes' 7 disagrees with L\*C")
    refuses(patch(GOOD, t + 12, "<i", 300), r"tensor 1: field 'zero_point' 300 outside -128..127")
    refuses(patch(GOOD, t + 16, "<I", 1 << 20), r"tensor 1: arena_offset 1048576 \+ size \d+ exceeds header field 'arena_size'")
    refuses(patch(GOOD, t + 16, "<I", 2), r"tensor 1: field 'arena_offset' 2 not aligned to 4")
    refuses(patch(GOOD, 28, "<I", 16), r"exceeds header field 'arena_size' 16")


def test_op_fields() -> None:
    o = op_off(GOOD, 0)
    free = max(REGISTRY) + 1  # the first code the registry does not run
    refuses(patch(GOOD, o, "<H", free), rf"op 0 \({OP_NAMES.get(free, f'op{free}')}\): field 'op type' {free} is not "
            rf"supported by format version 1 runtimes \(runnable: {re.escape(runnable_summary(1))}\)")
    refuses(patch(GOOD, o, "<H", 200), r"op 0 \(op200\): field 'op type' 200")
    refuses(patch(GOOD, o + 4, "<H", 500), r"op 0 \(CONV1D\): field 'in0' tensor id 500 >= n_tensors")
    refuses(patch(patch(GOOD, o + 12, "<i", 5, False), o + 16, "<i", 4),
            r"act_min 5 / act_max 4")
    refuses(patch(GOOD, o + 16, "<i", 128), r"act_max 128")
    refuses(patch(GOOD, o + 28 + 4, "<I", 3), r"op 0 \(CONV1D\): output length \d+ disagrees")  # stride
    refuses(patch(GOOD, o + 28, "<I", 0), r"kernel 0, stride \d+, dilation \d+ must all be >= 1")
    refuses(patch(GOOD, o + 20, "<I", 0xFFFFFFFF), r"op 0 \(CONV1D\): field 'weight_block' is 0xFFFFFFFF but the op needs weights")
    refuses(patch(GOOD, op_off(GOOD, 1) + 20, "<I", 0), r"op 1 \(MAXPOOL1D\): field 'weight_block' is 0 / weight_size 0; ops without")
    refuses(patch(GOOD, op_off(GOOD, 2) + 4, "<H", 5), r"op 2 \(CONV1D\): field 'in0' reads tensor 5 before any op produces it")
    mb = read_model(GOOD)
    add = next(k for k, op in enumerate(mb.ops) if op.op == 2)
    refuses(patch(GOOD, op_off(GOOD, add) + 28 + 8, "<I", 0), rf"op {add} \(ADD\): shift \(p2\) 0 outside 1..62")
    refuses(patch(GOOD, op_off(GOOD, add) + 28, "<i", -5), rf"op {add} \(ADD\): multiplier \(p0\) -5 is negative")


def test_weight_blocks() -> None:
    b = block_off(GOOD, enc=1)
    refuses(patch(GOOD, b, "<B", 9), r"weight block: field 'bits' 9 outside 1..8")
    refuses(patch(GOOD, b, "<B", 0), r"field 'bits' 0 outside 1..8")
    refuses(patch(GOOD, b + 1, "<B", 3), r"field 'encoding' 3 unknown")
    refuses(patch(GOOD, b + 16, "<I", struct.unpack_from("<I", GOOD, b + 16)[0] + 1), r"mask popcount \d+ disagrees with nnz|values_bytes")
    refuses(patch(GOOD, b + 4, "<I", 3), r"field 'c_out' 3 disagrees")
    refuses(patch(GOOD, b + 40, "<I", 1 << 20), r"array 'values' \[1048576, \d+\) lies outside the \d+-byte block")
    c_out = struct.unpack_from("<I", GOOD, b + 4)[0]
    o_shift = struct.unpack_from("<I", GOOD, b + 28)[0]
    refuses(patch(GOOD, b + o_shift, "<b", 0), r"shift of channel 0 is 0, outside 1..62")
    o_mult = struct.unpack_from("<I", GOOD, b + 24)[0]
    refuses(patch(GOOD, b + o_mult + 4 * (c_out - 1), "<i", -1), rf"multiplier of channel {c_out - 1} is negative")
    r = block_off(GOOD, enc=2)
    o_idx = struct.unpack_from("<I", GOOD, r + 32)[0]
    refuses(patch(GOOD, r + o_idx, "<I", 1 + struct.unpack_from("<I", GOOD, r + o_idx)[0]), r"index_bytes|run-length")
    # DENSE at b = 1 with nnz < c_out*span
    d = block_off((GOLDEN_DIR / "binary_dense.bin").read_bytes(), enc=0, bits=1)
    bd = (GOLDEN_DIR / "binary_dense.bin").read_bytes()
    refuses(patch(bd, d + 16, "<I", struct.unpack_from("<I", bd, d + 16)[0] - 1), r"DENSE encoding at bits 1 needs nnz")
    # an op's weight block pointing past its section
    refuses(patch(GOOD, op_off(GOOD, 0) + 20, "<I", 1 << 24), r"op 0 \(CONV1D\): field 'weight_block' \d+ is not aligned|lies outside")
    assert BLOCK_HEADER_SIZE == 48


def test_memory_plan_overlap_is_refused() -> None:
    mb = read_model(GOOD)
    # give op 2's output the offset of op 1's output (alive at the same time)
    o1, o2 = mb.ops[1].out, mb.ops[2].out
    bad = patch(GOOD, tensor_off(GOOD, o2) + 16, "<I", mb.tensors[o1].arena_offset)
    refuses(bad, r"memory plan: tensors \d+ and \d+ are alive at the same time and overlap")


# ---------------------------------------------------------------- property-based

INTERESTING = [0, 1, 2, 3, 4, 7, 8, 15, 16, 48, 63, 64, 127, 128, 255, 256, 0x7FFF, 0xFFFF, 1 << 23, 1 << 24,
               0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def _accept_or_refuse(data: bytes) -> None:
    try:
        mb = read_model(data, "fuzz.bin")
    except ModelFormatError:
        return
    x = np.zeros(mb.input_shape, dtype=np.int8)
    y = executor.run(mb, x)
    assert y.shape == (mb.n_classes,) and y.dtype == np.int8


@settings(max_examples=120, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from([GOOD, CUSTOM]), data=st.data())
def test_fuzz_field_mutations(base: bytes, data: st.DataObject) -> None:
    """Overwrite 1-3 aligned words after the CRC check with boundary values, fix the CRC (so the deep
    validation is exercised, not just the checksum), and sometimes truncate."""
    b = bytearray(base)
    for _ in range(data.draw(st.integers(1, 3))):
        width = data.draw(st.sampled_from([1, 2, 4]))
        off = data.draw(st.integers(16, len(b) - width)) // width * width
        if off < 16:
            continue
        v = data.draw(st.one_of(st.sampled_from(INTERESTING), st.integers(0, (1 << (8 * width)) - 1)))
        b[off:off + width] = (v & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    if data.draw(st.booleans()):
        fix_crc(b)
    if data.draw(st.integers(0, 9)) == 0:
        cut = data.draw(st.integers(0, len(b)))
        b = b[:cut]
        if len(b) >= 64:
            struct.pack_into("<I", b, 8, len(b))
            fix_crc(b)
    _accept_or_refuse(bytes(b))


@settings(max_examples=60, deadline=2000)
@given(base=st.sampled_from([GOOD, CUSTOM]), flips=st.lists(st.integers(0, 8 * len(CUSTOM) - 1), min_size=1, max_size=4))
def test_fuzz_bit_flips(base: bytes, flips: list[int]) -> None:
    b = bytearray(base)
    for f in flips:
        b[(f // 8) % len(b)] ^= 1 << (f % 8)
    _accept_or_refuse(bytes(b))
    _accept_or_refuse(fix_crc(b))
