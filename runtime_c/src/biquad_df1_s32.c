/* One direct-form-I biquad step of the device band-pass (FORMAT.md section 13).
 * Ranges: |x|, |x1|, |x2|, |y1|, |y2| <= 2^24 - 1 and |coef| < 2^31 (Q29, |c| < 4), so each
 * product is below 2^55 and the five-term int64 sum below 2^58. */
#include "ecg_rt_internal.h"
#include "ecg_edge_rt_stream.h"

#define ECG_RT_SAT24 ((int64_t)((1 << 24) - 1))

int32_t ecg_rt_biquad_df1_s32(const int32_t coef[5], int32_t st[4], int32_t x)
{
    int64_t acc = (int64_t)coef[0] * x + (int64_t)coef[1] * st[0] + (int64_t)coef[2] * st[1]
                - (int64_t)coef[3] * st[2] - (int64_t)coef[4] * st[3];
    int64_t y = ecg_rt_floor_shift(acc + ((int64_t)1 << 28), 29u);
    if (y > ECG_RT_SAT24) y = ECG_RT_SAT24;
    if (y < -ECG_RT_SAT24) y = -ECG_RT_SAT24;
    st[1] = st[0];
    st[0] = x;
    st[3] = st[2];
    st[2] = (int32_t)y;
    return (int32_t)y;
}
