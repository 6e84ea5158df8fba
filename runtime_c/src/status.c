/* Status code -> static message; rule id -> its stable name. */
#include "ecg_rt_internal.h"

const char *ecg_rt_status_str(ecg_rt_status s)
{
    switch (s) {
    case ECG_RT_OK: return "ok";
    case ECG_RT_E_NULL: return "a required pointer is NULL";
    case ECG_RT_E_TRUNCATED: return "buffer shorter than the header or file_size";
    case ECG_RT_E_MAGIC: return "bad magic: not a model.bin";
    case ECG_RT_E_VERSION: return "unsupported model.bin format version";
    case ECG_RT_E_CRC: return "CRC32 mismatch: the model bytes are corrupted";
    case ECG_RT_E_HEADER: return "invalid header field (size, flags, counts or arena_size)";
    case ECG_RT_E_SECTION: return "invalid section table (offset, size, overlap or type)";
    case ECG_RT_E_TENSOR: return "invalid tensor record (shape, zero point or arena range)";
    case ECG_RT_E_OP: return "invalid op record (tensor ids, params, shapes or overlap)";
    case ECG_RT_E_UNSUPPORTED_OP: return "op type not supported by this runtime";
    case ECG_RT_E_WEIGHTS: return "invalid weight block (bits, encoding, offsets, nnz or bound)";
    case ECG_RT_E_ARENA_TOO_SMALL: return "arena smaller than the model's arena_size";
    case ECG_RT_E_ALIGNMENT: return "arena pointer not 4-byte aligned";
    case ECG_RT_E_SIZE: return "input or output buffer size does not match the model";
    case ECG_RT_E_LIMIT: return "more tensors or ops than ECG_RT_MAX_TENSORS/ECG_RT_MAX_OPS";
    case ECG_RT_E_NO_PREPROCESS: return "model.bin has no device preprocessing META (pp.*): the stream cannot run it";
    case ECG_RT_E_PREPROCESS: return "a pp.* META field is missing, mistyped or out of range";
    case ECG_RT_E_SAMPLE_TYPE: return "sample type unknown or not the one the stream was initialised with";
    case ECG_RT_E_RATE: return "ADC rate not supported by the resampler (fs/64 < rate <= 2 fs)";
    case ECG_RT_E_STREAM_STATE: return "push while a window waits for infer, or infer with no window ready";
    }
    return "unknown status code";
}

const char *ecg_rt_rule_name(uint32_t rule)
{
    static const char *const names[] = {
#define ECG_RT_RULE_NAME_(id, name) name,
        ECG_RT_RULES(ECG_RT_RULE_NAME_)
#undef ECG_RT_RULE_NAME_
    };
    return rule < (uint32_t)ECG_RT_RULE_COUNT ? names[rule] : "unknown rule";
}
