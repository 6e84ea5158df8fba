/* CONV1D, int8 in/out, weights read from their packed form (FORMAT.md section 7).
 * groups = 1, or depthwise (groups = C_in = C_out, one input channel per output channel).
 * Loop order: output channel outer. A channel's non-zero weights are decoded once into a
 * stack chunk of (input offset, level) pairs and swept over every output position, so the
 * decode cost is paid once per channel and zero weights cost nothing. A channel with more
 * than ECG_RT_WCHUNK non-zeros is re-decoded chunk by chunk per output position. */
#include "ecg_rt_internal.h"

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
