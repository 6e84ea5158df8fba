/* Depthwise CONV1D (groups = C_in = C_out): output channel c reads only input channel c, so a
 * channel's weights are its <= K non-zero taps. They are decoded once (as tap offsets) and the
 * valid tap range of a border window is found from the sorted tap list instead of testing
 * every tap. Channels with more than ECG_RT_WCHUNK taps use the generic kernel. */
#include "ecg_rt_internal.h"

ecg_rt_status ecg_rt_depthwise_conv1d_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                                         const int8_t *x, int8_t *y)
{
    int32_t xoff[ECG_RT_WCHUNK];
    int8_t val[ECG_RT_WCHUNK];
    ecg_rt_wcursor cur;
    const uint32_t tap = p->dilation * p->in_ch;
    uint32_t c, t;

    if (!p || !wb || !x || !y) return ECG_RT_E_NULL;
    if (p->groups != p->in_ch || p->in_ch != p->out_ch) return ECG_RT_E_OP;
    if (p->kernel > ECG_RT_WCHUNK) return ecg_rt_conv1d_s8(p, wb, x, y);
    ecg_rt_wcursor_init(&cur, wb, 1u, tap);
    for (c = 0; c < p->out_ch; ++c) {
        const ecg_rt_chan_q q = ecg_rt_chan_q_load(wb, c);
        uint32_t n, j;
        int32_t zsum = 0; /* sum of this channel's levels: a fully padded window gives zp*zsum */
        if (c) ecg_rt_wcursor_channel(&cur, c, c);
        n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK);
        for (j = 0; j < n; ++j) zsum += val[j];
        for (t = 0; t < p->out_len; ++t) {
            const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
            int32_t acc = q.bias, pad_sum = zsum;
            /* Taps (sorted by k) whose position start + k*dilation lies in [0, in_len). */
            uint32_t a = 0, b = n;
            while (a < b && start + (int32_t)((uint32_t)xoff[a] / tap * p->dilation) < 0) ++a;
            while (b > a && start + (int32_t)((uint32_t)xoff[b - 1u] / tap * p->dilation) >=
                                (int32_t)p->in_len)
                --b;
            for (j = a; j < b; ++j) {
                acc += (int32_t)val[j] * (int32_t)x[start * (int32_t)p->in_ch + xoff[j]];
                pad_sum -= val[j];
            }
            acc += pad_sum * p->zp_in;
            y[(size_t)t * p->out_ch + c] =
                ecg_rt_requantize(acc, q.mult, q.shift, p->zp_out, p->act_min, p->act_max);
        }
    }
    return ECG_RT_OK;
}
