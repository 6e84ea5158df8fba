/* AVGPOOL1D (count_include_pad): acc = sum of (x - zp_in) over the window's positions inside
 * the input (padding contributes 0; the divisor K is folded into M), out = requantize(acc).
 * acc is int64: the loader bounds 255 * K * M + 2^(n-1) < 2^63. */
#include "ecg_rt_internal.h"

ecg_rt_status ecg_rt_avgpool1d_s8(const ecg_rt_pool_params *p, int32_t zp_in, int32_t mult,
                                  uint32_t shift, int32_t zp_out, int32_t act_min,
                                  int32_t act_max, const int8_t *x, int8_t *y)
{
    uint32_t t, c;
    if (!p || !x || !y) return ECG_RT_E_NULL;
    if (shift < 1u || shift > 62u) return ECG_RT_E_OP;
    for (t = 0; t < p->out_len; ++t) {
        int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
        int32_t end = start + (int32_t)p->kernel;
        if (start < 0) start = 0;
        if (end > (int32_t)p->in_len) end = (int32_t)p->in_len;
        for (c = 0; c < p->ch; ++c) {
            int64_t acc = 0;
            int32_t pos;
            for (pos = start; pos < end; ++pos) acc += x[(size_t)pos * p->ch + c] - zp_in;
            y[(size_t)t * p->ch + c] = ecg_rt_requantize(acc, mult, shift, zp_out, act_min, act_max);
        }
    }
    return ECG_RT_OK;
}
