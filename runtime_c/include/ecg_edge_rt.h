/* ecg_edge_rt: the C99 inference runtime for model.bin (export/FORMAT.md).
 * No malloc, no OS: the caller owns the model bytes, the arena and the buffers.
 * Every function returns an ecg_rt_status; ecg_rt_status_str() turns it into a message. */
#ifndef ECG_EDGE_RT_H
#define ECG_EDGE_RT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ECG_RT_FORMAT_VERSION 3 /* newest read; versions 1 and 2 load too */
#define ECG_RT_MAX_TENSORS 256
#define ECG_RT_MAX_OPS 256

typedef enum {
    ECG_RT_OK = 0,
    ECG_RT_E_NULL = 1,            /* a required pointer is NULL */
    ECG_RT_E_TRUNCATED = 2,       /* buffer shorter than header / file_size */
    ECG_RT_E_MAGIC = 3,           /* not a model.bin */
    ECG_RT_E_VERSION = 4,         /* unsupported format version */
    ECG_RT_E_CRC = 5,             /* CRC32 mismatch */
    ECG_RT_E_HEADER = 6,          /* header field invalid (size, flags, counts) */
    ECG_RT_E_SECTION = 7,         /* section table invalid (offset, size, overlap, type) */
    ECG_RT_E_TENSOR = 8,          /* tensor record invalid (shape, zero point, arena range) */
    ECG_RT_E_OP = 9,              /* op record invalid (ids, params, shapes) */
    ECG_RT_E_UNSUPPORTED_OP = 10, /* op type this runtime does not run */
    ECG_RT_E_WEIGHTS = 11,        /* weight block invalid (bits, encoding, offsets, nnz) */
    ECG_RT_E_ARENA_TOO_SMALL = 12,/* caller's arena smaller than the model's plan */
    ECG_RT_E_ALIGNMENT = 13,      /* model or arena pointer not suitably aligned */
    ECG_RT_E_SIZE = 14,           /* caller's input/output buffer size is wrong */
    ECG_RT_E_LIMIT = 15,          /* more tensors/ops than ECG_RT_MAX_* */
    /* streaming (ecg_edge_rt_stream.h) */
    ECG_RT_E_NO_PREPROCESS = 20,  /* model.bin has no device preprocessing META (pp.*) */
    ECG_RT_E_PREPROCESS = 21,     /* a pp.* META field is missing, mistyped or out of range */
    ECG_RT_E_SAMPLE_TYPE = 22,    /* pushed sample type unknown or not the stream's */
    ECG_RT_E_RATE = 23,           /* ADC rate the resampler does not support */
    ECG_RT_E_STREAM_STATE = 24    /* push while a window waits for infer / infer with none ready */
} ecg_rt_status;

/* Why a load was refused, beyond the status: which rule of FORMAT.md section 10 (a stable id;
 * ecg_rt_rule_name gives its name, the same name the Python reader's ModelFormatError.rule
 * carries, so both readers can be checked to refuse a file for the same field) and the index of
 * the section table entry, tensor or op it concerns (ECG_RT_NO_INDEX for a header, META or
 * whole-file rule). Ids are append-only. */
