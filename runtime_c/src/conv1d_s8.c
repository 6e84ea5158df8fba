/* CONV1D, int8 in/out, weights read from their packed form (FORMAT.md section 7).
 * groups = 1, or depthwise (groups = C_in = C_out, one input channel per output channel).
 * Loop order: output channel outer. A channel's non-zero weights are decoded once into a
 * stack chunk of (input offset, level) pairs and swept over every output position, so the
 * decode cost is paid once per channel and zero weights cost nothing. A channel with more
 * than ECG_RT_WCHUNK non-zeros is re-decoded chunk by chunk per output position. */
#include "ecg_rt_internal.h"

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && !defined(ECG_RT_NO_DSP)
/* Cortex-M DSP path (firmware builds only; helper F, measured by ecg_edge/sim). For groups = 1
 * and dilation = 1 an interior output position reads span = K * C_in CONTIGUOUS input bytes in
 * weight order (xoff == position in the channel), so a channel dense enough to be worth it is
 * expanded once into zero-filled int16 weight pairs and swept with SMLAD over two output
 * positions at a time: 4 bytes of input -> SXTB16 (even, odd lanes) -> 2 SMLADs. The sums are
 * the same int32 sums as the scalar path (integer addition is associative and the packer's
 * accumulator bound keeps every partial sum in range), so results are bit-exact; the host build
 * never defines __ARM_FEATURE_DSP and runs the scalar reference. */
#include <arm_acle.h>
#include <string.h>

#define ECG_RT_DSP 1
/* Weight pairs for span <= ECG_RT_WCHUNK: group g of 4 positions -> [w0 | w2 << 16], [w1 | w3 << 16]. */
#define DSP_PAIRS (ECG_RT_WCHUNK / 2u + 2u)

static void dsp_expand(const int32_t *xoff, const int8_t *val, uint32_t n, uint32_t span,
                       uint32_t *wpk)
{
    uint32_t j;
    memset(wpk, 0, sizeof(uint32_t) * 2u * ((span + 3u) / 4u));
    for (j = 0; j < n; ++j) {
        const uint32_t pos = (uint32_t)xoff[j], r = pos & 3u;
        wpk[2u * (pos >> 2) + (r & 1u)] |= (uint32_t)(uint16_t)(int16_t)val[j] << (16u * (r >> 1));
    }
}

/* SXTB16 of the odd bytes: one instruction (the compiler does not fold the rotation itself). */
static inline uint32_t sxtb16_odd(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* requantize for this path: GCC on ARM shifts negative signed values arithmetically (floor), so
 * the int64 floor shift of FORMAT.md section 7 is one shift here; same result as
 * ecg_rt_requantize (the rounding rule, round half up). */
static inline int8_t dsp_requantize(int32_t acc, int32_t mult, uint32_t n, int32_t zp_out,
                                    int32_t act_min, int32_t act_max)
{
    int64_t v = ((int64_t)acc * mult + ((int64_t)1 << (n - 1u))) >> n;
    int32_t o = (int32_t)v + zp_out;
    if (v < act_min - zp_out) o = act_min;
    if (v > act_max - zp_out) o = act_max;
    return (int8_t)o;
}

static inline uint32_t load4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* one unaligned LDR on v7-M / v8-M */
    return v;
}

/* acc[0] += w . x0[0..4*n4), acc[1] += w . x1[0..4*n4) */
static void dsp_dot2(const int8_t *x0, const int8_t *x1, const uint32_t *wpk, uint32_t n4,
                     int32_t *acc)
{
    int32_t s0 = acc[0], s1 = acc[1];
    uint32_t j;
    for (j = 0; j + 2u <= n4; j += 2u) { /* 16 MACs per iteration */
        const uint32_t a = load4(x0 + 4u * j), b = load4(x1 + 4u * j);
        const uint32_t c = load4(x0 + 4u * j + 4u), d = load4(x1 + 4u * j + 4u);
        const uint32_t we = wpk[2u * j], wo = wpk[2u * j + 1u];
        const uint32_t we2 = wpk[2u * j + 2u], wo2 = wpk[2u * j + 3u];
        s0 = __smlad(__sxtb16(a), we, s0);
        s0 = __smlad(sxtb16_odd(a), wo, s0);
        s1 = __smlad(__sxtb16(b), we, s1);
        s1 = __smlad(sxtb16_odd(b), wo, s1);
        s0 = __smlad(__sxtb16(c), we2, s0);
        s0 = __smlad(sxtb16_odd(c), wo2, s0);
        s1 = __smlad(__sxtb16(d), we2, s1);
        s1 = __smlad(sxtb16_odd(d), wo2, s1);
    }
    if (j < n4) {
        const uint32_t a = load4(x0 + 4u * j), b = load4(x1 + 4u * j);
        const uint32_t we = wpk[2u * j], wo = wpk[2u * j + 1u];
        s0 = __smlad(__sxtb16(a), we, s0);
        s0 = __smlad(sxtb16_odd(a), wo, s0);
        s1 = __smlad(__sxtb16(b), we, s1);
        s1 = __smlad(sxtb16_odd(b), wo, s1);
    }
    acc[0] = s0;
    acc[1] = s1;
}

static int32_t dsp_dot1(const int8_t *x0, const uint32_t *wpk, uint32_t n4, int32_t s0)
{
    uint32_t j;
    for (j = 0; j < n4; ++j) {
        const uint32_t a = load4(x0 + 4u * j);
        s0 = __smlad(__sxtb16(a), wpk[2u * j], s0);
        s0 = __smlad(sxtb16_odd(a), wpk[2u * j + 1u], s0);
    }
    return s0;
}
#endif

