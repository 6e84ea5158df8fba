/* Requantized residual ADD (FORMAT.md section 7):
 * out = clamp(floor(((a - zp_a) * M_a + (b - zp_b) * M_b + 2^(n-1)) / 2^n) + zp_out).
 * y may alias a or b (same index read before it is written). */
#include "ecg_rt_internal.h"

ecg_rt_status ecg_rt_add_s8(uint32_t n, const int8_t *a, int32_t zp_a, int32_t m_a,
                            const int8_t *b, int32_t zp_b, int32_t m_b, uint32_t shift,
                            int32_t zp_out, int32_t act_min, int32_t act_max, int8_t *y)
{
    const int64_t half = (int64_t)1 << (shift - 1u);
    uint32_t j;
    if (!a || !b || !y) return ECG_RT_E_NULL;
    if (shift < 1u || shift > 62u) return ECG_RT_E_OP;
    for (j = 0; j < n; ++j) {
        int64_t s = (int64_t)(a[j] - zp_a) * m_a + (int64_t)(b[j] - zp_b) * m_b + half;
        y[j] = ecg_rt_clamp_s8(ecg_rt_floor_shift(s, shift) + zp_out, act_min, act_max);
    }
    return ECG_RT_OK;
}
