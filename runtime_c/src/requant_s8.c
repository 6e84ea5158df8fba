/* THE rounding rule (FORMAT.md section 7): floor((v * M + 2^(n-1)) / 2^n), round half up.
 * `>>` of a negative signed value is implementation-defined in C99, so the floor shift of a
 * negative value is done on its one's complement, which is non-negative. */
#include "ecg_rt_internal.h"

int64_t ecg_rt_floor_shift(int64_t v, uint32_t n)
{
    return v >= 0 ? (v >> n) : ~((~v) >> n);
}

int64_t ecg_rt_rshift_round(int64_t v, int32_t mult, uint32_t n)
{
    /* Callers guarantee |v * M| + 2^(n-1) < 2^63 (the loader checks the bounds). */
    return ecg_rt_floor_shift(v * (int64_t)mult + ((int64_t)1 << (n - 1u)), n);
}

int8_t ecg_rt_clamp_s8(int64_t v, int32_t lo, int32_t hi)
{
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return (int8_t)v;
}

int8_t ecg_rt_requantize(int64_t acc, int32_t mult, uint32_t n, int32_t zp_out,
                         int32_t act_min, int32_t act_max)
{
    return ecg_rt_clamp_s8(ecg_rt_rshift_round(acc, mult, n) + zp_out, act_min, act_max);
}
