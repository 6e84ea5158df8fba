/* SOFTMAX by I-BERT's integer exp (Kim et al. 2021), FORMAT.md section 7. Per segment of
 * `seg` channels of a time step, with mx its largest value and d = (mx - x) 2^k >= 0 (k, the
 * pre-shift, refines the input resolution so the floored constants stay accurate):
 *   z = floor(d / q_ln2), r = d - z q_ln2, e = ((q_b - r)^2 + q_c) >> z   (0 when z >= 63)
 *   out = floor((e 2^9 + S) / (2 S)) + zp_out, S = sum of e over the segment
 * i.e. the probability in units of 1/256, rounded half up. Two passes; e is recomputed in the
 * second so no buffer is needed. */
#include "ecg_rt_transformer.h"

static int64_t iexp(const ecg_rt_softmax_params *p, int32_t diff)
{
    const uint32_t d = (uint32_t)diff << p->pre_shift; /* < 2^24 */
    const uint32_t z = d / p->q_ln2;
    const int64_t r = (int64_t)d - (int64_t)z * p->q_ln2;
    const int64_t b = (int64_t)p->q_b - r;
    const int64_t l = b * b + (int64_t)p->q_c; /* < 2^41: sums of 2^14 fit int64 */
    return z >= 63u ? 0 : (l >> z);
}

ecg_rt_status ecg_rt_softmax_s8(const ecg_rt_softmax_params *p, uint32_t len, uint32_t ch,
                                const int8_t *x, int8_t *y)
{
    uint32_t t, s, i;
    if (!p || !x || !y) return ECG_RT_E_NULL;
    if (p->seg < 1u || p->seg > ECG_RT_SOFTMAX_MAX_SEG || ch % p->seg || p->q_ln2 < 1u ||
        p->q_ln2 > ECG_RT_SOFTMAX_MAX_Q || p->q_b > ECG_RT_SOFTMAX_MAX_Q || p->q_c < 1u ||
        p->q_c > ECG_RT_SOFTMAX_MAX_C || p->pre_shift > ECG_RT_SOFTMAX_MAX_SHIFT)
        return ECG_RT_E_OP;
    for (t = 0; t < len; ++t)
        for (s = 0; s < ch; s += p->seg) {
            const int8_t *xs = x + (size_t)t * ch + s;
            int8_t *ys = y + (size_t)t * ch + s;
            int32_t mx = -128;
            int64_t sum = 0;
            for (i = 0; i < p->seg; ++i)
                if (xs[i] > mx) mx = xs[i];
            for (i = 0; i < p->seg; ++i) sum += iexp(p, mx - xs[i]);
            for (i = 0; i < p->seg; ++i) {
                const int64_t e = iexp(p, mx - xs[i]);
                ys[i] = ecg_rt_clamp_s8((e * 512 + sum) / (2 * sum) + p->zp_out, p->act_min,
                                        p->act_max);
            }
        }
    return ECG_RT_OK;
}
