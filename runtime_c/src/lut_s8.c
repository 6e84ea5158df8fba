/* LUT (format version 3, FORMAT.md section 7): an elementwise int8 -> int8 function tabulated
 * by the packer over the 256 inputs, y = clamp(table[x + 128], act_min, act_max). The packer
 * writes the exactly rounded function on the int8 grid (GELU without polynomial error). */
#include "ecg_rt_transformer.h"

ecg_rt_status ecg_rt_lut_s8(const int8_t *table, int32_t act_min, int32_t act_max, uint32_t n,
                            const int8_t *x, int8_t *y)
{
    int8_t t[256];
    uint32_t j;
    if (!table || !x || !y) return ECG_RT_E_NULL;
    if (act_min < -128 || act_min > act_max || act_max > 127) return ECG_RT_E_OP;
    for (j = 0; j < 256u; ++j) {
        const int32_t v = table[j];
        t[j] = (int8_t)(v < act_min ? act_min : (v > act_max ? act_max : v));
    }
    for (j = 0; j < n; ++j) y[j] = t[(int32_t)x[j] + 128];
    return ECG_RT_OK;
}