#define ECG_RT_RULES(X) \
    X(NONE, "none") \
    X(FILE_TRUNCATED, "file.truncated") \
    X(HEADER_MAGIC, "header.magic") \
    X(HEADER_VERSION, "header.version") \
    X(HEADER_HEADER_SIZE, "header.header_size") \
    X(HEADER_FILE_SIZE, "header.file_size") \
    X(HEADER_CRC32, "header.crc32") \
    X(HEADER_FLAGS, "header.flags") \
    X(HEADER_RESERVED, "header.reserved") \
    X(HEADER_N_SECTIONS, "header.n_sections") \
    X(HEADER_SECTION_TABLE_OFFSET, "header.section_table_offset") \
    X(HEADER_ARENA_SIZE, "header.arena_size") \
    X(HEADER_N_TENSORS, "header.n_tensors") \
    X(HEADER_N_OPS, "header.n_ops") \
    X(HEADER_INPUT_TENSOR, "header.input_tensor") \
    X(HEADER_OUTPUT_TENSOR, "header.output_tensor") \
    X(HEADER_N_CLASSES, "header.n_classes") \
    X(SECTION_TABLE, "section.table") \
    X(SECTION_TYPE, "section.type") \
    X(SECTION_DUPLICATE, "section.duplicate") \
    X(SECTION_MISSING, "section.missing") \
    X(SECTION_ALIGN, "section.align") \
    X(SECTION_OFFSET, "section.offset") \
    X(SECTION_BOUNDS, "section.bounds") \
    X(SECTION_OVERLAP, "section.overlap") \
    X(SECTION_COUNT, "section.count") \
    X(META_ENTRY, "meta.entry") \
    X(META_KEY, "meta.key") \
    X(META_VALUE_TYPE, "meta.value_type") \
    X(META_UTF8, "meta.utf8") \
    X(META_PLAN, "meta.plan") \
    X(TENSOR_SHAPE, "tensor.shape") \
    X(TENSOR_ELEMENTS, "tensor.elements") \
    X(TENSOR_SIZE_BYTES, "tensor.size_bytes") \
    X(TENSOR_ZERO_POINT, "tensor.zero_point") \
    X(TENSOR_ARENA_OFFSET, "tensor.arena_offset") \
    X(TENSOR_ARENA_RANGE, "tensor.arena_range") \
    X(TENSOR_FLAGS, "tensor.flags") \
    X(TENSOR_RESERVED, "tensor.reserved") \
    X(TENSOR_SCALE, "tensor.scale") \
    X(OP_TYPE, "op.type") \
    X(OP_RESERVED, "op.reserved") \
    X(OP_FLAGS, "op.flags") \
    X(OP_ACT_RANGE, "op.act_range") \
    X(OP_TENSOR_ID, "op.tensor_id") \
    X(OP_IN1, "op.in1") \
    X(OP_READ_BEFORE_WRITE, "op.read_before_write") \
    X(OP_WRITTEN_TWICE, "op.written_twice") \
    X(OP_VERSION, "op.version") \
    X(OP_PARAMS, "op.params") \
    X(OP_SHAPE, "op.shape") \
    X(OP_NO_WEIGHTS, "op.no_weights") \
    X(BLOCK_MISSING, "block.missing") \
    X(BLOCK_ALIGN, "block.align") \
    X(BLOCK_BOUNDS, "block.bounds") \
    X(BLOCK_BITS, "block.bits") \
    X(BLOCK_ENCODING, "block.encoding") \
    X(BLOCK_RESERVED, "block.reserved") \
    X(BLOCK_C_OUT, "block.c_out") \
    X(BLOCK_KERNEL, "block.kernel") \
    X(BLOCK_SPAN, "block.span") \
    X(BLOCK_LIMIT, "block.limit") \
    X(BLOCK_NNZ, "block.nnz") \
    X(BLOCK_ARRAYS, "block.arrays") \
    X(BLOCK_INDEX_BYTES, "block.index_bytes") \
    X(BLOCK_VALUES_BYTES, "block.values_bytes") \
    X(BLOCK_MULT, "block.mult") \
    X(BLOCK_SHIFT, "block.shift") \
    X(BLOCK_MASK, "block.mask") \
    X(BLOCK_RUNS, "block.runs") \
    X(BLOCK_BOUND, "block.bound") \
    X(BLOCK_NORM, "block.norm") \
    X(BLOCK_OVERLAP, "block.overlap") \
    X(PLAN_OVERLAP, "plan.overlap") \
    X(TRAILER_CRC32, "trailer.crc32") \
    X(TRAILER_META, "trailer.meta") \
    X(BLOCK_TABLE, "block.table")

