/* LINEAR: y[c] = requantize(bias[c] + sum_p w[c][p] * x[p]) over the flat [L][C] input
 * (FORMAT.md section 7: a CONV1D with K = 1 and L = 1). Each weight is decoded exactly once,
 * straight from the packed stream, chunk by chunk. */
#include "ecg_rt_internal.h"

ecg_rt_status ecg_rt_linear_s8(uint32_t n_in, const ecg_rt_wblock *wb, int32_t zp_out,
                               int32_t act_min, int32_t act_max, const int8_t *x, int8_t *y)
{
    int32_t xoff[ECG_RT_WCHUNK];
    int8_t val[ECG_RT_WCHUNK];
    ecg_rt_wcursor cur;
    uint32_t c, n;

    if (!wb || !x || !y) return ECG_RT_E_NULL;
    if (wb->span != n_in) return ECG_RT_E_OP;
    ecg_rt_wcursor_init(&cur, wb, n_in, n_in);
    for (c = 0; c < wb->c_out; ++c) {
        int32_t acc = ecg_rt_rdi32(wb->bias + 4u * (size_t)c);
        if (c) ecg_rt_wcursor_channel(&cur, c, 0u);
        while ((n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK)) != 0)
            acc = ecg_rt_dot_inside(acc, x, xoff, val, n);
        y[c] = ecg_rt_requantize(acc, ecg_rt_rdi32(wb->mult + 4u * (size_t)c), wb->shift[c],
                                 zp_out, act_min, act_max);
    }
    return ECG_RT_OK;
}
