/* MAXPOOL1D: max over the window positions inside [0, in_len) (padding is never read; the
 * loader guarantees every window holds at least one), then the op's clamp. */
#include "ecg_rt_internal.h"
#include "ecg_rt_dsp.h"

#ifdef ECG_RT_DSP
/* Cortex-M, C % 4 == 0: 4 channels per word, byte-wise signed max with SSUB8 + SEL (the GE
 * flags of a - b pick a where a >= b), the clamp the same way against broadcast bounds. */
static void pool_words(const ecg_rt_pool_params *p, int32_t start, int32_t end, int32_t act_min, int32_t act_max,
                       const int8_t *x, int8_t *yt)
{
    const uint32_t lo = 0x01010101u * (uint8_t)act_min, hi = 0x01010101u * (uint8_t)act_max;
    const int clamp = act_min > -128 || act_max < 127;
    uint32_t c;
    for (c = 0; c < p->ch; c += 4u) {
        uint32_t m = ecg_rt_load4(x + (size_t)start * p->ch + c);
        int32_t pos;
        for (pos = start + 1; pos < end; ++pos) {
            const uint32_t v = ecg_rt_load4(x + (size_t)pos * p->ch + c);
            (void)__ssub8(v, m);
            m = __sel(v, m);
        }
        if (clamp) {
            (void)__ssub8(m, lo);
            m = __sel(m, lo);
            (void)__ssub8(m, hi);
            m = __sel(hi, m);
        }
        memcpy(yt + c, &m, 4);
    }
}
#endif

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
#ifdef ECG_RT_DSP
        if (p->ch % 4u == 0u) {
            pool_words(p, start, end, act_min, act_max, x, yt);
            continue;
        }
#endif
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
