"""Byte layout of model.bin version 1 (export/FORMAT.md): constants, enums and struct formats.

One module owns the numbers so the writer, the reader and the tests cannot drift apart.
"""

from __future__ import annotations

import struct

MAGIC = b"ECGB"
VERSION = 3  # newest; a file carries the lowest version that holds its graph (1 for a CNN)
HEADER_SIZE = 64
SECTION_ENTRY_SIZE = 16
TENSOR_RECORD_SIZE = 32
OP_RECORD_SIZE = 64
BLOCK_HEADER_SIZE = 48
SECTION_ALIGN = 16
BLOCK_ALIGN = 16
ARENA_ALIGN = 16
TENSOR_OFFSET_ALIGN = 4
MAX_SECTIONS = 16
MAX_TENSOR_ELEMENTS = 1 << 24
MAX_LAYER_WEIGHTS = 1 << 28  # c_out * span of one weight block (runtime_c ECG_RT_MAX_WEIGHTS)
NO_TENSOR = 0xFFFF
NO_BLOCK = 0xFFFFFFFF

# Header: magic, version, header_size, file_size, crc32, flags, n_sections, section_table_offset,
# arena_size, input_tensor, output_tensor, n_tensors, n_ops, n_classes, reserved[20].
HEADER_STRUCT = struct.Struct("<4sHHIIIIIIHHHHI20s")
SECTION_STRUCT = struct.Struct("<IIII")  # type, offset, size, count
# length, channels, scale, zero_point, arena_offset, size_bytes, flags, reserved
TENSOR_STRUCT = struct.Struct("<IIfiIIII")
# op, flags, in0, in1, out, reserved, act_min, act_max, weight_block, weight_size, p0..p8
OP_STRUCT = struct.Struct("<HHHHHHiiII9I")
# bits, encoding, reserved, c_out, span, kernel, nnz, off_bias, off_mult, off_shift,
# off_index, index_bytes, off_values, values_bytes
BLOCK_STRUCT = struct.Struct("<BBHIIIIIIIIIII")

assert HEADER_STRUCT.size == HEADER_SIZE
assert TENSOR_STRUCT.size == TENSOR_RECORD_SIZE
assert OP_STRUCT.size == OP_RECORD_SIZE
assert BLOCK_STRUCT.size == BLOCK_HEADER_SIZE

# Host trailer (FORMAT.md section 4, "Flash bytes"): bytes after file_size that the device image
# leaves out. magic, trailer_size (this 16-byte header included), crc32 of the bytes after the
# header, count (META entries).
TRAILER_MAGIC = b"ECGH"
TRAILER_STRUCT = struct.Struct("<4sIII")
TRAILER_HEADER_SIZE = 16
assert TRAILER_STRUCT.size == TRAILER_HEADER_SIZE

# Section types (append-only).
SEC_META, SEC_TENSORS, SEC_OPS, SEC_WEIGHTS = 1, 2, 3, 4
SECTION_NAMES = {SEC_META: "META", SEC_TENSORS: "TENSORS", SEC_OPS: "OPS", SEC_WEIGHTS: "WEIGHTS"}

# Op codes (append-only). Which of them this version runs, and every rule of an op, live in the
# op registry (ecg_edge.modelbin.ops: one module per op).
OP_CONV1D, OP_LINEAR, OP_ADD, OP_MAXPOOL1D, OP_AVGPOOL1D, OP_GLOBAL_AVGPOOL, OP_RELU = range(7)
OP_LAYERNORM, OP_GELU, OP_ATTENTION, OP_GROUPNORM, OP_SOFTMAX, OP_MATMUL, OP_LUT = range(7, 14)
OP_NAMES = {
    OP_CONV1D: "CONV1D", OP_LINEAR: "LINEAR", OP_ADD: "ADD", OP_MAXPOOL1D: "MAXPOOL1D",
    OP_AVGPOOL1D: "AVGPOOL1D", OP_GLOBAL_AVGPOOL: "GLOBAL_AVGPOOL", OP_RELU: "RELU",
    OP_LAYERNORM: "LAYERNORM", OP_GELU: "GELU", OP_ATTENTION: "ATTENTION",
    OP_GROUPNORM: "GROUPNORM", OP_SOFTMAX: "SOFTMAX", OP_MATMUL: "MATMUL", OP_LUT: "LUT",
}

OPF_RELU = 1
TF_INPUT, TF_OUTPUT = 1, 2

# Weight encodings (append-only) live in ecg_edge.layerplan.bitpack (shared with the compression search).


def align_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a
