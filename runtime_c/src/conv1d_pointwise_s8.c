/* Pointwise CONV1D (K = 1, groups = 1, no padding): the ResNet shortcut's 1x1 conv.
 * Every window is inside the input, so the sweep has no padding test at all. On Cortex-M with the
 * DSP extension the general kernel's group path is the pointwise path too (ecg_rt_conv1d_s8: span =
 * C_in, no border positions), one copy of that code in flash. */
#include "ecg_rt_internal.h"
#include "ecg_rt_dsp.h"

#ifndef ECG_RT_DSP
static ecg_rt_status sweep(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb, const int8_t *x, int8_t *y)
{
    int32_t xoff[ECG_RT_WCHUNK];
    int8_t val[ECG_RT_WCHUNK];
    ecg_rt_wcursor cur, saved;
    uint32_t c, t;

    ecg_rt_wcursor_init(&cur, wb, p->in_ch, p->in_ch);
    for (c = 0; c < p->out_ch; ++c) {
        const ecg_rt_chan_q q = ecg_rt_chan_q_load(wb, c);
        const size_t step = (size_t)p->stride * p->in_ch;
        const int8_t *xw = x;
        int8_t *yc = y + c;
        uint32_t n;
        if (c) ecg_rt_wcursor_channel(&cur, c, 0u);
        saved = cur;
        n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK);
        if (n < ECG_RT_WCHUNK || ecg_rt_wcursor_done(&cur)) {
            if (p->in_ch <= ECG_RT_WCHUNK && 100u * n >= ECG_RT_DENSE_ROW_PERCENT * p->in_ch) {
                ecg_rt_status st = ecg_rt_conv1d_dense_row_s8(p, xoff, val, n, p->in_ch, q.bias, q.mult,
                                                              q.shift, 0u, p->out_len, x, yc);
                if (st != ECG_RT_OK) return st;
                continue;
            }
            ecg_rt_sweep_inside(xw, step, p->out_len, xoff, val, n, q.bias, q.mult, q.shift, p->zp_out,
                                p->act_min, p->act_max, yc, p->out_ch);
        } else {
            for (t = 0; t < p->out_len; ++t, xw += step, yc += p->out_ch) {
                int32_t acc = q.bias;
                cur = saved;
                while ((n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK)) != 0)
                    acc = ecg_rt_dot_inside(acc, xw, xoff, val, n);
                *yc = ecg_rt_requantize(acc, q.mult, q.shift, p->zp_out, p->act_min, p->act_max);
            }
        }
    }
    return ECG_RT_OK;
}
#endif

ecg_rt_status ecg_rt_conv1d_pointwise_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                                         const int8_t *x, int8_t *y)
{
    if (!p || !wb || !x || !y) return ECG_RT_E_NULL;
    if (p->kernel != 1u || p->groups != 1u || p->pad_left != 0u) return ECG_RT_E_OP;
#ifdef ECG_RT_DSP
    return ecg_rt_conv1d_s8(p, wb, x, y);
#else
    return sweep(p, wb, x, y);
#endif
}
