/* GROUPNORM: G groups of C/G consecutive channels, each normalised over all time steps
 * (integer mean/variance, isqrt; HuBERT's first conv uses G = C), then the per-channel affine
 * of LAYERNORM. Group-outer, so the statistics of one group are all that is kept. */
#include "ecg_rt_transformer.h"

ecg_rt_status ecg_rt_groupnorm_s8(uint32_t len, uint32_t ch, uint32_t groups, uint32_t eps,
                                  const ecg_rt_wblock *wb, int32_t zp_out, int32_t act_min,
                                  int32_t act_max, const int8_t *x, int8_t *y)
{
    uint32_t g, t, i, cg;
    ecg_rt_bitreader br;
    if (!wb || !x || !y) return ECG_RT_E_NULL;
    if (groups < 1u || ch % groups || eps < 1u || wb->c_out != ch || wb->span != 1u)
        return ECG_RT_E_OP;
    cg = ch / groups;
    if ((uint64_t)len * cg > ECG_RT_NORM_MAX_N) return ECG_RT_E_OP;
    ecg_rt_bitreader_init(&br, wb->values, 0u);
    for (g = 0; g < groups; ++g) {
        ecg_rt_norm_stats st;
        const uint32_t c0 = g * cg;
        ecg_rt_norm_stats_s8(x + c0, len, ch, cg, eps, &st);
        for (i = 0; i < cg; ++i) {
            const uint32_t c = c0 + i;
            const int32_t w = ecg_rt_bitreader_next(&br, wb->bits);
            const int32_t bias = ecg_rt_rdi32(wb->bias + 4u * (size_t)c);
            const int32_t mult = ecg_rt_rdi32(wb->mult + 4u * (size_t)c);
            for (t = 0; t < len; ++t) {
                const size_t at = (size_t)t * ch + c;
                y[at] = ecg_rt_requantize(ecg_rt_norm_z(x[at], &st) * w + bias, mult, wb->shift[c],
                                          zp_out, act_min, act_max);
            }
        }
    }
    return ECG_RT_OK;
}
