/* LAYERNORM: each time step's C channels normalised (integer mean/variance, isqrt), then the
 * per-channel affine z * w[c] + bias[c] requantized with (M[c], n[c]). The levels w are a
 * DENSE span-1 block, read straight from the bitstream. */
#include "ecg_rt_transformer.h"

ecg_rt_status ecg_rt_layernorm_s8(uint32_t len, uint32_t ch, uint32_t eps,
                                  const ecg_rt_wblock *wb, int32_t zp_out, int32_t act_min,
                                  int32_t act_max, const int8_t *x, int8_t *y)
{
    uint32_t t, c;
    if (!wb || !x || !y) return ECG_RT_E_NULL;
    if (ch < 1u || ch > ECG_RT_NORM_MAX_N || eps < 1u || wb->c_out != ch || wb->span != 1u)
        return ECG_RT_E_OP;
    for (t = 0; t < len; ++t) {
        const int8_t *xt = x + (size_t)t * ch;
        int8_t *yt = y + (size_t)t * ch;
        ecg_rt_norm_stats st;
        ecg_rt_bitreader br;
        ecg_rt_norm_stats_s8(xt, 1u, ch, ch, eps, &st);
        ecg_rt_bitreader_init(&br, wb->values, 0u);
        for (c = 0; c < ch; ++c) {
            const int32_t w = ecg_rt_bitreader_next(&br, wb->bits);
            const int32_t acc = ecg_rt_norm_z(xt[c], &st) * w + ecg_rt_rdi32(wb->bias + 4u * (size_t)c);
            yt[c] = ecg_rt_requantize(acc, ecg_rt_rdi32(wb->mult + 4u * (size_t)c), wb->shift[c],
                                      zp_out, act_min, act_max);
        }
    }
    return ECG_RT_OK;
}
