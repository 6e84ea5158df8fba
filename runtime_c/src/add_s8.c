/* Requantized residual ADD (FORMAT.md section 7):
 * out = clamp(floor(((a - zp_a) * M_a + (b - zp_b) * M_b + 2^(n-1)) / 2^n) + zp_out).
 * y may alias a or b (same index read before it is written). On Cortex-M (ecg_rt_dsp.h) the
 * zero points are folded into one 64-bit constant and the floor is GCC's arithmetic shift: the
 * same exact integer sum (|s| < 2^41, no overflow) and the same floor. */
#include "ecg_rt_internal.h"
#include "ecg_rt_dsp.h"

ecg_rt_status ecg_rt_add_s8(uint32_t n, const int8_t *a, int32_t zp_a, int32_t m_a,
                            const int8_t *b, int32_t zp_b, int32_t m_b, uint32_t shift,
                            int32_t zp_out, int32_t act_min, int32_t act_max, int8_t *y)
{
    const int64_t half = (int64_t)1 << (shift - 1u);
    uint32_t j;
    if (!a || !b || !y) return ECG_RT_E_NULL;
    if (shift < 1u || shift > 62u) return ECG_RT_E_OP;
#ifdef ECG_RT_DSP
    {
        const int64_t base = half - (int64_t)zp_a * m_a - (int64_t)zp_b * m_b;
        const int64_t lo = (int64_t)act_min - zp_out, hi = (int64_t)act_max - zp_out;
        if (shift >= 32u) { /* |s| < 2^41: the high word shifted is the whole quotient */
            const uint32_t sh = shift - 32u;
            for (j = 0; j < n; ++j) {
                int32_t o = ((int32_t)((base + (int64_t)a[j] * m_a + (int64_t)b[j] * m_b) >> 32) >> sh) + zp_out;
                o = o < act_min ? act_min : o;
                y[j] = (int8_t)(o > act_max ? act_max : o);
            }
            return ECG_RT_OK;
        }
        { /* the quotient fits 32 bits whenever its bound does: 32-bit clamp */
            const int64_t ma = m_a < 0 ? -(int64_t)m_a : m_a, mb = m_b < 0 ? -(int64_t)m_b : m_b;
            const int64_t bound = 128 * (ma + mb) + (base < 0 ? -base : base);
            if ((bound >> shift) < ((int64_t)1 << 30)) {
                for (j = 0; j < n; ++j) {
                    int32_t o = (int32_t)((base + (int64_t)a[j] * m_a + (int64_t)b[j] * m_b) >> shift) + zp_out;
                    o = o < act_min ? act_min : o;
                    y[j] = (int8_t)(o > act_max ? act_max : o);
                }
                return ECG_RT_OK;
            }
        }
        for (j = 0; j < n; ++j) {
            int64_t v = (base + (int64_t)a[j] * m_a + (int64_t)b[j] * m_b) >> shift;
            v = v < lo ? lo : v;
            y[j] = (int8_t)((v > hi ? hi : v) + zp_out);
        }
        return ECG_RT_OK;
    }
#endif
    for (j = 0; j < n; ++j) {
        int64_t s = (int64_t)(a[j] - zp_a) * m_a + (int64_t)(b[j] - zp_b) * m_b + half;
        y[j] = ecg_rt_clamp_s8(ecg_rt_floor_shift(s, shift) + zp_out, act_min, act_max);
    }
    return ECG_RT_OK;
}
