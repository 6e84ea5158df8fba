/* Pointwise CONV1D (K = 1, groups = 1, no padding): the ResNet shortcut's 1x1 conv.
 * Every window is inside the input, so the sweep has no padding test at all. */
#include "ecg_rt_internal.h"

ecg_rt_status ecg_rt_conv1d_pointwise_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                                         const int8_t *x, int8_t *y)
{
    int32_t xoff[ECG_RT_WCHUNK];
    int8_t val[ECG_RT_WCHUNK];
    ecg_rt_wcursor cur, saved;
    uint32_t c, t;

    if (!p || !wb || !x || !y) return ECG_RT_E_NULL;
    if (p->kernel != 1u || p->groups != 1u || p->pad_left != 0u) return ECG_RT_E_OP;
    ecg_rt_wcursor_init(&cur, wb, p->in_ch, p->in_ch);
    for (c = 0; c < p->out_ch; ++c) {
        const int32_t bias = ecg_rt_rdi32(wb->bias + 4u * (size_t)c);
        const int32_t mult = ecg_rt_rdi32(wb->mult + 4u * (size_t)c);
        const uint32_t shift = wb->shift[c];
        const size_t step = (size_t)p->stride * p->in_ch;
        const int8_t *xw = x;
        int8_t *yc = y + c;
        uint32_t n;
        if (c) ecg_rt_wcursor_channel(&cur, c, 0u);
        saved = cur;
        n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK);
        if (n < ECG_RT_WCHUNK || ecg_rt_wcursor_done(&cur)) {
            for (t = 0; t < p->out_len; ++t, xw += step, yc += p->out_ch)
                *yc = ecg_rt_requantize(ecg_rt_dot_inside(bias, xw, xoff, val, n), mult, shift,
                                        p->zp_out, p->act_min, p->act_max);
        } else {
            for (t = 0; t < p->out_len; ++t, xw += step, yc += p->out_ch) {
                int32_t acc = bias;
                cur = saved;
                while ((n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK)) != 0)
                    acc = ecg_rt_dot_inside(acc, xw, xoff, val, n);
                *yc = ecg_rt_requantize(acc, mult, shift, p->zp_out, p->act_min, p->act_max);
            }
        }
    }
    return ECG_RT_OK;
}
