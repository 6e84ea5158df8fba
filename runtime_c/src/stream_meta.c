/* The pp.* META fields of a model.bin (FORMAT.md sections 4 and 13), decoded and range-checked.
 * The loader has already bounds-checked every META entry, so this walk only compares keys. */
#include "ecg_rt_internal.h"
#include "ecg_edge_rt_stream.h"

#include <string.h>

/* key == the klen bytes at k (no C library needed) */
static int key_is(const uint8_t *k, uint32_t klen, const char *key)
{
    uint32_t j;
    for (j = 0; j < klen; ++j)
        if (key[j] == '\0' || (uint8_t)key[j] != k[j]) return 0;
    return key[klen] == '\0';
}

enum { T_U32 = 0, T_I32 = 1, T_STR = 3, T_STR_ARRAY = 4, T_I32_ARRAY = 6 };

/* The value of META key `key` (type byte and pointer to the value), or 0 if absent. */
static int meta_find(const ecg_rt_model *m, const char *key, uint8_t *type, const uint8_t **val)
{
    const uint8_t *b = m->base;
    uint32_t n_sec = ecg_rt_rd32(b + 20), tab = ecg_rt_rd32(b + 24), j, e;
    for (j = 0; j < n_sec; ++j) {
        const uint8_t *ent = b + tab + 16u * j;
        const uint8_t *p;
        uint32_t count, at = 0;
        if (ecg_rt_rd32(ent) != ECG_RT_SEC_META) continue;
        p = b + ecg_rt_rd32(ent + 4);
        count = ecg_rt_rd32(ent + 12);
        for (e = 0; e < count; ++e) {
            uint32_t klen = ecg_rt_rd16(p + at), n, i;
            const uint8_t *k = p + at + 2u;
            uint8_t t = p[at + 2u + klen];
            const uint8_t *v = p + at + 3u + klen;
            if (key_is(k, klen, key)) {
                *type = t;
                *val = v;
                return 1;
            }
            at += 3u + klen;
            if (t <= 2u) at += 4u;
            else if (t == T_STR) at += 4u + ecg_rt_rd32(v);
            else if (t == T_STR_ARRAY) {
                n = ecg_rt_rd32(v);
                at += 4u;
                for (i = 0; i < n; ++i) at += 4u + ecg_rt_rd32(p + at);
            } else at += 4u + 4u * ecg_rt_rd32(v);
        }
    }
    return 0;
}

static ecg_rt_status get_u32(const ecg_rt_model *m, const char *key, uint32_t *out)
{
    uint8_t t;
    const uint8_t *v;
    if (!meta_find(m, key, &t, &v) || (t != T_U32 && t != T_I32)) return ECG_RT_E_PREPROCESS;
    *out = ecg_rt_rd32(v);
    if (t == T_I32 && (*out & 0x80000000u)) return ECG_RT_E_PREPROCESS;
    return ECG_RT_OK;
}

ecg_rt_status ecg_rt_pp_from_model(const ecg_rt_model *m, ecg_rt_pp *pp)
{
    uint8_t t;
    const uint8_t *v;
    uint32_t version, mult, n, j, c;
    ecg_rt_tensor tin;
    ecg_rt_status st;
    if (!m || !pp || !m->base) return ECG_RT_E_NULL;
    memset(pp, 0, sizeof *pp);
    if (!meta_find(m, "pp.version", &t, &v)) return ECG_RT_E_NO_PREPROCESS;
    if ((st = get_u32(m, "pp.version", &version)) != ECG_RT_OK) return st;
    if (version != ECG_RT_PP_VERSION) return ECG_RT_E_PREPROCESS;
    if ((st = get_u32(m, "pp.fs", &pp->fs)) != ECG_RT_OK) return st;
    if ((st = get_u32(m, "pp.adc_fs", &pp->adc_fs)) != ECG_RT_OK) return st;
    if ((st = get_u32(m, "pp.window", &pp->window)) != ECG_RT_OK) return st;
    if ((st = get_u32(m, "pp.hop", &pp->hop)) != ECG_RT_OK) return st;
    if ((st = get_u32(m, "pp.input_mult", &mult)) != ECG_RT_OK) return st;
    if ((st = get_u32(m, "pp.input_shift", &pp->input_shift)) != ECG_RT_OK) return st;
    if (pp->fs < 1u || pp->hop < 1u || pp->window != m->input_len || pp->window > ECG_RT_STREAM_MAX_WINDOW)
        return ECG_RT_E_PREPROCESS;
    if (mult > 0x7FFFFFFFu || pp->input_shift < 1u || pp->input_shift + 24u > 62u) return ECG_RT_E_PREPROCESS;
    pp->input_mult = (int32_t)mult;
    pp->leads = m->input_channels;
    if (pp->leads < 1u || pp->leads > ECG_RT_STREAM_MAX_LEADS) return ECG_RT_E_PREPROCESS;
    if (!meta_find(m, "pp.sos_q29", &t, &v) || t != T_I32_ARRAY) return ECG_RT_E_PREPROCESS;
    n = ecg_rt_rd32(v);
    if (n < 5u || n % 5u || n / 5u > ECG_RT_STREAM_MAX_SECTIONS) return ECG_RT_E_PREPROCESS;
    pp->n_sections = n / 5u;
    for (j = 0; j < pp->n_sections; ++j)
        for (c = 0; c < 5u; ++c) pp->sos[j][c] = ecg_rt_rdi32(v + 4u + 4u * (5u * j + c));
    ecg_rt_tensor_decode(m->tensors + (size_t)m->input_tensor * ECG_RT_TENSOR_RECORD, &tin);
    pp->zero_point = tin.zero_point;
    return ECG_RT_OK;
}
