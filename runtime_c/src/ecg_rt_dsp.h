/* Cortex-M DSP helpers for the CONV1D kernels (firmware builds only; helper F, measured with
 * `python -m ecg_edge.sim.profile` / ecg_edge.sim.bench). Active when the compiler targets a
 * core with the DSP extension in Thumb-2 (__ARM_FEATURE_DSP: Cortex-M4/M7/M33/M55) with GCC or
 * clang (inline assembly, arithmetic >> of negative values) unless ECG_RT_NO_DSP;
 * host builds never see it and run the scalar reference kernels.
 *
 * With groups = 1 and dilation = 1 an interior output position reads span = K * C_in
 * CONTIGUOUS input bytes in weight order, so a channel's weights are expanded once into
 * zero-filled int16 pairs and swept with SMLAD: 4 input bytes -> SXTB16 (even lanes, odd lanes)
 * -> 2 SMLADs, two output positions per weight load. The sums are the same int32 sums as the
 * scalar path (integer addition is associative and the packer's accumulator bound
 * |bias| + 128 * sum|w| < 2^31 keeps every partial sum in range), so results are bit-exact. */
#ifndef ECG_RT_DSP_H
#define ECG_RT_DSP_H

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && defined(__thumb2__) && \
    defined(__GNUC__) && !defined(ECG_RT_NO_DSP)
#define ECG_RT_DSP 1

#include <arm_acle.h>
#include <string.h>

#include "ecg_rt_internal.h"

/* Weight words for span <= ECG_RT_WCHUNK, two channels: group g of 4 positions ->
 * [w0 | w2 << 16], [w1 | w3 << 16] per channel. */
#define ECG_RT_DSP_WORDS (ECG_RT_WCHUNK + 8u)
/* Per-tap weight sums kept for kernels up to this size (border positions without a gather). */
#define ECG_RT_DSP_MAX_TAPS 32u

/* Expand a channel's decoded non-zeros (xoff == position p in the channel) into pairs at
 * wpk[stride * g + 0/1] for group g = p / 4 (stride 2: one channel; stride 4: two channels
 * interleaved, the second at wpk + 2). wpk must be zeroed by the caller. When tapsum is given,
 * also the sum of the weights of each tap k = p / cin (k < taps). */
static inline void ecg_rt_dsp_expand(const int32_t *xoff, const int8_t *val, uint32_t n, uint32_t *wpk,
                                     uint32_t stride, int32_t *tapsum, uint32_t cin, uint32_t taps)
{
    uint32_t j;
    if (tapsum) memset(tapsum, 0, sizeof(int32_t) * taps);
    for (j = 0; j < n; ++j) {
        const uint32_t pos = (uint32_t)xoff[j], r = pos & 3u;
        wpk[stride * (pos >> 2) + (r & 1u)] |= (uint32_t)(uint16_t)(int16_t)val[j] << (16u * (r >> 1));
        if (tapsum) tapsum[pos / cin] += val[j];
    }
}

/* SXTB16 of the odd bytes in one instruction (GCC does not fold the rotation itself). */
static inline uint32_t ecg_rt_sxtb16_odd(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static inline uint32_t ecg_rt_load4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* one (unaligned) LDR on v7-M / v8-M */
    return v;
}

/* FORMAT.md's requantize, same result as ecg_rt_requantize. GCC on ARM shifts negative signed
 * values arithmetically (floor), so the floor shift is a plain shift here. For the usual
 * n >= 32 only the high word of the int64 sum is shifted, and the zero point is added with a
 * saturating QADD (saturation at +-2^31 cannot change a clamp to an int8 range). */
static inline int8_t ecg_rt_dsp_requantize(int32_t acc, int32_t mult, uint32_t n, int32_t zp_out,
                                           int32_t act_min, int32_t act_max)
{
    const int64_t sum = (int64_t)acc * mult + ((int64_t)1 << (n - 1u));
    int32_t o;
    if (n >= 32u) {
        o = __qadd((int32_t)(sum >> 32) >> (n - 32u), zp_out);
    } else {
        const int64_t v = sum >> n;
        o = (int32_t)v + zp_out;
        if (v < (int64_t)act_min - zp_out) o = act_min;
        if (v > (int64_t)act_max - zp_out) o = act_max;
    }
    if (o < act_min) o = act_min;
    if (o > act_max) o = act_max;
    return (int8_t)o;
}

