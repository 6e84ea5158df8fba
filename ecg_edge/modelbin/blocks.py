"""Weight blocks (export/FORMAT.md section 8): encode levels with DENSE / BITMASK / RUNLENGTH and
decode them back, checking every index against the block's bounds."""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from ecg_edge.errors import ModelFormatError
from ecg_edge.layerplan.bitpack import (
    ENC_BITMASK,
    ENC_DENSE,
    ENC_RUNLENGTH,
    align,
    encoding_bytes,
    pack_bits,
    unpack_bits,
)
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.layout import BLOCK_HEADER_SIZE, BLOCK_STRUCT


def run_bytes(row_mask: np.ndarray) -> bytes:
    """One channel's run-length bytes: per non-zero its zero-run, with 255 = skip 255 zeros."""
    out = bytearray()
    prev = -1
    for i in np.flatnonzero(row_mask):
        gap = int(i) - prev - 1
        while gap >= 255:
            out.append(255)
            gap -= 255
        out.append(gap)
        prev = int(i)
    return bytes(out)


def _pad4(b: bytes) -> bytes:
    return b + bytes(align(len(b)) - len(b))


def choose_encoding(levels: np.ndarray, bits: int) -> tuple[int, dict[int, int]]:
    sizes = encoding_bytes(levels != 0, bits)
    enc = min(sizes.items(), key=lambda kv: (kv[1], kv[0]))[0]
    return enc, sizes


def encode_block(levels: np.ndarray, bits: int, kernel: int, bias: np.ndarray, mult: np.ndarray,
                 shift: np.ndarray, encoding: int | None = None) -> tuple[bytes, int]:
    """Serialize one block; returns (bytes (multiple of 4), encoding used)."""
    levels = np.asarray(levels, dtype=np.int8)
    c_out, span = levels.shape
    mask = levels != 0
    nnz = int(mask.sum())
    if encoding is None:
        encoding, _ = choose_encoding(levels, bits)
    if encoding == ENC_DENSE:
        if bits == 1 and nnz != levels.size:
            raise ValueError("DENSE at b = 1 cannot hold pruned weights")
        index = b""
        values = pack_bits(levels.ravel(), bits)
    elif encoding == ENC_BITMASK:
        index = np.packbits(mask.ravel(), bitorder="little").tobytes()
        values = pack_bits(levels[mask], bits)
    elif encoding == ENC_RUNLENGTH:
        runs = [run_bytes(mask[c]) for c in range(c_out)]
        index = struct.pack(f"<{c_out}I", *[len(r) for r in runs]) + b"".join(runs)
        values = pack_bits(levels[mask], bits)
    else:
        raise ValueError(f"unknown encoding {encoding}")
    arrays = [
        np.asarray(bias, dtype="<i4").tobytes(),
        np.asarray(mult, dtype="<i4").tobytes(),
        np.asarray(shift, dtype=np.int8).tobytes(),
        index,
        values,
    ]
    offs, pos = [], BLOCK_HEADER_SIZE
    for a in arrays:
        offs.append(pos)
        pos += align(len(a))
    off_index = offs[3] if encoding != ENC_DENSE else 0
    header = BLOCK_STRUCT.pack(bits, encoding, 0, c_out, span, kernel, nnz, offs[0], offs[1], offs[2],
                               off_index, align(len(index)) if encoding != ENC_DENSE else 0,
                               offs[4], align(len(values)))
    return header + b"".join(_pad4(a) for a in arrays), encoding


# ---------------------------------------------------------------- decoding

Fail = Callable[[str, str], Exception]


