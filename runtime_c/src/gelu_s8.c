/* GELU by I-BERT's integer erf polynomial (Kim et al. 2021), FORMAT.md section 7:
 *   x = q - zp_in, m = min(|x|, b_int), e = sign(x) (c_int - (b_int - m)^2),
 *   out = requantize(x (c_int + e), M, n)
 * (erf(u) ~ sign(u) (1 - a (b - min(|u|, b))^2), a = 0.2888, b = 1.769, in units of the
 * input scale / sqrt(2)). A tensor larger than 256 elements is mapped through a 256-entry
 * table built from the same function, so both paths give identical bytes. */
#include "ecg_rt_transformer.h"

int8_t ecg_rt_gelu_one_s8(const ecg_rt_gelu_params *p, int32_t q)
{
    const int32_t x = q - p->zp_in;
    const int32_t m = (x < 0 ? -x : x) < (int32_t)p->b_int ? (x < 0 ? -x : x) : (int32_t)p->b_int;
    const int32_t t = (int32_t)p->b_int - m;
    int32_t e = (int32_t)p->c_int - t * t; /* |e| <= 2^22 */
    if (x < 0) e = -e;
    return ecg_rt_requantize((int64_t)x * ((int64_t)p->c_int + e), p->mult, p->shift, p->zp_out,
                             p->act_min, p->act_max);
}

ecg_rt_status ecg_rt_gelu_s8(const ecg_rt_gelu_params *p, uint32_t n, const int8_t *x, int8_t *y)
{
    uint32_t j;
    if (!p || !x || !y) return ECG_RT_E_NULL;
    if (p->b_int > ECG_RT_GELU_MAX_B || p->c_int < 1u || p->c_int > ECG_RT_GELU_MAX_C ||
        p->shift < 1u || p->shift > 62u || p->mult < 0)
        return ECG_RT_E_OP;
    if (n > 256u) {
        int8_t lut[256];
        for (j = 0; j < 256u; ++j) lut[j] = ecg_rt_gelu_one_s8(p, (int32_t)j - 128);
        for (j = 0; j < n; ++j) y[j] = lut[(int32_t)x[j] + 128];
    } else {
        for (j = 0; j < n; ++j) y[j] = ecg_rt_gelu_one_s8(p, x[j]);
    }
    return ECG_RT_OK;
}
