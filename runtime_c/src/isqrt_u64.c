/* floor(sqrt(v)) of a uint64, bit by bit (no float, no division): the integer square root of
 * the normalisation ops and of the device preprocessing's window z-score. */
#include "ecg_rt_internal.h"

uint32_t ecg_rt_isqrt_u64(uint64_t v)
{
    uint64_t r = 0, bit = (uint64_t)1 << 62;
    while (bit > v) bit >>= 2;
    while (bit) {
        if (v >= r + bit) {
            v -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)r;
}
