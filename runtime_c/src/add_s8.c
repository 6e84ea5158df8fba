/* Requantized residual ADD (FORMAT.md section 7):
 * out = clamp(floor(((a - zp_a) * M_a + (b - zp_b) * M_b + 2^(n-1)) / 2^n) + zp_out).
 * y may alias a or b (same index: every element is read before it is written). On Cortex-M
 * (ecg_rt_dsp.h) the sum runs split at 2^16 on 32-bit lanes (ecg_rt_add_split, exact for
 * 16 <= n <= 47 and the usual multipliers): per pair [a | b << 16] two SMLADs, an add and one
 * shift; on Helium 4 lanes a vector. Other parameters take the 64-bit reference loop. */
#include "ecg_rt_internal.h"
#include "ecg_rt_dsp.h"

static int32_t low16(int32_t m) /* the signed low 16 bits of m */
{
    const int32_t l = (int32_t)((uint32_t)m & 0xFFFFu);
    return l >= 0x8000 ? l - 0x10000 : l;
}

int ecg_rt_add_split_init(ecg_rt_add_split *sp, const ecg_rt_add_params *q)
{
    const uint32_t n = q->shift;
    int64_t base, bh;
    if (n < 16u || n > 47u) return 0;
    sp->ml_a = low16(q->m_a);
    sp->ml_b = low16(q->m_b);
    sp->mh_a = (int32_t)ecg_rt_floor_shift((int64_t)q->m_a - sp->ml_a, 16u); /* exact: a multiple of 2^16 */
    sp->mh_b = (int32_t)ecg_rt_floor_shift((int64_t)q->m_b - sp->ml_b, 16u);
    if (sp->mh_a > 32767 || sp->mh_a < -32768 || sp->mh_b > 32767 || sp->mh_b < -32768) return 0;
    base = ((int64_t)1 << (n - 1u)) - (int64_t)q->zp_a * q->m_a - (int64_t)q->zp_b * q->m_b +
           (int64_t)q->zp_out * ((int64_t)1 << n);
    sp->bl = (int32_t)(base & 0xFFFF);
    bh = ecg_rt_floor_shift(base, 16u); /* (base - bl) / 2^16 */
    if (bh > ((int64_t)1 << 30) || bh < -((int64_t)1 << 30)) return 0;
    sp->bh = (int32_t)bh;
    sp->sh = (int32_t)n - 16;
    sp->wl = (uint32_t)(uint16_t)sp->ml_a | ((uint32_t)(uint16_t)sp->ml_b << 16);
    sp->wh = (uint32_t)(uint16_t)sp->mh_a | ((uint32_t)(uint16_t)sp->mh_b << 16);
    return 1;
}

#ifdef ECG_RT_DSP
#ifndef ECG_RT_MVE
static inline __attribute__((always_inline)) int8_t split_one(const ecg_rt_add_split *sp, uint32_t pair, int32_t lo,
                                                              int32_t hi, const int full)
{
    int32_t o = (__smlad(pair, sp->wh, sp->bh) + (__smlad(pair, sp->wl, sp->bl) >> 16)) >> sp->sh;
    if (full) return (int8_t)__ssat(o, 8);
    o = o < lo ? lo : o;
    return (int8_t)(o > hi ? hi : o);
}

/* 4 elements a pass: 2 loads, 4 SXTB16 and 4 PKH build the pairs [a_k | b_k << 16]. */
static inline __attribute__((always_inline)) void split_loop(uint32_t n, const int8_t *a, const int8_t *b,
                                                             const ecg_rt_add_split *sp, int32_t lo, int32_t hi,
                                                             int8_t *y, const int full)
{
    uint32_t j = 0;
#ifndef __OPTIMIZE_SIZE__ /* -Os: one element a pass, the smaller code */
    for (; j + 4u <= n; j += 4u) {
        const uint32_t av = ecg_rt_load4(a + j), bv = ecg_rt_load4(b + j);
        const uint32_t ae = __sxtb16(av), ao = ecg_rt_sxtb16_odd(av);
        const uint32_t be = __sxtb16(bv), bo = ecg_rt_sxtb16_odd(bv);
        y[j] = split_one(sp, ecg_rt_pkhbt(ae, be), lo, hi, full);
        y[j + 1u] = split_one(sp, ecg_rt_pkhbt(ao, bo), lo, hi, full);
        y[j + 2u] = split_one(sp, ecg_rt_pkhtb(be, ae), lo, hi, full);
        y[j + 3u] = split_one(sp, ecg_rt_pkhtb(bo, ao), lo, hi, full);
    }
#endif
    for (; j < n; ++j)
        y[j] = split_one(sp, (uint32_t)(uint16_t)a[j] | ((uint32_t)(uint16_t)b[j] << 16), lo, hi, full);
}
#endif

static void add_split(uint32_t n, const int8_t *a, const int8_t *b, const ecg_rt_add_split *sp, int32_t lo,
                      int32_t hi, int8_t *y)
{
#ifdef ECG_RT_MVE
    uint32_t j;
    for (j = 0; j < n; j += 4u) { /* 4 lanes, the last vector under a tail predicate */
        const mve_pred16_t live = vctp32q(n - j);
        const int32x4_t av = vldrbq_z_s32(a + j, live), bv = vldrbq_z_s32(b + j, live);
        const int32x4_t l = vmlaq_n_s32(vmlaq_n_s32(vdupq_n_s32(sp->bl), av, sp->ml_a), bv, sp->ml_b);
        const int32x4_t h = vmlaq_n_s32(vmlaq_n_s32(vdupq_n_s32(sp->bh), av, sp->mh_a), bv, sp->mh_b);
        const int32x4_t o = vminq_s32(vmaxq_s32(vshlq_r_s32(vaddq_s32(h, vshrq_n_s32(l, 16)), -sp->sh),
                                                vdupq_n_s32(lo)), vdupq_n_s32(hi));
        vstrbq_p_s32(y + j, o, live);
    }
#else
#ifndef __OPTIMIZE_SIZE__ /* -Os: the one loop with the clamp, the smaller code */
    if (lo == -128 && hi == 127) {
        split_loop(n, a, b, sp, lo, hi, y, 1);
        return;
    }
#endif
    split_loop(n, a, b, sp, lo, hi, y, 0);
#endif
}
#endif

ecg_rt_status ecg_rt_add_s8(uint32_t n, const int8_t *a, int32_t zp_a, int32_t m_a,
                            const int8_t *b, int32_t zp_b, int32_t m_b, uint32_t shift,
                            int32_t zp_out, int32_t act_min, int32_t act_max, int8_t *y)
{
    ecg_rt_add_params q;
    uint32_t j;
    if (!a || !b || !y) return ECG_RT_E_NULL;
    if (shift < 1u || shift > 62u) return ECG_RT_E_OP;
    q.zp_a = zp_a;
    q.m_a = m_a;
    q.zp_b = zp_b;
    q.m_b = m_b;
    q.shift = shift;
    q.zp_out = zp_out;
    q.act_min = act_min;
    q.act_max = act_max;
#ifdef ECG_RT_DSP
    {
        ecg_rt_add_split sp;
        if (ecg_rt_add_split_init(&sp, &q)) {
            add_split(n, a, b, &sp, act_min, act_max, y);
            return ECG_RT_OK;
        }
    }
#endif
    for (j = 0; j < n; ++j) y[j] = ecg_rt_add1(&q, a[j], b[j]);
    return ECG_RT_OK;
}
