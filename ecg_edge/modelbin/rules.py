"""Stable ids of the refusals of export/FORMAT.md section 10, shared by the Python reader
(ModelFormatError.rule) and the C loader (ecg_rt_load_ex's ecg_rt_refusal.rule, named by
ecg_rt_rule_name): the malformed-file corpus checks both refuse each file for the same rule.
Names and order mirror ECG_RT_RULES in runtime_c/include/ecg_edge_rt.h (append-only; a test
compares the two lists)."""

from __future__ import annotations

NONE = "none"
FILE_TRUNCATED = "file.truncated"
HEADER_MAGIC = "header.magic"
HEADER_VERSION = "header.version"
HEADER_HEADER_SIZE = "header.header_size"
HEADER_FILE_SIZE = "header.file_size"
HEADER_CRC32 = "header.crc32"
HEADER_FLAGS = "header.flags"
HEADER_RESERVED = "header.reserved"
HEADER_N_SECTIONS = "header.n_sections"
HEADER_SECTION_TABLE_OFFSET = "header.section_table_offset"
HEADER_ARENA_SIZE = "header.arena_size"
HEADER_N_TENSORS = "header.n_tensors"
HEADER_N_OPS = "header.n_ops"
HEADER_INPUT_TENSOR = "header.input_tensor"
HEADER_OUTPUT_TENSOR = "header.output_tensor"
HEADER_N_CLASSES = "header.n_classes"
SECTION_TABLE = "section.table"
SECTION_TYPE = "section.type"
SECTION_DUPLICATE = "section.duplicate"
SECTION_MISSING = "section.missing"
SECTION_ALIGN = "section.align"
SECTION_OFFSET = "section.offset"
SECTION_BOUNDS = "section.bounds"
SECTION_OVERLAP = "section.overlap"
SECTION_COUNT = "section.count"
META_ENTRY = "meta.entry"
META_KEY = "meta.key"
META_VALUE_TYPE = "meta.value_type"
META_UTF8 = "meta.utf8"
META_PLAN = "meta.plan"
TENSOR_SHAPE = "tensor.shape"
TENSOR_ELEMENTS = "tensor.elements"
TENSOR_SIZE_BYTES = "tensor.size_bytes"
TENSOR_ZERO_POINT = "tensor.zero_point"
TENSOR_ARENA_OFFSET = "tensor.arena_offset"
TENSOR_ARENA_RANGE = "tensor.arena_range"
TENSOR_FLAGS = "tensor.flags"
TENSOR_RESERVED = "tensor.reserved"
TENSOR_SCALE = "tensor.scale"
OP_TYPE = "op.type"
OP_RESERVED = "op.reserved"
OP_FLAGS = "op.flags"
OP_ACT_RANGE = "op.act_range"
OP_TENSOR_ID = "op.tensor_id"
OP_IN1 = "op.in1"
OP_READ_BEFORE_WRITE = "op.read_before_write"
OP_WRITTEN_TWICE = "op.written_twice"
OP_VERSION = "op.version"
OP_PARAMS = "op.params"
OP_SHAPE = "op.shape"
OP_NO_WEIGHTS = "op.no_weights"
BLOCK_MISSING = "block.missing"
BLOCK_ALIGN = "block.align"
BLOCK_BOUNDS = "block.bounds"
BLOCK_BITS = "block.bits"
BLOCK_ENCODING = "block.encoding"
BLOCK_RESERVED = "block.reserved"
BLOCK_C_OUT = "block.c_out"
BLOCK_KERNEL = "block.kernel"
BLOCK_SPAN = "block.span"
BLOCK_LIMIT = "block.limit"
BLOCK_NNZ = "block.nnz"
BLOCK_ARRAYS = "block.arrays"
BLOCK_INDEX_BYTES = "block.index_bytes"
BLOCK_VALUES_BYTES = "block.values_bytes"
BLOCK_MULT = "block.mult"
BLOCK_SHIFT = "block.shift"
BLOCK_MASK = "block.mask"
BLOCK_RUNS = "block.runs"
BLOCK_BOUND = "block.bound"
BLOCK_NORM = "block.norm"
BLOCK_OVERLAP = "block.overlap"
PLAN_OVERLAP = "plan.overlap"
# host trailer (FORMAT.md section 4): read by the host only, the C loader checks its framing
TRAILER_CRC32 = "trailer.crc32"
TRAILER_META = "trailer.meta"
BLOCK_TABLE = "block.table"  # LUT (format version 3): the table block's fixed fields

# In the C enum's order: the id of a rule is its position.
RULES: tuple[str, ...] = (
    NONE,
    FILE_TRUNCATED,
    HEADER_MAGIC,
    HEADER_VERSION,
    HEADER_HEADER_SIZE,
    HEADER_FILE_SIZE,
    HEADER_CRC32,
    HEADER_FLAGS,
    HEADER_RESERVED,
    HEADER_N_SECTIONS,
    HEADER_SECTION_TABLE_OFFSET,
    HEADER_ARENA_SIZE,
    HEADER_N_TENSORS,
    HEADER_N_OPS,
    HEADER_INPUT_TENSOR,
    HEADER_OUTPUT_TENSOR,
    HEADER_N_CLASSES,
    SECTION_TABLE,
    SECTION_TYPE,
    SECTION_DUPLICATE,
    SECTION_MISSING,
    SECTION_ALIGN,
    SECTION_OFFSET,
    SECTION_BOUNDS,
    SECTION_OVERLAP,
    SECTION_COUNT,
    META_ENTRY,
    META_KEY,
    META_VALUE_TYPE,
    META_UTF8,
    META_PLAN,
    TENSOR_SHAPE,
    TENSOR_ELEMENTS,
    TENSOR_SIZE_BYTES,
    TENSOR_ZERO_POINT,
    TENSOR_ARENA_OFFSET,
    TENSOR_ARENA_RANGE,
    TENSOR_FLAGS,
    TENSOR_RESERVED,
    TENSOR_SCALE,
    OP_TYPE,
    OP_RESERVED,
    OP_FLAGS,
    OP_ACT_RANGE,
    OP_TENSOR_ID,
    OP_IN1,
    OP_READ_BEFORE_WRITE,
    OP_WRITTEN_TWICE,
    OP_VERSION,
    OP_PARAMS,
    OP_SHAPE,
    OP_NO_WEIGHTS,
    BLOCK_MISSING,
    BLOCK_ALIGN,
    BLOCK_BOUNDS,
    BLOCK_BITS,
    BLOCK_ENCODING,
    BLOCK_RESERVED,
    BLOCK_C_OUT,
    BLOCK_KERNEL,
    BLOCK_SPAN,
    BLOCK_LIMIT,
    BLOCK_NNZ,
    BLOCK_ARRAYS,
    BLOCK_INDEX_BYTES,
    BLOCK_VALUES_BYTES,
    BLOCK_MULT,
    BLOCK_SHIFT,
    BLOCK_MASK,
    BLOCK_RUNS,
    BLOCK_BOUND,
    BLOCK_NORM,
    BLOCK_OVERLAP,
    PLAN_OVERLAP,
    TRAILER_CRC32,
    TRAILER_META,
    BLOCK_TABLE,
)