typedef enum {
#define ECG_RT_RULE_ENUM_(id, name) ECG_RT_RULE_##id,
    ECG_RT_RULES(ECG_RT_RULE_ENUM_)
#undef ECG_RT_RULE_ENUM_
    ECG_RT_RULE_COUNT
} ecg_rt_rule;

#define ECG_RT_NO_INDEX 0xFFFFFFFFu

typedef struct {
    ecg_rt_status status; /* what ecg_rt_load_ex returned */
    uint32_t rule;        /* ecg_rt_rule; ECG_RT_RULE_NONE after a successful load */
    uint32_t index;       /* section entry / tensor id / op index, or ECG_RT_NO_INDEX */
} ecg_rt_refusal;

/* A validated view of a model.bin held in caller memory (the bytes must outlive it).
 * Fields are read-only for callers. */
typedef struct {
    const uint8_t *base;
    uint32_t size;
    uint32_t arena_size;
    uint32_t n_tensors, n_ops, n_classes;
    uint16_t input_tensor, output_tensor;
    uint32_t input_len, input_channels; /* input tensor shape [L][C] */
    const uint8_t *tensors;  /* TENSORS section */
    const uint8_t *ops;      /* OPS section */
    const uint8_t *weights;  /* WEIGHTS section */
    uint32_t weights_size;
    /* Bit j set: op j, a 1x1 CONV1D whose only reader is op j + 1, a residual ADD, runs fused
     * with it (the loader's decision: one pass, the conv's output never stored; same bytes). */
    uint8_t fused[(ECG_RT_MAX_OPS + 7) / 8];
} ecg_rt_model;

/* Validate every header field, section, tensor, op and weight block and the CRC, then fill *m.
 * buf holds the device image ([0, file_size), what is flashed) and, optionally, the host trailer
 * that follows it on the host (FORMAT.md section 4): only its framing is checked, never read. */
ecg_rt_status ecg_rt_load(ecg_rt_model *m, const uint8_t *buf, size_t len);
/* The same, also saying why a file was refused (why may be NULL). */
ecg_rt_status ecg_rt_load_ex(ecg_rt_model *m, const uint8_t *buf, size_t len, ecg_rt_refusal *why);
/* The stable name of a rule id ("op.shape", ...); "unknown rule" for an id out of range. */
const char *ecg_rt_rule_name(uint32_t rule);

/* Bytes of arena the model needs (also m->arena_size). */
ecg_rt_status ecg_rt_arena_size(const ecg_rt_model *m, size_t *out_bytes);

/* Run one inference: input int8 [L][C] (input_len*input_channels bytes), logits int8
 * (n_classes bytes) out. arena: caller-owned, >= arena_size bytes, 4-byte aligned. */
ecg_rt_status ecg_rt_invoke(const ecg_rt_model *m, uint8_t *arena, size_t arena_len,
                            const int8_t *input, size_t input_len,
                            int8_t *logits, size_t logits_len);

/* Optional per-op callback for debugging parity: called after each op with the output tensor. */
typedef void (*ecg_rt_trace_fn)(void *user, uint32_t op_index, uint16_t tensor_id,
                                const int8_t *data, uint32_t size);
ecg_rt_status ecg_rt_invoke_traced(const ecg_rt_model *m, uint8_t *arena, size_t arena_len,
                                   const int8_t *input, size_t input_len,
                                   int8_t *logits, size_t logits_len,
                                   ecg_rt_trace_fn trace, void *user);

/* Index of the largest logit (first on ties). */
ecg_rt_status ecg_rt_argmax(const int8_t *logits, size_t n, uint32_t *out_index);

/* A static, human-readable message for a status code. */
const char *ecg_rt_status_str(ecg_rt_status s);

#ifdef __cplusplus
}
#endif
#endif /* ECG_EDGE_RT_H */
