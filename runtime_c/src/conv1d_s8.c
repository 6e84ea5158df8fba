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
    ecg_rt_dsp_group group, *grp = &group;
    ecg_rt_dsp_sparse sparse;
    int tapsum_ok, dense_dsp, sparse_dsp;
#endif
    ecg_rt_wcursor cur, saved;
    const int depthwise = p->groups > 1u;
    const uint32_t cin_g = depthwise ? 1u : p->in_ch;
    uint32_t c, t, lo, hi;

    if (!p || !wb || !x || !y) return ECG_RT_E_NULL;
#ifdef ECG_RT_DSP
    tapsum_ok = (p->in_ch % 4u == 0u) && p->kernel <= ECG_RT_DSP_MAX_TAPS;
    dense_dsp = wb->encoding == ECG_RT_ENC_DENSE && !depthwise && p->dilation == 1u && wb->span <= ECG_RT_WCHUNK;
    /* A pruned layer at least 25% non-zero: every channel straight from its mask / runs into the
     * group (measured on cortex-m4: the zero-skipping gather below pays off only for sparser
     * layers, and there per channel below 30%). */
    sparse_dsp = wb->encoding != ECG_RT_ENC_DENSE && !depthwise && p->dilation == 1u && wb->span <= ECG_RT_WCHUNK &&
                 4u * (uint64_t)wb->nnz >= (uint64_t)wb->c_out * wb->span;
    if (sparse_dsp) ecg_rt_dsp_sparse_init(&sparse, wb);
    ECG_RT_DSP_DENSE_FILL(wb);
    group.count = 0;
#endif
    interior(p, &lo, &hi);
    ecg_rt_wcursor_init(&cur, wb, cin_g, p->dilation * p->in_ch);
    for (c = 0; c < p->out_ch; ++c) {
        const ecg_rt_chan_q q = ecg_rt_chan_q_load(wb, c);
        uint32_t n;
#ifdef ECG_RT_DSP
        if (dense_dsp || sparse_dsp) { /* levels unpacked straight into the group, no decode to pairs */
            uint32_t *col = ecg_rt_dsp_group_take(grp, p, wb->span, tapsum_ok, c, q.bias, q.mult, q.shift);
            if (dense_dsp)
                ECG_RT_DSP_FILL_DENSE(grp, col, wb, c);
            else
                ECG_RT_DSP_FILL_SPARSE(grp, col, wb, c, &sparse);
            if (grp->count == grp->width) {
                ecg_rt_status st = ecg_rt_conv1d_group_dsp_s8(grp, p, x, y);
                if (st != ECG_RT_OK) return st;
            }
            continue;
        }
#endif
        if (c) ecg_rt_wcursor_channel(&cur, c, depthwise ? c : 0u);
        saved = cur;
        n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK);
        if (n < ECG_RT_WCHUNK || ecg_rt_wcursor_done(&cur)) {
#ifdef ECG_RT_DSP
            /* Cortex-M DSP path: channels at least 30% non-zero join a group of output channels
             * run together (conv1d_group_dsp_s8.c); sparser ones take the zero-skipping gather
             * below, which is faster for them on cortex-m4. */
            if (!depthwise && p->dilation == 1u && wb->span <= ECG_RT_WCHUNK && 10u * n >= 3u * wb->span) {
                ecg_rt_dsp_fill_decoded(grp, ecg_rt_dsp_group_take(grp, p, wb->span, tapsum_ok, c, q.bias, q.mult, q.shift),
                                        xoff, val, n);
                if (grp->count == grp->width) {
                    ecg_rt_status st = ecg_rt_conv1d_group_dsp_s8(grp, p, x, y);
                    if (st != ECG_RT_OK) return st;
                }
                continue;
            }
#else
            if (!depthwise && p->dilation == 1u && wb->span <= ECG_RT_WCHUNK &&
                100u * n >= ECG_RT_DENSE_ROW_PERCENT * wb->span) {
                ecg_rt_status st = ecg_rt_conv1d_dense_row_s8(p, xoff, val, n, wb->span, q.bias, q.mult,
                                                              q.shift, lo, hi, x, y + c);
                if (st != ECG_RT_OK) return st;
                continue;
            }
#endif
            for (t = 0; t < p->out_len; ++t) {
                const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
                int32_t acc;
                if (t == lo && hi > lo) { /* the interior in one sweep, 4 positions a pass */
                    ecg_rt_sweep_inside(x + (size_t)start * p->in_ch, (size_t)p->stride * p->in_ch,
                                        hi - lo, xoff, val, n, q.bias, q.mult, q.shift, p->zp_out,
                                        p->act_min, p->act_max, y + (size_t)t * p->out_ch + c,
                                        p->out_ch);
                    t = hi - 1u;
                    continue;
                }
                acc = ecg_rt_dot_border(q.bias, x, start, p->in_len, p->in_ch, p->dilation,
                                        p->zp_in, xoff, val, n);
                y[(size_t)t * p->out_ch + c] =
                    ecg_rt_requantize(acc, q.mult, q.shift, p->zp_out, p->act_min, p->act_max);
            }
        } else {
            for (t = 0; t < p->out_len; ++t) {
                const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
                int32_t acc = q.bias;
                cur = saved;
                while ((n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK)) != 0) {
                    if (t >= lo && t < hi)
                        acc = ecg_rt_dot_inside(acc, x + (size_t)start * p->in_ch, xoff, val, n);
                    else
                        acc = ecg_rt_dot_border(acc, x, start, p->in_len, p->in_ch, p->dilation,
                                                p->zp_in, xoff, val, n);
                }
                y[(size_t)t * p->out_ch + c] =
                    ecg_rt_requantize(acc, q.mult, q.shift, p->zp_out, p->act_min, p->act_max);
            }
        }
    }
#ifdef ECG_RT_DSP
    return ecg_rt_conv1d_group_dsp_s8(grp, p, x, y); /* the last, partly filled group */
#else
    return ECG_RT_OK;
#endif
}
