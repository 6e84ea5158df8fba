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

#define ECG_RT_FORMAT_VERSION 2 /* newest read; version 1 files load too */
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
} ecg_rt_model;

/* Validate every header field, section, tensor, op and weight block and the CRC, then fill *m.
 * buf holds the device image ([0, file_size), what is flashed) and, optionally, the host trailer
 * that follows it on the host (FORMAT.md section 4): only its framing is checked, never read. */
ecg_rt_status ecg_rt_load(ecg_rt_model *m, const uint8_t *buf, size_t len);

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