/* s[0] += w . x0[0..4*n4), s[1] += w . x1[0..4*n4) */
static inline void ecg_rt_dsp_dot2(const int8_t *x0, const int8_t *x1, const uint32_t *wpk,
                                   uint32_t n4, int32_t *s)
{
    int32_t s0 = s[0], s1 = s[1];
    uint32_t j;
    for (j = 0; j + 2u <= n4; j += 2u) { /* 16 MACs per iteration */
        const uint32_t a = ecg_rt_load4(x0 + 4u * j), b = ecg_rt_load4(x1 + 4u * j);
        const uint32_t c = ecg_rt_load4(x0 + 4u * j + 4u), d = ecg_rt_load4(x1 + 4u * j + 4u);
        const uint32_t we = wpk[2u * j], wo = wpk[2u * j + 1u];
        const uint32_t we2 = wpk[2u * j + 2u], wo2 = wpk[2u * j + 3u];
        s0 = __smlad(__sxtb16(a), we, s0);
        s0 = __smlad(ecg_rt_sxtb16_odd(a), wo, s0);
        s1 = __smlad(__sxtb16(b), we, s1);
        s1 = __smlad(ecg_rt_sxtb16_odd(b), wo, s1);
        s0 = __smlad(__sxtb16(c), we2, s0);
        s0 = __smlad(ecg_rt_sxtb16_odd(c), wo2, s0);
        s1 = __smlad(__sxtb16(d), we2, s1);
        s1 = __smlad(ecg_rt_sxtb16_odd(d), wo2, s1);
    }
    if (j < n4) {
        const uint32_t a = ecg_rt_load4(x0 + 4u * j), b = ecg_rt_load4(x1 + 4u * j);
        const uint32_t we = wpk[2u * j], wo = wpk[2u * j + 1u];
        s0 = __smlad(__sxtb16(a), we, s0);
        s0 = __smlad(ecg_rt_sxtb16_odd(a), wo, s0);
        s1 = __smlad(__sxtb16(b), we, s1);
        s1 = __smlad(ecg_rt_sxtb16_odd(b), wo, s1);
    }
    s[0] = s0;
    s[1] = s1;
}

/* Two channels (weights interleaved in wab, stride 4) x two positions (x0, x1):
 * s = {a.x0, a.x1, b.x0, b.x1}. Each input word is sign-extended once and used by both
 * channels: 16 MACs per 4 input bytes. */
/* Not inlined: inside the large kernel GCC spills the accumulators; alone it keeps all in registers. */
static __attribute__((noinline, unused)) void ecg_rt_dsp_dot2x2(const int8_t *x0, const int8_t *x1,
                                                                const uint32_t *wab, uint32_t n4, int32_t *s)
{
    int32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    uint32_t a, b, ae, be, w0, w1;
    if (n4 == 0u) return;
    /* 18 instructions per 16 MACs; GCC's own schedule needs 21-22 (it spills the loop bound). */
    __asm__ volatile(
        "1:\n"
        "ldr %[a], [%[x0]], #4\n"
        "ldr %[b], [%[x1]], #4\n"
        "ldrd %[w0], %[w1], [%[w]], #8\n"
        "sxtb16 %[ae], %[a]\n"
        "sxtb16 %[a], %[a], ror #8\n"
        "sxtb16 %[be], %[b]\n"
        "sxtb16 %[b], %[b], ror #8\n"
        "smlad %[s0], %[ae], %[w0], %[s0]\n"
        "smlad %[s0], %[a], %[w1], %[s0]\n"
        "smlad %[s1], %[be], %[w0], %[s1]\n"
        "smlad %[s1], %[b], %[w1], %[s1]\n"
        "ldrd %[w0], %[w1], [%[w]], #8\n"
        "smlad %[s2], %[ae], %[w0], %[s2]\n"
        "smlad %[s2], %[a], %[w1], %[s2]\n"
        "smlad %[s3], %[be], %[w0], %[s3]\n"
        "smlad %[s3], %[b], %[w1], %[s3]\n"
        "subs %[n], %[n], #1\n"
        "bne 1b\n"
        : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [x0] "+r"(x0), [x1] "+r"(x1),
          [w] "+r"(wab), [n] "+r"(n4), [a] "=&r"(a), [b] "=&r"(b), [ae] "=&r"(ae), [be] "=&r"(be),
          [w0] "=&r"(w0), [w1] "=&r"(w1)
        :
        : "cc", "memory");
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}

