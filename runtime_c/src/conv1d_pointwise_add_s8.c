/* A ResNet 1x1 shortcut CONV1D fused with the residual ADD that is its only reader: each output
 * (t, c) of the conv is requantized to int8 exactly as FORMAT.md's CONV1D does (its zero point and
 * activation range) and goes straight into the ADD's requantization with b[t][c], so the
 * shortcut's tensor is never stored nor read back and the ADD's own pass is gone. Bit-exact with
 * the two ops run one after the other by construction: the same int8 intermediate, the same ADD
 * sum (ecg_rt_add1, or its exact 2^16 split ecg_rt_add_split on Cortex-M).
 * On Cortex-M with the DSP extension every channel runs on the group kernel
 * (conv1d_group_dsp_s8.c) with this file's row loop (ecg_rt_conv_add.row) in place of its store;
 * elsewhere (and where ECG_RT_FUSE is 0, as at -Os) a scalar sweep. */
#include "ecg_rt_internal.h"
#include "ecg_rt_dsp.h"

static int shape_ok(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb)
{
    return p->kernel == 1u && p->groups == 1u && p->pad_left == 0u && wb->span == p->in_ch &&
           wb->c_out == p->out_ch && p->in_ch <= ECG_RT_WCHUNK;
}

/* Helium builds run the two ops: the 4-lane ADD (add_s8.c) after the group kernel's vector store is
 * faster than this file's scalar row loop (default ResNet1D on cortex-m55: 12.20 M unfused against
 * 12.51 M fused with a 4-lane row loop, which was left out). */
int ecg_rt_conv1d_pointwise_add_ok(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb)
{
#ifdef ECG_RT_MVE
    (void)p;
    (void)wb;
    return 0;
#else
    return shape_ok(p, wb);
#endif
}

#if defined(ECG_RT_DSP) && ECG_RT_FUSE
/* The fused op's state on Cortex-M: the epilogue (first member: the group kernel gets its address
 * as p->add) and the current group's slots as one table (rounding constant, multiplier, shift - 32,
 * channel: read in order through one pointer). */
typedef struct {
    int64_t rc;
    int32_t mult, sh32;
    uint32_t channel;
} slot_q;

typedef struct {
    ecg_rt_conv_add ad;
    slot_q slot[ECG_RT_DSP_GROUP];
    uint32_t count;
} fused;


/* One loop per clamp kind (conv_full / add_full: no fused activation, the clamp is one SSAT), the
 * constants in registers (the int8 stores may alias anything: fields would be re-read per element). */
