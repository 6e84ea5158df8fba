/* A ResNet 1x1 shortcut CONV1D fused with the residual ADD that is its only reader: each output
 * (t, c) of the conv is requantized to int8 exactly as FORMAT.md's CONV1D does (its zero point and
 * activation range) and goes straight into the ADD's requantization with b[t][c], so the
 * shortcut's tensor is never stored nor read back and the ADD's own pass is gone. Bit-exact with
 * the two ops run one after the other by construction: the same int8 intermediate, the same ADD
 * sum (ecg_rt_add1, or its exact 2^16 split ecg_rt_add_split on Cortex-M).
 * On Cortex-M with the DSP extension every channel runs on the group kernel
 * (conv1d_group_dsp_s8.c) with this file's epilogue ecg_rt_dsp_store_add in place of its store;
 * elsewhere (and where ECG_RT_FUSE is 0, as at -Os) a scalar sweep. */
#include "ecg_rt_internal.h"
#include "ecg_rt_dsp.h"

int ecg_rt_conv1d_pointwise_add_ok(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb)
{
    return p->kernel == 1u && p->groups == 1u && p->pad_left == 0u && wb->span == p->in_ch &&
           wb->c_out == p->out_ch && p->in_ch <= ECG_RT_WCHUNK;
}

#if defined(ECG_RT_DSP) && ECG_RT_FUSE
/* One loop per clamp kind (conv_full / add_full: the op has no fused activation, the clamp is one
 * SSAT); the constants live in registers: the int8 stores may alias anything, so fields would be
 * re-read per element. */
static inline __attribute__((always_inline)) void store_add_fast(const ecg_rt_dsp_group *g, const ecg_rt_conv_add *ad,
                                                                 const int32_t *s, const int8_t *bt, int8_t *yt,
                                                                 const int conv_full, const int add_full)
{
    const uint32_t count = g->count, wl = ad->sp.wl, wh = ad->sp.wh;
    const int32_t czp = g->zp, clo = g->lo, chi = g->hi, bl = ad->sp.bl, bh = ad->sp.bh, sh = ad->sp.sh;
    const int32_t lo = ad->q.act_min, hi = ad->q.act_max;
    uint32_t j;
    for (j = 0; j < count; ++j) {
        const uint32_t c = g->channel[j];
        int32_t o = __qadd((int32_t)((g->rc[j] + (int64_t)s[j] * g->mult[j]) >> 32) >> (g->shift[j] - 32u), czp);
        uint32_t pair;
        if (conv_full) {
            o = __ssat(o, 8);
        } else {
            o = o < clo ? clo : o;
            o = o > chi ? chi : o;
        }
        pair = (uint32_t)(uint16_t)o | ((uint32_t)(uint16_t)bt[c] << 16);
        o = (__smlad(pair, wh, bh) + (__smlad(pair, wl, bl) >> 16)) >> sh;
        if (add_full) {
            o = __ssat(o, 8);
        } else {
            o = o < lo ? lo : o;
            o = o > hi ? hi : o;
        }
        yt[c] = (int8_t)o;
    }
}

/* The group's sums for output position `at` = t * C_out: the conv's requantization (as the
 * group kernel's store), then the ADD with b at the same index. */
void ecg_rt_dsp_store_add(const ecg_rt_dsp_group *g, const ecg_rt_conv_add *ad, const int32_t *s, size_t at,
                          int8_t *y)
{
    const int8_t *bt = ad->b + at;
    int8_t *yt = y + at;
    uint32_t j;
    if (!g->slow && ad->split_ok) {
        const int conv_full = g->lo == -128 && g->hi == 127, add_full = ad->q.act_min == -128 && ad->q.act_max == 127;
        if (conv_full && add_full) store_add_fast(g, ad, s, bt, yt, 1, 1);
        else if (conv_full) store_add_fast(g, ad, s, bt, yt, 1, 0);
        else if (add_full) store_add_fast(g, ad, s, bt, yt, 0, 1);
        else store_add_fast(g, ad, s, bt, yt, 0, 0);
        return;
    }
    for (j = 0; j < g->count; ++j) { /* some shift n < 32, or an ADD outside the split's range */
        const uint32_t c = g->channel[j];
        yt[c] = ecg_rt_add1(&ad->q, ecg_rt_dsp_requantize(s[j], g->mult[j], g->shift[j], g->zp, g->lo, g->hi), bt[c]);
    }
}
#endif