static inline int32_t ecg_rt_dsp_dot1(const int8_t *x0, const uint32_t *wpk, uint32_t stride,
                                      uint32_t n4, int32_t s0)
{
    uint32_t j;
    for (j = 0; j < n4; ++j) {
        const uint32_t a = ecg_rt_load4(x0 + 4u * j);
        s0 = __smlad(__sxtb16(a), wpk[stride * j], s0);
        s0 = __smlad(ecg_rt_sxtb16_odd(a), wpk[stride * j + 1u], s0);
    }
    return s0;
}

/* One channel, `count` output positions whose windows lie inside the input: window i starts at
 * xw + i * step, output i goes to yc[i * ystep]. The first 4*n4 weight positions come from wpk,
 * the decoded entries [tail, n) (positions >= 4*n4) are added with a scalar gather. */
typedef struct {
    const uint32_t *wpk;
    uint32_t n4;
    const int32_t *xoff_tail;
    const int8_t *val_tail;
    uint32_t n_tail;
    int32_t bias, mult;
    uint32_t shift;
    int32_t zp_out, act_min, act_max;
} ecg_rt_dsp_channel;

static inline void ecg_rt_dsp_sweep(const ecg_rt_dsp_channel *ch, const int8_t *xw, size_t step,
                                    uint32_t count, int8_t *yc, size_t ystep)
{
    uint32_t i = 0;
    for (; i + 2u <= count; i += 2u, xw += 2u * step, yc += 2u * ystep) {
        int32_t s[2];
        s[0] = ch->bias;
        s[1] = ch->bias;
        ecg_rt_dsp_dot2(xw, xw + step, ch->wpk, ch->n4, s);
        if (ch->n_tail) {
            s[0] = ecg_rt_dot_inside(s[0], xw, ch->xoff_tail, ch->val_tail, ch->n_tail);
            s[1] = ecg_rt_dot_inside(s[1], xw + step, ch->xoff_tail, ch->val_tail, ch->n_tail);
        }
        yc[0] = ecg_rt_dsp_requantize(s[0], ch->mult, ch->shift, ch->zp_out, ch->act_min, ch->act_max);
        yc[ystep] = ecg_rt_dsp_requantize(s[1], ch->mult, ch->shift, ch->zp_out, ch->act_min, ch->act_max);
    }
    if (i < count) {
        int32_t s0 = ecg_rt_dsp_dot1(xw, ch->wpk, 2u, ch->n4, ch->bias);
        if (ch->n_tail) s0 = ecg_rt_dot_inside(s0, xw, ch->xoff_tail, ch->val_tail, ch->n_tail);
        yc[0] = ecg_rt_dsp_requantize(s0, ch->mult, ch->shift, ch->zp_out, ch->act_min, ch->act_max);
    }
}

/* A border position (window crossing the padding, dilation 1, C_in % 4 == 0): SMLAD over the
 * taps inside [0, in_len) plus zp_in times the weight sum of the taps outside (padding reads the
 * input zero point), the same integer sum as the scalar gather. */
static inline int32_t ecg_rt_dsp_border(const int8_t *x, int32_t start, uint32_t in_len, uint32_t in_ch,
                                        uint32_t taps, int32_t zp_in, const uint32_t *wpk, uint32_t stride,
                                        const int32_t *tapsum, int32_t acc)
{
    const int32_t k0 = start < 0 ? -start : 0;
    const int32_t kend = (int32_t)in_len - start;
    const int32_t k1 = kend < (int32_t)taps ? (kend < k0 ? k0 : kend) : (int32_t)taps;
    int32_t k, outside = 0;
    for (k = 0; k < k0; ++k) outside += tapsum[k];
    for (k = k1; k < (int32_t)taps; ++k) outside += tapsum[k];
    acc += zp_in * outside;
    if (k1 > k0)
        acc = ecg_rt_dsp_dot1(x + (size_t)(start + k0) * in_ch, wpk + (size_t)k0 * in_ch / 4u * stride,
                              stride, (uint32_t)(k1 - k0) * in_ch / 4u, acc);
    return acc;
}

/* Index of the first decoded entry at a position >= head (entries are in position order). */
static inline uint32_t ecg_rt_dsp_tail(const int32_t *xoff, uint32_t n, uint32_t head)
{
    uint32_t t = 0;
    while (t < n && (uint32_t)xoff[t] < head) ++t;
    return t;
}

#endif /* DSP */
#endif /* ECG_RT_DSP_H */
