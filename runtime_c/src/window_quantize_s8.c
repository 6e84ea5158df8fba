/* Per-window z-score of one lead, quantized to the model input (FORMAT.md section 13):
 *   mu = floor((sum + N/2) / N), var = floor(sum (x - mu)^2 / N), sd = isqrt(var),
 *   k = bit_length(sd) - 1, M = floor(input_mult * 2^k / sd), n = input_shift + k,
 *   q = clamp(rshift_round(x - mu, M, n) + zp, -128, 127)   (sd = 0: q = zp).
 * Ranges: N <= 2^15 and |x| <= 2^24 - 1, so |sum| < 2^40, sum of squares < 2^63, |x - mu| < 2^25,
 * M <= input_mult < 2^31 and |v * M| < 2^56; input_shift + 24 <= 62 (checked when pp is read). */
#include "ecg_rt_internal.h"
#include "ecg_edge_rt_stream.h"

static int64_t floor_div(int64_t a, int64_t d)
{
    return a >= 0 ? a / d : -((-a + d - 1) / d);
}

ecg_rt_status ecg_rt_window_quantize_s8(const int32_t *ring, uint32_t window, uint32_t stride,
                                        uint32_t start, int32_t input_mult, uint32_t input_shift,
                                        int32_t zero_point, int8_t *out)
{
    int64_t sum = 0, mu, m;
    uint64_t sq = 0, sd;
    uint32_t t, idx, k = 0, n;
    if (!ring || !out) return ECG_RT_E_NULL;
    if (window < 1u || window > ECG_RT_STREAM_MAX_WINDOW || start >= window || stride < 1u)
        return ECG_RT_E_SIZE;
    for (t = 0, idx = start; t < window; ++t) {
        sum += ring[(size_t)idx * stride];
        if (++idx == window) idx = 0;
    }
    mu = floor_div(sum + (int64_t)(window / 2u), (int64_t)window);
    for (t = 0, idx = start; t < window; ++t) {
        int64_t v = ring[(size_t)idx * stride] - mu;
        sq += (uint64_t)(v * v);
        if (++idx == window) idx = 0;
    }
    sd = ecg_rt_isqrt_u64(sq / window);
    if (sd == 0u) {
        for (t = 0; t < window; ++t) out[(size_t)t * stride] = ecg_rt_clamp_s8(zero_point, -128, 127);
        return ECG_RT_OK;
    }
    while ((sd >> (k + 1u)) != 0u) ++k;
    m = (int64_t)(((uint64_t)(uint32_t)input_mult << k) / sd);
    n = input_shift + k;
    for (t = 0, idx = start; t < window; ++t) {
        int64_t v = ring[(size_t)idx * stride] - mu;
        out[(size_t)t * stride] = ecg_rt_clamp_s8(ecg_rt_rshift_round(v, (int32_t)m, n) + zero_point, -128, 127);
        if (++idx == window) idx = 0;
    }
    return ECG_RT_OK;
}