ecg_rt_status ecg_rt_conv1d_pointwise_add_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                                             const int8_t *x, const ecg_rt_add_params *q,
                                             const int8_t *b, int8_t *y)
{
    uint32_t c;
    if (!p || !wb || !x || !q || !b || !y) return ECG_RT_E_NULL;
    if (!ecg_rt_conv1d_pointwise_add_ok(p, wb) || q->shift < 1u || q->shift > 62u) return ECG_RT_E_OP;
#if defined(ECG_RT_DSP) && ECG_RT_FUSE /* the group kernel calls the epilogue only then */
    {
        ecg_rt_conv_add ad;
        ecg_rt_conv_params cp;
        ecg_rt_dsp_group group;
        ecg_rt_dsp_sparse sparse;
        const int tapsum_ok = p->in_ch % 4u == 0u;
        ad.b = b;
        ad.q = *q;
        ad.split_ok = ecg_rt_add_split_init(&ad.sp, q);
        cp = *p;
        cp.dilation = 1u; /* K = 1 */
        cp.add = &ad;
        if (wb->encoding != ECG_RT_ENC_DENSE) ecg_rt_dsp_sparse_init(&sparse, wb);
        group.count = 0;
        for (c = 0; c < p->out_ch; ++c) {
            const ecg_rt_chan_q cq = ecg_rt_chan_q_load(wb, c);
            uint32_t *col = ecg_rt_dsp_group_take(&group, &cp, wb->span, tapsum_ok, c, cq.bias, cq.mult, cq.shift);
            if (wb->encoding == ECG_RT_ENC_DENSE)
                ecg_rt_dsp_fill_dense(&group, col, wb, c);
            else
                ecg_rt_dsp_fill_sparse(&group, col, wb, c, &sparse);
            if (group.count == group.width) {
                const ecg_rt_status st = ecg_rt_conv1d_group_dsp_s8(&group, &cp, x, y);
                if (st != ECG_RT_OK) return st;
            }
        }
        return ecg_rt_conv1d_group_dsp_s8(&group, &cp, x, y); /* the last, partly filled group */
    }
#else
    {
        int32_t xoff[ECG_RT_WCHUNK];
        int8_t val[ECG_RT_WCHUNK];
        ecg_rt_wcursor cur, saved;
        const size_t step = (size_t)p->stride * p->in_ch;
        ecg_rt_wcursor_init(&cur, wb, p->in_ch, p->in_ch);
        for (c = 0; c < p->out_ch; ++c) {
            const ecg_rt_chan_q cq = ecg_rt_chan_q_load(wb, c);
            uint32_t n, t;
            int once;
            if (c) ecg_rt_wcursor_channel(&cur, c, 0u);
            saved = cur;
            n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK);
            once = n < ECG_RT_WCHUNK || ecg_rt_wcursor_done(&cur); /* the channel decoded once */
            for (t = 0; t < p->out_len; ++t) {
                const size_t at = (size_t)t * p->out_ch + c;
                int32_t acc = cq.bias;
                if (once) {
                    acc = ecg_rt_dot_inside(acc, x + t * step, xoff, val, n);
                } else {
                    cur = saved;
                    while ((n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK)) != 0)
                        acc = ecg_rt_dot_inside(acc, x + t * step, xoff, val, n);
                }
                y[at] = ecg_rt_add1(q, ecg_rt_requantize(acc, cq.mult, cq.shift, p->zp_out, p->act_min, p->act_max),
                                    b[at]);
            }
        }
        return ECG_RT_OK;
    }
#endif
}