def decode_levels(block: bytes, where: str, bits: int, encoding: int, c_out: int, span: int, nnz: int,
                  off_index: int, index_bytes: int, off_values: int, values_bytes: int,
                  fail: Fail | None = None) -> np.ndarray:
    """Levels (c_out, span) int8 from a block's index/values arrays (offsets already checked to
    lie inside `block`). A refusal is `fail(message, rule)` (rules.py); by default a
    ModelFormatError prefixed with `where`."""
    def _fail(_where: str, msg: str, rule: str) -> Exception:
        if fail is not None:
            return fail(f"{where}: {msg}", rule)
        return ModelFormatError(f"{where}: {msg}", rule)

    n = c_out * span
    index = np.frombuffer(block, dtype=np.uint8, count=index_bytes, offset=off_index) if index_bytes else None
    if encoding == ENC_DENSE:
        if bits == 1 and nnz != n:
            raise _fail(where, f"DENSE encoding at bits 1 needs nnz = c_out*span = {n}, got nnz {nnz}", R.BLOCK_NNZ)
        need = align((n * bits + 7) // 8)
        if values_bytes != need:
            raise _fail(where, f"values_bytes {values_bytes}, expected {need} for {n} x {bits}-bit DENSE", R.BLOCK_VALUES_BYTES)
        levels = unpack_bits(np.frombuffer(block, np.uint8, values_bytes, off_values), bits, n)
        got = int(np.count_nonzero(levels))
        if got != nnz:
            raise _fail(where, f"nnz {nnz} disagrees with the {got} non-zero DENSE levels", R.BLOCK_NNZ)
        return levels.reshape(c_out, span)
    if nnz > n:
        raise _fail(where, f"nnz {nnz} exceeds c_out*span = {n}", R.BLOCK_NNZ)
    need_v = align((nnz * bits + 7) // 8)
    if values_bytes != need_v:
        raise _fail(where, f"values_bytes {values_bytes}, expected {need_v} for nnz {nnz} x {bits}-bit", R.BLOCK_VALUES_BYTES)
    vals = unpack_bits(np.frombuffer(block, np.uint8, values_bytes, off_values), bits, nnz)
    if encoding == ENC_BITMASK:
        need = align((n + 7) // 8)
        if index_bytes != need:
            raise _fail(where, f"index_bytes {index_bytes}, expected {need} for a {n}-bit mask", R.BLOCK_INDEX_BYTES)
        mask = np.unpackbits(index, bitorder="little")[:n].astype(bool)
        pc = int(mask.sum())
        if pc != nnz:
            raise _fail(where, f"mask popcount {pc} disagrees with nnz {nnz}", R.BLOCK_MASK)
        flat = np.zeros(n, dtype=np.int8)
        flat[mask] = vals
        return flat.reshape(c_out, span)
    if encoding == ENC_RUNLENGTH:
        if index_bytes < 4 * c_out:
            raise _fail(where, f"index_bytes {index_bytes} cannot hold {c_out} run counts", R.BLOCK_INDEX_BYTES)
        entries = np.frombuffer(index[:4 * c_out].tobytes(), dtype="<u4").astype(np.int64)
        total = int(entries.sum())
        if index_bytes != 4 * c_out + align(total):
            raise _fail(where, f"index_bytes {index_bytes}, expected 4*c_out + align4(sum entries) = "
                               f"{4 * c_out + align(total)}", R.BLOCK_INDEX_BYTES)
        runs = index[4 * c_out:4 * c_out + total]
        positions = np.empty(nnz, dtype=np.int64)
        chan = np.empty(nnz, dtype=np.int64)
        v, r = 0, 0
        for c in range(c_out):
            p = 0
            for _ in range(int(entries[c])):
                step = int(runs[r])
                r += 1
                if step == 255:
                    p += 255
                    continue
                p += step
                if p >= span:
                    raise _fail(where, f"run-length walk of channel {c} reaches position {p} >= span {span}", R.BLOCK_RUNS)
                if v >= nnz:
                    raise _fail(where, f"run-length walk yields more values than nnz {nnz}", R.BLOCK_RUNS)
                positions[v], chan[v] = p, c
                v += 1
                p += 1
            if p > span:
                raise _fail(where, f"run-length walk of channel {c} skips to {p} > span {span}", R.BLOCK_RUNS)
        if v != nnz:
            raise _fail(where, f"run-length walk yields {v} values, nnz is {nnz}", R.BLOCK_RUNS)
        levels = np.zeros((c_out, span), dtype=np.int8)
        levels[chan, positions] = vals
        return levels
    raise _fail(where, f"unknown encoding {encoding} (expected 0 DENSE, 1 BITMASK, 2 RUNLENGTH)", R.BLOCK_ENCODING)