/* Output positions [lo, hi) whose window lies inside the input (no padding read). */
static void interior(const ecg_rt_conv_params *p, uint32_t *lo, uint32_t *hi)
{
    const int64_t reach = (int64_t)(p->kernel - 1u) * p->dilation;
    const int64_t last = (int64_t)p->in_len - 1 - reach + p->pad_left; /* t * stride <= last */
    *lo = (p->pad_left + p->stride - 1u) / p->stride;
    *hi = last < 0 ? 0u : (uint32_t)(last / p->stride) + 1u;
    if (*hi > p->out_len) *hi = p->out_len;
    if (*lo > *hi) *lo = *hi;
}

ecg_rt_status ecg_rt_conv1d_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                               const int8_t *x, int8_t *y)
{
    int32_t xoff[ECG_RT_WCHUNK];
    int8_t val[ECG_RT_WCHUNK];
#ifdef ECG_RT_DSP
    uint32_t wpk[DSP_PAIRS];
#endif
    ecg_rt_wcursor cur, saved;
    const int depthwise = p->groups > 1u;
    const uint32_t cin_g = depthwise ? 1u : p->in_ch;
    uint32_t c, t, lo, hi;

    if (!p || !wb || !x || !y) return ECG_RT_E_NULL;
    interior(p, &lo, &hi);
    ecg_rt_wcursor_init(&cur, wb, cin_g, p->dilation * p->in_ch);
    for (c = 0; c < p->out_ch; ++c) {
        const int32_t bias = ecg_rt_rdi32(wb->bias + 4u * (size_t)c);
        const int32_t mult = ecg_rt_rdi32(wb->mult + 4u * (size_t)c);
        const uint32_t shift = wb->shift[c];
        uint32_t n;
        if (c) ecg_rt_wcursor_channel(&cur, c, depthwise ? c : 0u);
        saved = cur;
        n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK);
        if (n < ECG_RT_WCHUNK || ecg_rt_wcursor_done(&cur)) {
#ifdef ECG_RT_DSP
            /* Dense-enough channel (>= 1/4 non-zero), contiguous windows: the SMLAD sweep. */
            if (!depthwise && p->dilation == 1u && wb->span <= ECG_RT_WCHUNK && 4u * n >= wb->span) {
                const uint32_t n4 = wb->span / 4u, head = 4u * n4;
                const int32_t xstep = (int32_t)(p->stride * p->in_ch);
                uint32_t tail = 0; /* entries at positions >= head: done scalar */
                while (tail < n && (uint32_t)xoff[tail] < head) ++tail;
                dsp_expand(xoff, val, n, wb->span, wpk);
                for (t = 0; t < p->out_len; ++t) {
                    const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
                    int32_t acc[2];
                    if (t < lo || t >= hi) {
                        acc[0] = ecg_rt_dot_border(bias, x, start, p->in_len, p->in_ch, p->dilation,
                                                   p->zp_in, xoff, val, n);
                    } else if (t + 1u < hi) {
                        const int8_t *xw = x + (size_t)start * p->in_ch;
                        acc[0] = bias;
                        acc[1] = bias;
                        dsp_dot2(xw, xw + xstep, wpk, n4, acc);
                        acc[0] = ecg_rt_dot_inside(acc[0], xw, xoff + tail, val + tail, n - tail);
                        acc[1] = ecg_rt_dot_inside(acc[1], xw + xstep, xoff + tail, val + tail, n - tail);
                        y[(size_t)t * p->out_ch + c] =
                            dsp_requantize(acc[0], mult, shift, p->zp_out, p->act_min, p->act_max);
                        ++t;
                        acc[0] = acc[1];
                    } else {
                        const int8_t *xw = x + (size_t)start * p->in_ch;
                        acc[0] = dsp_dot1(xw, wpk, n4, bias);
                        acc[0] = ecg_rt_dot_inside(acc[0], xw, xoff + tail, val + tail, n - tail);
                    }
                    y[(size_t)t * p->out_ch + c] =
                        dsp_requantize(acc[0], mult, shift, p->zp_out, p->act_min, p->act_max);
                }
                continue;
            }
#endif
            for (t = 0; t < p->out_len; ++t) {
                const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
                int32_t acc;
                if (t >= lo && t < hi)
                    acc = ecg_rt_dot_inside(bias, x + (size_t)start * p->in_ch, xoff, val, n);
                else
                    acc = ecg_rt_dot_border(bias, x, start, p->in_len, p->in_ch, p->dilation,
                                            p->zp_in, xoff, val, n);
                y[(size_t)t * p->out_ch + c] =
                    ecg_rt_requantize(acc, mult, shift, p->zp_out, p->act_min, p->act_max);
            }
        } else {
            for (t = 0; t < p->out_len; ++t) {
                const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
                int32_t acc = bias;
                cur = saved;
                while ((n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK)) != 0) {
                    if (t >= lo && t < hi)
                        acc = ecg_rt_dot_inside(acc, x + (size_t)start * p->in_ch, xoff, val, n);
                    else
                        acc = ecg_rt_dot_border(acc, x, start, p->in_len, p->in_ch, p->dilation,
                                                p->zp_in, xoff, val, n);
                }
                y[(size_t)t * p->out_ch + c] =
                    ecg_rt_requantize(acc, mult, shift, p->zp_out, p->act_min, p->act_max);
            }
        }
    }
    return ECG_RT_OK;
}
