/* MAXPOOL1D: max over the window positions inside [0, in_len) (padding is never read; the
 * loader guarantees every window holds at least one), then the op's clamp. */
#include "ecg_rt_internal.h"

ecg_rt_status ecg_rt_maxpool1d_s8(const ecg_rt_pool_params *p, int32_t act_min, int32_t act_max,
                                  const int8_t *x, int8_t *y)
{
    uint32_t t, c;
    if (!p || !x || !y) return ECG_RT_E_NULL;
    for (t = 0; t < p->out_len; ++t) {
        int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
        int32_t end = start + (int32_t)p->kernel;
        int32_t pos;
        int8_t *yt = y + (size_t)t * p->ch;
        if (start < 0) start = 0;
        if (end > (int32_t)p->in_len) end = (int32_t)p->in_len;
        if (start >= end) return ECG_RT_E_OP;
        memcpy(yt, x + (size_t)start * p->ch, p->ch);
        for (pos = start + 1; pos < end; ++pos) {
            const int8_t *xp = x + (size_t)pos * p->ch;
            for (c = 0; c < p->ch; ++c)
                if (xp[c] > yt[c]) yt[c] = xp[c];
        }
        for (c = 0; c < p->ch; ++c) yt[c] = ecg_rt_clamp_s8(yt[c], act_min, act_max);
    }
    return ECG_RT_OK;
}
