/* Pointwise CONV1D (K = 1, groups = 1, no padding): the ResNet shortcut's 1x1 conv.
 * Every window is inside the input, so the sweep has no padding test at all. */
#include "ecg_rt_internal.h"
#include "ecg_rt_dsp.h"

ecg_rt_status ecg_rt_conv1d_pointwise_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                                         const int8_t *x, int8_t *y)
{
    int32_t xoff[ECG_RT_WCHUNK];
    int8_t val[ECG_RT_WCHUNK];
#ifdef ECG_RT_DSP
    ecg_rt_dsp_group group, *grp = &group;
    ecg_rt_dsp_sparse sparse;
    int dense_dsp, sparse_dsp;
#endif
    ecg_rt_wcursor cur, saved;
    uint32_t c, t;

    if (!p || !wb || !x || !y) return ECG_RT_E_NULL;
    if (p->kernel != 1u || p->groups != 1u || p->pad_left != 0u) return ECG_RT_E_OP;
#ifdef ECG_RT_DSP
    group.count = 0;
    dense_dsp = wb->encoding == ECG_RT_ENC_DENSE && p->in_ch <= ECG_RT_WCHUNK;
    sparse_dsp = wb->encoding != ECG_RT_ENC_DENSE && p->in_ch <= ECG_RT_WCHUNK &&
                 10u * (uint64_t)wb->nnz >= 3u * (uint64_t)wb->c_out * wb->span; /* as ecg_rt_conv1d_s8 */
    if (sparse_dsp) ecg_rt_dsp_sparse_init(&sparse, wb);
#endif
    ecg_rt_wcursor_init(&cur, wb, p->in_ch, p->in_ch);
    for (c = 0; c < p->out_ch; ++c) {
        const int32_t bias = ecg_rt_rdi32(wb->bias + 4u * (size_t)c);
        const int32_t mult = ecg_rt_rdi32(wb->mult + 4u * (size_t)c);
        const uint32_t shift = wb->shift[c];
        const size_t step = (size_t)p->stride * p->in_ch;
        const int8_t *xw = x;
        int8_t *yc = y + c;
        uint32_t n;
#ifdef ECG_RT_DSP
        if (dense_dsp || sparse_dsp) { /* levels unpacked straight into the group, no decode to pairs */
            uint32_t *col = ecg_rt_dsp_group_take(grp, p, p->in_ch, p->in_ch % 4u == 0u, c, bias, mult, shift);
            if (dense_dsp)
                ecg_rt_dsp_fill_dense(grp, col, wb, c);
            else
                ecg_rt_dsp_fill_sparse(grp, col, wb, c, &sparse);
            if (grp->count == grp->width) {
                ecg_rt_status st = ecg_rt_conv1d_group_dsp_s8(grp, p, x, y);
                if (st != ECG_RT_OK) return st;
            }
            continue;
        }
#endif
        if (c) ecg_rt_wcursor_channel(&cur, c, 0u);
        saved = cur;
        n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK);
        if (n < ECG_RT_WCHUNK || ecg_rt_wcursor_done(&cur)) {
#ifdef ECG_RT_DSP
            /* Cortex-M DSP path: a group of output channels per pass (conv1d_group_dsp_s8.c). */
            if (p->in_ch <= ECG_RT_WCHUNK && 10u * n >= 3u * p->in_ch) {
                ecg_rt_dsp_fill_decoded(grp, ecg_rt_dsp_group_take(grp, p, p->in_ch, p->in_ch % 4u == 0u, c, bias, mult, shift),
                                        xoff, val, n);
                if (grp->count == grp->width) {
                    ecg_rt_status st = ecg_rt_conv1d_group_dsp_s8(grp, p, x, y);
                    if (st != ECG_RT_OK) return st;
                }
                continue;
            }
#else
            if (p->in_ch <= ECG_RT_WCHUNK && 100u * n >= ECG_RT_DENSE_ROW_PERCENT * p->in_ch) {
                ecg_rt_status st = ecg_rt_conv1d_dense_row_s8(p, xoff, val, n, p->in_ch, bias, mult,
                                                              shift, 0u, p->out_len, x, yc);
                if (st != ECG_RT_OK) return st;
                continue;
            }
#endif
            ecg_rt_sweep_inside(xw, step, p->out_len, xoff, val, n, bias, mult, shift, p->zp_out,
                                p->act_min, p->act_max, yc, p->out_ch);
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
#ifdef ECG_RT_DSP
    return ecg_rt_conv1d_group_dsp_s8(grp, p, x, y); /* the last, partly filled group */
#else
    return ECG_RT_OK;
#endif
}
