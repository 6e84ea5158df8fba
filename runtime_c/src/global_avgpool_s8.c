/* GLOBAL_AVGPOOL: acc[c] = sum_t (x[t][c] - zp_in), out[0][c] = requantize(acc[c], M, n) with
 * M 2^-n ~ s_in / (L s_out). Channel-outer so no accumulator array is needed. */
#include "ecg_rt_internal.h"

ecg_rt_status ecg_rt_global_avgpool_s8(uint32_t len, uint32_t ch, int32_t zp_in, int32_t mult,
                                       uint32_t shift, int32_t zp_out, int32_t act_min,
                                       int32_t act_max, const int8_t *x, int8_t *y)
{
    uint32_t t, c;
    if (!x || !y) return ECG_RT_E_NULL;
    if (shift < 1u || shift > 62u) return ECG_RT_E_OP;
    for (c = 0; c < ch; ++c) {
        int64_t acc = 0;
        const int8_t *xc = x + c;
        for (t = 0; t < len; ++t, xc += ch) acc += *xc;
        acc -= (int64_t)zp_in * len;
        y[c] = ecg_rt_requantize(acc, mult, shift, zp_out, act_min, act_max);
    }
    return ECG_RT_OK;
}