static inline __attribute__((always_inline)) void row_fast(const ecg_rt_conv_add *ad, const int32_t *s, size_t at,
                                                           int8_t *y, const int conv_full, const int add_full)
{
    const fused *f = (const fused *)(const void *)ad;
    const slot_q *q = f->slot, *end = f->slot + f->count;
    const int8_t *bt = ad->b + at;
    int8_t *yt = y + at;
    const uint32_t wl = ad->sp.wl, wh = ad->sp.wh;
    const int32_t bl = ad->sp.bl, bh = ad->sp.bh, sh = ad->sp.sh, czp = ad->czp;
    const int32_t clo = conv_full ? -128 : ad->clo, chi = conv_full ? 127 : ad->chi;
    const int32_t lo = add_full ? -128 : ad->q.act_min, hi = add_full ? 127 : ad->q.act_max;
    for (; q < end; ++q, ++s) {
        const uint32_t c = q->channel;
        int32_t o = __qadd((int32_t)((q->rc + (int64_t)*s * q->mult) >> 32) >> q->sh32, czp);
        uint32_t pair;
        if (conv_full) {
            o = __ssat(o, 8);
        } else {
            o = o < clo ? clo : o;
            o = o > chi ? chi : o;
        }
        pair = ecg_rt_pkhbt((uint32_t)o, (uint32_t)(int32_t)bt[c]);
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

static void row_ff(const ecg_rt_conv_add *ad, const int32_t *s, size_t at, int8_t *y) { row_fast(ad, s, at, y, 1, 1); }
static void row_fc(const ecg_rt_conv_add *ad, const int32_t *s, size_t at, int8_t *y) { row_fast(ad, s, at, y, 1, 0); }
static void row_cf(const ecg_rt_conv_add *ad, const int32_t *s, size_t at, int8_t *y) { row_fast(ad, s, at, y, 0, 1); }
static void row_cc(const ecg_rt_conv_add *ad, const int32_t *s, size_t at, int8_t *y) { row_fast(ad, s, at, y, 0, 0); }

/* Some conv shift n < 32, or an ADD outside the split's range: the shared requantizations. */
static void row_any(const ecg_rt_conv_add *ad, const int32_t *s, size_t at, int8_t *y)
{
    const fused *f = (const fused *)(const void *)ad;
    uint32_t j;
    for (j = 0; j < f->count; ++j) {
        const uint32_t c = f->slot[j].channel;
        const int8_t o = ecg_rt_dsp_requantize(s[j], f->slot[j].mult, (uint32_t)(f->slot[j].sh32 + 32), ad->czp,
                                               ad->clo, ad->chi);
        y[at + c] = ecg_rt_add1(&ad->q, o, ad->b[at + c]);
    }
}

/* The group is full (or the last one): its slot table and row loop, then every output position. */
static ecg_rt_status run_group(ecg_rt_dsp_group *g, fused *f, const ecg_rt_conv_params *cp, const int8_t *x,
                               int8_t *y)
{
    uint32_t j;
    f->count = g->count;
    for (j = 0; j < g->count; ++j) {
        f->slot[j].rc = g->rc[j];
        f->slot[j].mult = g->mult[j];
        f->slot[j].sh32 = (int32_t)g->shift[j] - 32;
        f->slot[j].channel = g->channel[j];
    }
    f->ad.row = row_any;
    if (!g->slow && f->ad.split_ok) {
        const int conv_full = f->ad.clo == -128 && f->ad.chi == 127;
        const int add_full = f->ad.q.act_min == -128 && f->ad.q.act_max == 127;
        f->ad.row = conv_full ? (add_full ? row_ff : row_fc) : (add_full ? row_cf : row_cc);
    }
    return ecg_rt_conv1d_group_dsp_s8(g, cp, x, y);
}
#endif

ecg_rt_status ecg_rt_conv1d_pointwise_add_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                                             const int8_t *x, const ecg_rt_add_params *q,
                                             const int8_t *b, int8_t *y)
{
    uint32_t c;
    if (!p || !wb || !x || !q || !b || !y) return ECG_RT_E_NULL;
    if (!shape_ok(p, wb) || q->shift < 1u || q->shift > 62u) return ECG_RT_E_OP;
#if defined(ECG_RT_DSP) && ECG_RT_FUSE /* the group kernel calls the epilogue only then */
    {
        fused f;
        ecg_rt_conv_params cp;
        ecg_rt_dsp_group group;
        ecg_rt_dsp_sparse sparse;
        const int tapsum_ok = p->in_ch % 4u == 0u;
        f.ad.b = b;
        f.ad.q = *q;
        f.ad.split_ok = ecg_rt_add_split_init(&f.ad.sp, q);
        f.ad.czp = p->zp_out;
        f.ad.clo = p->act_min;
        f.ad.chi = p->act_max;
        cp = *p;
        cp.dilation = 1u; /* K = 1 */
        cp.add = &f.ad;
        if (wb->encoding != ECG_RT_ENC_DENSE) ecg_rt_dsp_sparse_init(&sparse, wb);
        ECG_RT_DSP_DENSE_FILL(wb);
        group.count = 0;
        for (c = 0; c < p->out_ch; ++c) {
            const ecg_rt_chan_q cq = ecg_rt_chan_q_load(wb, c);
            uint32_t *col = ecg_rt_dsp_group_take(&group, &cp, wb->span, tapsum_ok, c, cq.bias, cq.mult, cq.shift);
            if (wb->encoding == ECG_RT_ENC_DENSE)
                ECG_RT_DSP_FILL_DENSE(&group, col, wb, c);
            else
                ECG_RT_DSP_FILL_SPARSE(&group, col, wb, c, &sparse);
            if (group.count == group.width) {
                const ecg_rt_status st = run_group(&group, &f, &cp, x, y);
                if (st != ECG_RT_OK) return st;
            }
        }
        return group.count ? run_group(&group, &f, &cp, x, y) : ECG_RT_OK; /* the last, partly filled group */
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
