/* Index of the largest logit, first on ties. */
#include "ecg_rt_internal.h"

ecg_rt_status ecg_rt_argmax(const int8_t *logits, size_t n, uint32_t *out_index)
{
    size_t j, best = 0;
    if (!logits || !out_index) return ECG_RT_E_NULL;
    if (n == 0 || n > 0xFFFFFFFFu) return ECG_RT_E_SIZE;
    for (j = 1; j < n; ++j)
        if (logits[j] > logits[best]) best = j;
    *out_index = (uint32_t)best;
    return ECG_RT_OK;
}
