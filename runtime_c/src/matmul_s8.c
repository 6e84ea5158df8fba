/* MATMUL of two int8 activations with heads (attention's Q.K^T and P.V), FORMAT.md section 7:
 * the zero points are subtracted before multiplying, each int32 sum (255 * 255 * K < 2^31) is
 * requantized with the one rule. Row-major [L][C] operands; head h of A is the channel slice
 * [h K, (h + 1) K). */
#include "ecg_rt_transformer.h"

ecg_rt_status ecg_rt_matmul_s8(const ecg_rt_matmul_params *p, const int8_t *a, const int8_t *b,
                               int8_t *y)
{
    uint32_t h, i, j, k, kk, d, n_out, cout;
    if (!p || !a || !b || !y) return ECG_RT_E_NULL;
    if (p->heads < 1u || p->ca % p->heads || p->cb % p->heads || p->shift < 1u || p->shift > 62u ||
        p->mult < 0)
        return ECG_RT_E_OP;
    kk = p->ca / p->heads;
    if (kk > ECG_RT_MATMUL_MAX_K) return ECG_RT_E_OP;
    if (p->transpose_b) {
        if (p->cb != p->ca) return ECG_RT_E_OP;
        n_out = p->lb;
    } else {
        if (p->lb != kk) return ECG_RT_E_OP;
        n_out = p->cb / p->heads;
    }
    cout = p->heads * n_out;
    for (i = 0; i < p->la; ++i) {
        const int8_t *ai = a + (size_t)i * p->ca;
        int8_t *yi = y + (size_t)i * cout;
        for (h = 0; h < p->heads; ++h) {
            const int8_t *aih = ai + (size_t)h * kk;
            for (d = 0; d < n_out; ++d) {
                int32_t acc = 0;
                if (p->transpose_b) {
                    const int8_t *bj = b + (size_t)d * p->cb + (size_t)h * kk;
                    for (k = 0; k < kk; ++k) acc += (aih[k] - p->zp_a) * (bj[k] - p->zp_b);
                } else {
                    const int8_t *bc = b + (size_t)h * n_out + d;
                    for (j = 0; j < kk; ++j) acc += (aih[j] - p->zp_a) * (bc[(size_t)j * p->cb] - p->zp_b);
                }
                yi[(size_t)h * n_out + d] =
                    ecg_rt_requantize(acc, p->mult, p->shift, p->zp_out, p->act_min, p->act_max);
            }
        }
    }
    return ECG_RT_OK;
}
