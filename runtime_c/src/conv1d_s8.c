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
    uint32_t wpk[ECG_RT_DSP_WORDS];
    int32_t tapsum[ECG_RT_DSP_MAX_TAPS], tapsum2[ECG_RT_DSP_MAX_TAPS];
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
            /* Cortex-M DSP path (ecg_rt_dsp.h): channels at least 30% non-zero (below, the scalar
             * gather that skips zeros is faster on cortex-m4), contiguous
             * windows. When C_in % 4 == 0 border positions use the tap sums (no gather) and
             * two consecutive eligible channels run together (dot2x2); otherwise one channel
             * with the scalar gather for the padding and for a span tail. */
            if (!depthwise && p->dilation == 1u && wb->span <= ECG_RT_WCHUNK && 10u * n >= 3u * wb->span) {
                const uint32_t n4 = wb->span / 4u;
                const uint32_t tail = ecg_rt_dsp_tail(xoff, n, 4u * n4);
                const int fast_border = (p->in_ch % 4u == 0u) && p->kernel <= ECG_RT_DSP_MAX_TAPS;
                const size_t xstep = (size_t)p->stride * p->in_ch;
                const int pairable = fast_border && tail == n && c + 1u < p->out_ch;
                const uint32_t stride = pairable ? 4u : 2u; /* words per group of 4 positions */
                ecg_rt_dsp_channel ch;
                memset(wpk, 0, sizeof(uint32_t) * stride * ((wb->span + 3u) / 4u));
                ecg_rt_dsp_expand(xoff, val, n, wpk, stride, fast_border ? tapsum : 0, p->in_ch,
                                  p->kernel);
                if (pairable) {
                    const ecg_rt_wcursor after_c = cur;
                    uint32_t n2;
                    ecg_rt_wcursor_channel(&cur, c + 1u, 0u);
                    n2 = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK);
                    if ((n2 < ECG_RT_WCHUNK || ecg_rt_wcursor_done(&cur)) && 10u * n2 >= 3u * wb->span) {
                        const int32_t bias2 = ecg_rt_rdi32(wb->bias + 4u * (size_t)(c + 1u));
                        const int32_t mult2 = ecg_rt_rdi32(wb->mult + 4u * (size_t)(c + 1u));
                        const uint32_t shift2 = wb->shift[c + 1u];
                        ecg_rt_dsp_expand(xoff, val, n2, wpk + 2u, 4u, tapsum2, p->in_ch, p->kernel);
                        for (t = 0; t < p->out_len; ++t) {
                            const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
                            const int8_t *xw = x + (size_t)start * p->in_ch;
                            int8_t *yt = y + (size_t)t * p->out_ch + c;
                            int32_t acc[4];
                            if (t >= lo && t + 1u < hi) {
                                acc[0] = acc[1] = bias;
                                acc[2] = acc[3] = bias2;
                                ecg_rt_dsp_dot2x2(xw, xw + xstep, wpk, n4, acc);
                                yt[0] = ecg_rt_dsp_requantize(acc[0], mult, shift, p->zp_out, p->act_min, p->act_max);
                                yt[1] = ecg_rt_dsp_requantize(acc[2], mult2, shift2, p->zp_out, p->act_min, p->act_max);
                                yt += p->out_ch;
                                yt[0] = ecg_rt_dsp_requantize(acc[1], mult, shift, p->zp_out, p->act_min, p->act_max);
                                yt[1] = ecg_rt_dsp_requantize(acc[3], mult2, shift2, p->zp_out, p->act_min, p->act_max);
                                ++t;
                                continue;
                            }
                            if (t >= lo && t < hi) {
                                acc[0] = ecg_rt_dsp_dot1(xw, wpk, 4u, n4, bias);
                                acc[1] = ecg_rt_dsp_dot1(xw, wpk + 2u, 4u, n4, bias2);
                            } else {
                                acc[0] = ecg_rt_dsp_border(x, start, p->in_len, p->in_ch, p->kernel,
                                                           p->zp_in, wpk, 4u, tapsum, bias);
                                acc[1] = ecg_rt_dsp_border(x, start, p->in_len, p->in_ch, p->kernel,
                                                           p->zp_in, wpk + 2u, 4u, tapsum2, bias2);
                            }
                            yt[0] = ecg_rt_dsp_requantize(acc[0], mult, shift, p->zp_out, p->act_min, p->act_max);
                            yt[1] = ecg_rt_dsp_requantize(acc[1], mult2, shift2, p->zp_out, p->act_min, p->act_max);
                        }
                        ++c; /* channel c + 1 is done too */
                        continue;
                    }
                    cur = after_c; /* c + 1 runs on its own next */
                    /* c alone: its weights sit at stride 4; repack them to stride 2 in place
                     * (forward: word 2g+i comes from 4g+i with 4g+i >= 2g+i). */
                    {
                        uint32_t g;
                        const uint32_t groups = (wb->span + 3u) / 4u;
                        for (g = 0; g < groups; ++g) {
                            wpk[2u * g] = wpk[4u * g];
                            wpk[2u * g + 1u] = wpk[4u * g + 1u];
                        }
                    }
                }
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
                        ecg_rt_dsp_sweep(&ch, x + (size_t)start * p->in_ch, xstep, hi - lo,
                                         y + (size_t)t * p->out_ch + c, p->out_ch);
                        t = hi - 1u;
                        continue;
                    }
                    if (fast_border)
                        acc = ecg_rt_dsp_border(x, start, p->in_len, p->in_ch, p->kernel, p->zp_in,
                                                wpk, 2u, tapsum, bias);
                    else
                        acc = ecg_rt_dot_border(bias, x, start, p->in_len, p->in_ch, p->dilation,
                                                p->zp_in, xoff, val, n);
                    y[(size_t)t * p->out_ch + c] =
                        ecg_rt_dsp_requantize(acc, mult, shift, p->zp_out, p->act_min, p->act_max);
                }
                continue;
            }
#else
            if (!depthwise && p->dilation == 1u && wb->span <= ECG_RT_WCHUNK &&
                100u * n >= ECG_RT_DENSE_ROW_PERCENT * wb->span) {
                ecg_rt_status st = ecg_rt_conv1d_dense_row_s8(p, xoff, val, n, wb->span, bias, mult,
                                                              shift, lo, hi, x, y + c);
                if (st != ECG_RT_OK) return st;
                continue;
            }
#endif
            for (t = 0; t < p->out_len; ++t) {
                const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
                int32_t acc;
                if (t == lo && hi > lo) { /* the interior in one sweep, 4 positions a pass */
                    ecg_rt_sweep_inside(x + (size_t)start * p->in_ch, (size_t)p->stride * p->in_ch,
                                        hi - lo, xoff, val, n, bias, mult, shift, p->zp_out,
                                        p->act_min, p->act_max, y + (size_t)t * p->out_ch + c,
                                        p->out_ch);
                    t = hi - 1u;
                    continue;
                }
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
