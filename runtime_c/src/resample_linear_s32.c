/* Linear-interpolation resampling step (FORMAT.md section 13): the output at input position
 * i + phase/up is a + floor(((b - a) * w + 2^14) / 2^15), w = round_half_up(phase * 2^15 / up).
 * Ranges: |a|, |b| <= 2^24 - 1, phase < up <= 2^16: |(b - a) * w| < 2^41. */
#include "ecg_rt_internal.h"
#include "ecg_edge_rt_stream.h"

int32_t ecg_rt_resample_linear_s32(int32_t a, int32_t b, uint32_t phase, uint32_t up)
{
    int64_t w = (int64_t)(((uint64_t)phase * 32768u + up / 2u) / up);
    return (int32_t)(a + ecg_rt_floor_shift(((int64_t)b - a) * w + 16384, 15u));
}
