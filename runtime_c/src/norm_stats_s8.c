/* Integer mean/variance of a set of N int8 values (FORMAT.md section 7, LAYERNORM/GROUPNORM).
 * d = N x - sum is N times the distance to the mean, exactly, so no division happens before
 * the square root: sd = isqrt(floor(sum d^2 / N) + eps) ~ N sigma. The zero point cancels. */
#include "ecg_rt_transformer.h"

void ecg_rt_norm_stats_s8(const int8_t *x, uint32_t rows, size_t row_stride, uint32_t width,
                          uint32_t eps, ecg_rt_norm_stats *st)
{
    uint32_t r, i;
    int64_t sum = 0;
    uint64_t ss = 0;
    const uint32_t n = rows * width;
    for (r = 0; r < rows; ++r)
        for (i = 0; i < width; ++i) sum += x[(size_t)r * row_stride + i];
    for (r = 0; r < rows; ++r)
        for (i = 0; i < width; ++i) {
            const int64_t d = (int64_t)n * x[(size_t)r * row_stride + i] - sum; /* |d| < 2^22 */
            ss += (uint64_t)(d * d);                                           /* < 2^58 total */
        }
    st->sum = sum;
    st->n = n;
    st->sd = ecg_rt_isqrt_u64(ss / n + eps);
}

int32_t ecg_rt_norm_z(int32_t x, const ecg_rt_norm_stats *st)
{
    const int64_t d = (int64_t)st->n * x - st->sum;
    const uint64_t ad = (uint64_t)(d < 0 ? -d : d);
    const uint64_t sd = st->sd;
    uint64_t z = ((ad << (ECG_RT_NORM_FRAC + 1u)) + sd) / (2u * sd);
    if (z > (uint64_t)ECG_RT_NORM_ZMAX) z = (uint64_t)ECG_RT_NORM_ZMAX;
    return d < 0 ? -(int32_t)z : (int32_t)z;
}
