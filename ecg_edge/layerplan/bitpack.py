"""b-bit two's-complement bitstreams, LSB-first (export/FORMAT.md, "Bitstreams"), and the exact
byte size of each weight encoding, so the compression search counts the bytes that will ship."""

from __future__ import annotations

import numpy as np

ENC_DENSE, ENC_BITMASK, ENC_RUNLENGTH = 0, 1, 2
ENCODING_NAMES = {ENC_DENSE: "dense", ENC_BITMASK: "bitmask", ENC_RUNLENGTH: "runlength"}
BLOCK_HEADER_BYTES = 48


def align(n: int, a: int = 4) -> int:
    return (n + a - 1) // a * a


def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Pack signed levels into a b-bit LSB-first stream. b = 1 stores +1 as 1 and -1 as 0."""
    v = np.asarray(values, dtype=np.int64).ravel()
    if bits == 1:
        if np.any((v != 1) & (v != -1)):
            raise ValueError("1-bit values must be +-1")
        u = (v > 0).astype(np.uint64)
    else:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if v.size and (v.min() < lo or v.max() > hi):
            raise ValueError(f"values out of range for {bits}-bit two's complement")
        u = (v & ((1 << bits) - 1)).astype(np.uint64)
    if u.size == 0:
        return b""
    bit_idx = np.arange(bits, dtype=np.uint64)
    stream = ((u[:, None] >> bit_idx[None, :]) & 1).astype(np.uint8).ravel()
    return np.packbits(stream, bitorder="little").tobytes()


def unpack_bits(data: bytes | np.ndarray, bits: int, count: int) -> np.ndarray:
    """Inverse of pack_bits: `count` signed levels as int8."""
    raw = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    need = (count * bits + 7) // 8
    if raw.size < need:
        raise ValueError(f"bitstream holds {raw.size} bytes, {need} needed for {count} x {bits}-bit")
    stream = np.unpackbits(raw[:need], bitorder="little")[: count * bits].reshape(count, bits)
    u = (stream.astype(np.int64) << np.arange(bits, dtype=np.int64)[None, :]).sum(axis=1)
    if bits == 1:
        return np.where(u == 1, 1, -1).astype(np.int8)
    sign = 1 << (bits - 1)
    return np.where(u >= sign, u - (1 << bits), u).astype(np.int8)


def runlength_entries(row_mask: np.ndarray) -> int:
    """Entries of the run-length code for one output channel: one byte per non-zero (its zero-run
    before it, 0..254) plus one escape byte (255 = skip 255 zeros, no value) per full 255-run."""
    idx = np.flatnonzero(row_mask)
    prev = -1
    entries = 0
    for i in idx:
        gap = int(i) - prev - 1
        entries += gap // 255 + 1
        prev = int(i)
    return entries


def encoding_bytes(mask: np.ndarray, bits: int) -> dict[int, int]:
    """Exact size in bytes of the weight *payload* (mask/index data + values) for each legal
    encoding of one layer, mask shaped (C_out, span). Dense is illegal at b = 1 with zeros."""
    mask = np.asarray(mask, dtype=bool)
    c_out = mask.shape[0]
    n = mask.size
    nnz = int(mask.sum())
    sizes: dict[int, int] = {}
    if bits > 1 or nnz == n:
        sizes[ENC_DENSE] = align((n * bits + 7) // 8)
    sizes[ENC_BITMASK] = align((n + 7) // 8) + align((nnz * bits + 7) // 8)
    entries = sum(runlength_entries(mask[c]) for c in range(c_out))
    sizes[ENC_RUNLENGTH] = align(4 * c_out) + align(entries) + align((nnz * bits + 7) // 8)
    return sizes


def weight_block_bytes(mask: np.ndarray, bits: int) -> tuple[int, int]:
    """(encoding, total bytes) of the smallest legal weight block: header, bias int32,
    multiplier int32, shift int8 (4-aligned) per output channel, plus the payload."""
    mask = np.asarray(mask, dtype=bool)
    c_out = mask.shape[0]
    enc, payload = min(encoding_bytes(mask, bits).items(), key=lambda kv: (kv[1], kv[0]))
    return enc, BLOCK_HEADER_BYTES + 4 * c_out + 4 * c_out + align(c_out) + payload
