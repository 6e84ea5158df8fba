/* RELU: out = clamp(x, act_min, act_max); same quantization parameters as the input. */
#include "ecg_rt_internal.h"

ecg_rt_status ecg_rt_relu_s8(uint32_t n, int32_t act_min, int32_t act_max, const int8_t *x,
                             int8_t *y)
{
    uint32_t j;
    if (!x || !y) return ECG_RT_E_NULL;
    for (j = 0; j < n; ++j) y[j] = ecg_rt_clamp_s8(x[j], act_min, act_max);
    return ECG_RT_OK;
}
