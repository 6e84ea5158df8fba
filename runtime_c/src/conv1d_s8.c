/* CONV1D, int8 in/out, weights read from their packed form (FORMAT.md section 7).
 * groups = 1, or depthwise (groups = C_in = C_out, one input channel per output channel).
 * Loop order: output channel outer. A channel's non-zero weights are decoded once into a
 * stack chunk of (input offset, level) pairs and swept over every output position, so the
 * decode cost is paid once per channel and zero weights cost nothing. A channel with more
 * than ECG_RT_WCHUNK non-zeros is re-decoded chunk by chunk per output position. */
#include "ecg_rt_internal.h"
#include "ecg_rt_dsp.h"

/* Output positions [lo, hi) whose window lies inside the input (no padding read). */
static void interior(const ecg_rt_conv_params *p, uint32_t *lo, uint32_t *hi)
{
    const int64_t reach = (int64_t)(p->kernel - 1u) * p->dilation;
    const int64_t last = (int64_t)p->in_len - 1 - reach + p->pad_left; /* t * stride <= last */
    *lo = (p->pad_left + p->stride - 1u) / p->stride;
    *hi = last < 0 ? 0u : (uint32_t)(last / p->stride) + 1u;
    if (*hi > p->out_len) *hi = p->out_len;
    if (*lo > *hi) *lo = *hi;
}

ecg_rt_status ecg_rt_conv1d_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                               const int8_t *x, int8_t *y)
{
    int32_t xoff[ECG_RT_WCHUNK];
    int8_t val[ECG_RT_WCHUNK];
#ifdef ECG_RT_DSP
    uint32_t wpk[ECG_RT_DSP_PAIRS];
    int32_t tapsum[ECG_RT_DSP_MAX_TAPS];
#endif
    ecg_rt_wcursor cur, saved;
    const int depthwise = p->groups > 1u;
    const uint32_t cin_g = depthwise ? 1u : p->in_ch;
    uint32_t c, t, lo, hi;

    if (!p || !wb || !x || !y) return ECG_RT_E_NULL;
    interior(p, &lo, &hi);
    ecg_rt_wcursor_init(&cur, wb, cin_g, p->dilation * p->in_ch);
    for (c = 0; c < p->out_ch; ++c) {
        const int32_t bias = ecg_rt_rdi32(wb->bias + 4u * (size_t)c);
        const int32_t mult = ecg_rt_rdi32(wb->mult + 4u * (size_t)c);
        const uint32_t shift = wb->shift[c];
        uint32_t n;
        if (c) ecg_rt_wcursor_channel(&cur, c, depthwise ? c : 0u);
        saved = cur;
        n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK);
        if (n < ECG_RT_WCHUNK || ecg_rt_wcursor_done(&cur)) {
#ifdef ECG_RT_DSP
            /* Cortex-M DSP path (ecg_rt_dsp.h): channels at least 1/4 non-zero, contiguous
             * windows. Border positions: SMLAD over the taps inside the input plus zp_in times
             * the weight sum of the taps outside (C_in % 4 == 0), else the scalar gather. */
            if (!depthwise && p->dilation == 1u && wb->span <= ECG_RT_WCHUNK && 4u * n >= wb->span) {
                const uint32_t n4 = wb->span / 4u;
                const uint32_t tail = ecg_rt_dsp_tail(xoff, n, 4u * n4);
                const int fast_border = (p->in_ch % 4u == 0u) && p->kernel <= ECG_RT_DSP_MAX_TAPS;
                ecg_rt_dsp_channel ch;
                ecg_rt_dsp_expand(xoff, val, n, wb->span, wpk, fast_border ? tapsum : 0, p->in_ch,
                                  p->kernel);
                ch.wpk = wpk;
                ch.n4 = n4;
                ch.xoff_tail = xoff + tail;
                ch.val_tail = val + tail;
                ch.n_tail = n - tail;
                ch.bias = bias;
                ch.mult = mult;
                ch.shift = shift;
                ch.zp_out = p->zp_out;
                ch.act_min = p->act_min;
                ch.act_max = p->act_max;
                for (t = 0; t < p->out_len; ++t) {
                    const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
                    int32_t acc;
                    if (t == lo && hi > lo) {
                        ecg_rt_dsp_sweep(&ch, x + (size_t)start * p->in_ch, (size_t)p->stride * p->in_ch,
                                         hi - lo, y + (size_t)t * p->out_ch + c, p->out_ch);
                        t = hi - 1u;
                        continue;
                    }
                    if (fast_border) {
                        const int32_t k0 = start < 0 ? -start : 0;
                        const int32_t kend = (int32_t)p->in_len - start;
                        const int32_t k1 = kend < (int32_t)p->kernel ? (kend < k0 ? k0 : kend)
                                                                      : (int32_t)p->kernel;
                        int32_t k, outside = 0;
                        for (k = 0; k < k0; ++k) outside += tapsum[k];
                        for (k = k1; k < (int32_t)p->kernel; ++k) outside += tapsum[k];
                        acc = bias + p->zp_in * outside;
                        if (k1 > k0)
                            acc = ecg_rt_dsp_dot1(x + (size_t)(start + k0) * p->in_ch,
                                                  wpk + (size_t)k0 * p->in_ch / 2u,
                                                  (uint32_t)(k1 - k0) * p->in_ch / 4u, acc);
                    } else {
                        acc = ecg_rt_dot_border(bias, x, start, p->in_len, p->in_ch, p->dilation,
                                                p->zp_in, xoff, val, n);
                    }
                    y[(size_t)t * p->out_ch + c] =
                        ecg_rt_dsp_requantize(acc, mult, shift, p->zp_out, p->act_min, p->act_max);
                }
                continue;
            }
#endif
            for (t = 0; t < p->out_len; ++t) {
                const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
                int32_t acc;
                if (t >= lo && t < hi)
                    acc = ecg_rt_dot_inside(bias, x + (size_t)start * p->in_ch, xoff, val, n);
                else
                    acc = ecg_rt_dot_border(bias, x, start, p->in_len, p->in_ch, p->dilation,
                                            p->zp_in, xoff, val, n);
                y[(size_t)t * p->out_ch + c] =
                    ecg_rt_requantize(acc, mult, shift, p->zp_out, p->act_min, p->act_max);
            }
        } else {
            for (t = 0; t < p->out_len; ++t) {
                const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
                int32_t acc = bias;
                cur = saved;
                while ((n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK)) != 0) {
                    if (t >= lo && t < hi)
                        acc = ecg_rt_dot_inside(acc, x + (size_t)start * p->in_ch, xoff, val, n);
                    else
                        acc = ecg_rt_dot_border(acc, x, start, p->in_len, p->in_ch, p->dilation,
                                                p->zp_in, xoff, val, n);
                }
                y[(size_t)t * p->out_ch + c] =
                    ecg_rt_requantize(acc, mult, shift, p->zp_out, p->act_min, p->act_max);
            }
        }
    }
    return ECG_RT_OK;
}
