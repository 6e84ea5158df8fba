/* CONV1D on Cortex-M with the DSP extension: output-stationary, register-blocked over a group of
 * ECG_RT_DSP_GROUP output channels (ecg_rt_dsp.h, ecg_rt_dsp_group). Ranges: groups = 1,
 * dilation = 1, span = K * C_in <= ECG_RT_WCHUNK; any C_in, stride, padding (C_in = 1 stems
 * included: the span is zero-padded to a multiple of 4 and a window is then 4*ceil(span/4)
 * contiguous bytes). Each channel's non-zero weights are decoded ONCE per call into int16
 * pairs interleaved across the group; one pass over an interior window then sign-extends each
 * 4 input bytes once (SXTB16) and feeds every channel of the group from it: 6 channels take 23
 * instructions per 24 MACs (1 load + 2 extends + 6 weight LDRDs + 12 SMLADs + loop), against
 * 18 per 16 of the earlier 2x2 block. Requantization uses the per-channel constants of
 * ecg_rt_dsp_rq (one SMLAL, a shift, a saturating add and the clamp).
 * Border windows: with C_in % 4 == 0 and K <= ECG_RT_DSP_MAX_TAPS SMLAD over the inside taps
 * plus zp_in times the outside taps' weight sums; otherwise a scalar walk of the int16 row.
 * Every path forms the same int32 sums as the scalar kernels (integer addition is associative
 * and the packer's bound |bias| + 128 * sum|w| < 2^31 holds for every partial sum): bit-exact. */
#include "ecg_rt_internal.h"
#include "ecg_rt_dsp.h"

#ifdef ECG_RT_DSP

/* One pass over 4 window bytes: load, sign-extend even and odd bytes once for every channel. */
#define DOT_HEAD "1:\n" "ldr %[a], [%[x]], #4\n" "sxtb16 %[ae], %[a]\n" "sxtb16 %[a], %[a], ror #8\n"

/* s[j] = b[j] + sum over the 4*n4 window bytes of x * w_j for the G channels interleaved in w. */
#define DOT_BODY4                                                                               \
    "ldrd %[w0], %[w1], [%[w]], #8\n" "smlad %[s0], %[ae], %[w0], %[s0]\n" "smlad %[s0], %[a], %[w1], %[s0]\n" \
    "ldrd %[w0], %[w1], [%[w]], #8\n" "smlad %[s1], %[ae], %[w0], %[s1]\n" "smlad %[s1], %[a], %[w1], %[s1]\n" \
    "ldrd %[w0], %[w1], [%[w]], #8\n" "smlad %[s2], %[ae], %[w0], %[s2]\n" "smlad %[s2], %[a], %[w1], %[s2]\n" \
    "ldrd %[w0], %[w1], [%[w]], #8\n" "smlad %[s3], %[ae], %[w0], %[s3]\n" "smlad %[s3], %[a], %[w1], %[s3]\n"

static __attribute__((noinline)) void dot1x6(const int8_t *x, const uint32_t *w, uint32_t n4, const int32_t *b,
                                             int32_t *s)
{
    int32_t s0 = b[0], s1 = b[1], s2 = b[2], s3 = b[3], s4 = b[4], s5 = b[5];
    uint32_t a, ae, w0, w1;
    __asm__ volatile(
        DOT_HEAD
        DOT_BODY4
        "ldrd %[w0], %[w1], [%[w]], #8\n" "smlad %[s4], %[ae], %[w0], %[s4]\n" "smlad %[s4], %[a], %[w1], %[s4]\n"
        "ldrd %[w0], %[w1], [%[w]], #8\n" "smlad %[s5], %[ae], %[w0], %[s5]\n" "smlad %[s5], %[a], %[w1], %[s5]\n"
        "subs %[n], %[n], #1\n"
        "bne 1b\n"
        : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [s4] "+r"(s4), [s5] "+r"(s5),
          [x] "+r"(x), [w] "+r"(w), [n] "+r"(n4), [a] "=&r"(a), [ae] "=&r"(ae), [w0] "=&r"(w0),
          [w1] "=&r"(w1)
        :
        : "cc", "memory");
    s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3; s[4] = s4; s[5] = s5;
}

static __attribute__((noinline)) void dot1x4(const int8_t *x, const uint32_t *w, uint32_t n4, const int32_t *b,
                                             int32_t *s)
{
    int32_t s0 = b[0], s1 = b[1], s2 = b[2], s3 = b[3];
    uint32_t a, ae, w0, w1;
    __asm__ volatile(
        DOT_HEAD
        DOT_BODY4
        "subs %[n], %[n], #1\n"
        "bne 1b\n"
        : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [x] "+r"(x), [w] "+r"(w),
          [n] "+r"(n4), [a] "=&r"(a), [ae] "=&r"(ae), [w0] "=&r"(w0), [w1] "=&r"(w1)
        :
        : "cc", "memory");
    s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
}

/* Weight of position q of slot j from the interleaved int16 pairs. */
static inline int32_t wat(const uint32_t *wpk, uint32_t width, uint32_t j, uint32_t q)
{
    const uint32_t word = wpk[2u * (width * (q >> 2) + j) + (q & 1u)];
    return (int32_t)(int16_t)(uint16_t)(word >> (16u * ((q >> 1) & 1u)));
}

/* Per-tap weight sums of slot j (C_in % 4 == 0: a tap is C_in / 4 whole pair groups). */
static __attribute__((noinline)) void tapsums(ecg_rt_dsp_group *g, uint32_t j, uint32_t cin, uint32_t taps)
{
    const uint32_t *w = g->wpk + 2u * j, step = 2u * g->width, per = cin / 4u;
    uint32_t k, i;
    for (k = 0; k < taps; ++k) {
        int32_t sum = 0;
        for (i = 0; i < per; ++i, w += step) sum = __smlad(w[0], 0x00010001u, __smlad(w[1], 0x00010001u, sum));
        g->tapsum[j][k] = sum;
    }
}

/* A border window of slot j: taps inside [0, in_len) from the input, outside ones read zp_in. */
static __attribute__((noinline)) int32_t border(const ecg_rt_dsp_group *g, uint32_t j, const ecg_rt_conv_params *p, const int8_t *x,
                      int32_t start)
{
    int32_t acc = g->bias[j];
    uint32_t q;
    if (g->tapsum_ok)
        return ecg_rt_dsp_border(x, start, p->in_len, p->in_ch, p->kernel, p->zp_in, g->wpk + 2u * j,
                                 2u * g->width, g->tapsum[j], acc);
    for (q = 0; q < g->span; ++q) {
        const int32_t pos = start + (int32_t)(q / p->in_ch);
        const int32_t xv = (pos >= 0 && (uint32_t)pos < p->in_len)
            ? (int32_t)x[start * (int32_t)p->in_ch + (int32_t)q] : p->zp_in;
        acc += wat(g->wpk, g->width, j, q) * xv;
    }
    return acc;
}

/* Requantize and store the group's sums for one output position. */
static __attribute__((noinline)) void store(const ecg_rt_dsp_group *g, const int32_t *s, int8_t *yt)
{
    const int32_t zp = g->zp, lo = g->lo, hi = g->hi;
    uint32_t j;
    if (g->slow) {
        for (j = 0; j < g->count; ++j)
            yt[g->channel[j]] = ecg_rt_dsp_requantize(s[j], g->mult[j], g->shift[j], zp, lo, hi);
        return;
    }
    if (lo == -128 && hi == 127) { /* no fused activation: the clamp is one SSAT */
        for (j = 0; j < g->count; ++j)
            yt[g->channel[j]] = (int8_t)__ssat(__qadd((int32_t)((g->rc[j] + (int64_t)s[j] * g->mult[j]) >> 32) >>
                                                      (g->shift[j] - 32u), zp), 8);
        return;
    }
    for (j = 0; j < g->count; ++j) {
        int32_t o = __qadd((int32_t)((g->rc[j] + (int64_t)s[j] * g->mult[j]) >> 32) >> (g->shift[j] - 32u), zp);
        o = o < lo ? lo : o;
        o = o > hi ? hi : o;
        yt[g->channel[j]] = (int8_t)o;
    }
}

#ifdef ECG_RT_MVE
/* Helium: the int8 rows of every slot (from the pair words), zero-padded to 16 lanes; slots
 * past count are zero rows with zero bias (computed, never stored). */
static __attribute__((noinline)) void rows_int8(ecg_rt_dsp_group *g)
{
    const uint32_t padded = (g->span + 15u) & ~15u, n4 = (g->span + 3u) / 4u, step = 2u * g->width;
    uint32_t j, k;
    for (j = 0; j < ECG_RT_DSP_GROUP; ++j) {
        int8_t *row = g->w8[j];
        k = 0;
        if (j < g->count) { /* [w0 | w2 << 16], [w1 | w3 << 16] -> bytes w0 w1 w2 w3 */
            const uint32_t *w = g->wpk + 2u * j;
            for (; k < n4; ++k, w += step) {
                const uint32_t b = (w[0] & 0x00FF00FFu) | ((w[1] & 0x00FF00FFu) << 8);
                memcpy(row + 4u * k, &b, 4);
            }
        } else {
            g->bias[j] = 0;
        }
        memset(row + 4u * k, 0, padded - 4u * k);
    }
}

/* Requantize the group's sums on 4-lane vectors (all shifts n >= 32): VMULH gives
 * floor(s * M / 2^32) and VRSHL by n - 32 adds 2^(n-33) before the floor shift, which is
 * floor((s * M + 2^(n-1)) / 2^n) (nested floors of exact divisions); n = 32 takes VRMULH,
 * floor((s * M + 2^31) / 2^32). Then the saturating zero-point add (as QADD), the clamp, and
 * a byte scatter to the slots' channels (lanes past count are not stored). */
static __attribute__((noinline)) void store_mve(const ecg_rt_dsp_group *g, const int32_t *s, int8_t *yt)
{
    const int32x4_t zp = vdupq_n_s32(g->zp), lo = vdupq_n_s32(g->lo), hi = vdupq_n_s32(g->hi);
    uint32_t j;
    for (j = 0; j < g->count; j += 4u) {
        const mve_pred16_t live = vctp32q(g->count - j);
        const int32x4_t acc = vldrwq_s32(s + j), m = vldrwq_s32(g->mvec + j);
        const int32x4_t fl = vrshlq_s32(vmulhq_s32(acc, m), vldrwq_s32(g->nsh + j));
        int32x4_t o = vpselq_s32(vrmulhq_s32(acc, m), fl, vcmpeqq_n_s32(vldrwq_s32(g->nsh + j), 0));
        o = vminq_s32(vmaxq_s32(vqaddq_s32(o, zp), lo), hi);
        vstrbq_scatter_offset_p_s32(yt, vldrwq_u32(g->off + j), o, live);
    }
}

#define MVE_STEP(xv, q)                                                                 \
    do {                                                                                \
        a0 = vmladavaq_s8(a0, xv, vldrbq_s8(g->w8[0] + (q)));                           \
        a1 = vmladavaq_s8(a1, xv, vldrbq_s8(g->w8[1] + (q)));                           \
        a2 = vmladavaq_s8(a2, xv, vldrbq_s8(g->w8[2] + (q)));                           \
        a3 = vmladavaq_s8(a3, xv, vldrbq_s8(g->w8[3] + (q)));                           \
        a4 = vmladavaq_s8(a4, xv, vldrbq_s8(g->w8[4] + (q)));                           \
        a5 = vmladavaq_s8(a5, xv, vldrbq_s8(g->w8[5] + (q)));                           \
    } while (0)

/* s[j] = bias_j + x . w8_j over the span for the 6 slots: each 16 input bytes are loaded once
 * and feed 6 VMLADAVAs (96 MACs); the window's last vector is loaded under a tail predicate (no
 * byte past the window is read). */
static __attribute__((noinline)) void dot_mve(const ecg_rt_dsp_group *g, const int8_t *x, int32_t *s)
{
    const uint32_t span = g->span, full = span & ~15u;
    int32_t a0 = g->bias[0], a1 = g->bias[1], a2 = g->bias[2], a3 = g->bias[3], a4 = g->bias[4], a5 = g->bias[5];
    uint32_t q;
    for (q = 0; q < full; q += 16u) {
        const int8x16_t xv = vldrbq_s8(x + q);
        MVE_STEP(xv, q);
    }
    if (q < span) {
        const int8x16_t xv = vldrbq_z_s8(x + q, vctp8q(span - q));
        MVE_STEP(xv, q);
    }
    s[0] = a0; s[1] = a1; s[2] = a2; s[3] = a3; s[4] = a4; s[5] = a5;
}
#endif

static void group_begin(ecg_rt_dsp_group *g, uint32_t width, uint32_t span, int tapsum_ok,
                                          const ecg_rt_conv_params *p)
{
    g->width = width;
    g->count = 0;
    g->span = span;
    g->tapsum_ok = (uint32_t)tapsum_ok;
    g->slow = 0;
    g->zp = p->zp_out;
    g->lo = p->act_min;
    g->hi = p->act_max;
    memset(g->wpk, 0, sizeof(uint32_t) * 2u * width * ((span + 3u) / 4u));
}

/* Take the next slot for output channel c; returns its (zeroed) weight column. */
static uint32_t *group_slot(ecg_rt_dsp_group *g, uint32_t c, int32_t bias, int32_t mult,
                                              uint32_t shift)
{
    const uint32_t j = g->count++;
    g->channel[j] = c;
    g->bias[j] = bias;
    g->mult[j] = mult;
    g->shift[j] = shift;
    g->rc[j] = (int64_t)1 << (shift - 1u);
    if (shift < 32u) g->slow = 1;
    return g->wpk + 2u * j;
}

/* The slot for channel c, opening a new group (width by the channels left) when none is open. */
uint32_t *ecg_rt_dsp_group_take(ecg_rt_dsp_group *g, const ecg_rt_conv_params *p, uint32_t span, int tapsum_ok,
                                uint32_t c, int32_t bias, int32_t mult, uint32_t shift)
{
    if (g->count == 0u) group_begin(g, ecg_rt_dsp_group_width(p->out_ch - c), span, tapsum_ok, p);
    return group_slot(g, c, bias, mult, shift);
}

/* The b-bit level at bit `at` of v (b, at compile-time constants: one SBFX); 1-bit levels (bit
 * set: +1, clear: -1) are ~(2 x the sign-extended bit). */
static inline __attribute__((always_inline)) int32_t level_of(uint32_t v, uint32_t at, const uint32_t b)
{
    const int32_t l = (int32_t)(v << (32u - at - b)) >> (32u - b);
    return b == 1u ? ~(int32_t)((uint32_t)l << 1) : l;
}

/* The two pair words of 4 b-bit levels at bits 0.. of v, each level times 2^k: 4 SBFX + 2 PKHBT
 * when b is a compile-time constant. */
static inline __attribute__((always_inline)) void pairs4(uint32_t *w, uint32_t v, const uint32_t b, uint32_t k)
{
    const int32_t l0 = level_of(v, 0u, b) * (1 << k), l1 = level_of(v, b, b) * (1 << k);
    const int32_t l2 = level_of(v, 2u * b, b) * (1 << k), l3 = level_of(v, 3u * b, b) * (1 << k);
    w[0] = ecg_rt_pkhbt((uint32_t)l0, (uint32_t)l2);
    w[1] = ecg_rt_pkhbt((uint32_t)l1, (uint32_t)l3);
}

/* n4 groups of 4 b-bit levels from bit `off` of the stream into pair words (stride `step`): one
 * load per group (two for b = 7, whose 28 bits may start at bit 7 of a byte). The caller keeps
 * every load inside the stream. */
static inline __attribute__((always_inline)) void unpack4(uint32_t *w, uint32_t step, const uint8_t *vals, uint32_t off,
                                                          uint32_t n4, const uint32_t b)
{
    uint32_t k;
    for (k = 0; k < n4; ++k, off += 4u * b, w += step) {
        uint32_t v;
        if (b == 7u) {
            uint64_t d;
            memcpy(&d, vals + (off >> 3), 8);
            v = (uint32_t)(d >> (off & 7u));
        } else {
            v = ecg_rt_load4((const int8_t *)vals + (off >> 3)) >> (off & 7u);
        }
        pairs4(w, v, b, 0u);
    }
}

/* b = 1, 2, 4 from a byte boundary (b a compile-time constant): one word load per 32 / (4b)
 * groups, SBFX for each level; returns the groups done. */
#ifndef __OPTIMIZE_SIZE__
static inline __attribute__((always_inline)) uint32_t unpack4_words(uint32_t *w, uint32_t step, const uint8_t *vals,
                                                                    uint32_t off, uint32_t n4, const uint32_t b)
{
    const int8_t *src = (const int8_t *)vals + (off >> 3);
    uint32_t k = 0;
    for (; k + 8u / b <= n4; k += 8u / b, src += 4) {
        uint32_t v = ecg_rt_load4(src), j;
        for (j = 0; j < 8u / b; ++j, v >>= 4u * b, w += step) pairs4(w, v, b, 0u);
    }
    return k;
}
#endif

#ifndef __OPTIMIZE_SIZE__
/* b = 3, 5, 6, 7 from a byte boundary (b a compile-time constant): two groups (8 levels, b
 * bytes) per pass from word loads at constant byte offsets, levels 0-3 from bit 0 of the first,
 * 4-7 from bit 4b - 8 (b / 2) of the one at byte b / 2 (b = 3: the same word, bit 12); no
 * per-group bit position. np passes, every load inside the stream (the caller's bound); returns
 * the groups done. */
static inline __attribute__((always_inline)) void strd2(uint32_t *w, uint32_t lo, uint32_t hi)
{
    __asm__ volatile("strd %1, %2, [%0]" : : "r"(w), "r"(lo), "r"(hi) : "memory");
}

/* 4 levels from bit `at` of v (constants) into one group's pair words, one STRD. */
static inline __attribute__((always_inline)) void pairs4_strd(uint32_t *w, uint32_t v, const uint32_t at, const uint32_t b)
{
    const int32_t l0 = level_of(v, at, b), l1 = level_of(v, at + b, b);
    const int32_t l2 = level_of(v, at + 2u * b, b), l3 = level_of(v, at + 3u * b, b);
    strd2(w, ecg_rt_pkhbt((uint32_t)l0, (uint32_t)l2), ecg_rt_pkhbt((uint32_t)l1, (uint32_t)l3));
}

static inline __attribute__((always_inline)) uint32_t unpack8_bytes(uint32_t *w, uint32_t step, const uint8_t *vals,
                                                                    uint32_t off, uint32_t np, const uint32_t b)
{
    const int8_t *src = (const int8_t *)vals + (off >> 3);
    uint32_t *w2 = w + step, i;
    for (i = np; i; --i, src += b, w += 2u * step, w2 += 2u * step) {
        const uint32_t v = ecg_rt_load4(src);
        pairs4_strd(w, v, 0u, b);
        if (b == 3u)
            pairs4_strd(w2, v, 12u, b);
        else
            pairs4_strd(w2, ecg_rt_load4(src + b / 2u), 4u * b - 8u * (b / 2u), b);
    }
    return 2u * np;
}

/* unpack8_bytes with the group stride STEP (words) a literal: both STRDs off one pointer. */
#define UNPACK8_PASS(w_, STEP, src_, o_, b)                                                          \
    do {                                                                                            \
        const uint32_t v_ = ecg_rt_load4(src_);                                                     \
        const uint32_t u_ = (b) == 3u ? v_ : ecg_rt_load4((src_) + (b) / 2u);                       \
        const uint32_t at_ = (b) == 3u ? 12u : 4u * (b) - 8u * ((b) / 2u);                          \
        uint32_t p0_ = ecg_rt_pkhbt((uint32_t)level_of(v_, 0u, b), (uint32_t)level_of(v_, 2u * (b), b));  \
        uint32_t p1_ = ecg_rt_pkhbt((uint32_t)level_of(v_, (b), b), (uint32_t)level_of(v_, 3u * (b), b)); \
        __asm__ volatile("strd %1, %2, [%0, %3]" : : "r"(w_), "r"(p0_), "r"(p1_), "i"(o_) : "memory"); \
        p0_ = ecg_rt_pkhbt((uint32_t)level_of(u_, at_, b), (uint32_t)level_of(u_, at_ + 2u * (b), b));     \
        p1_ = ecg_rt_pkhbt((uint32_t)level_of(u_, at_ + (b), b), (uint32_t)level_of(u_, at_ + 3u * (b), b)); \
        __asm__ volatile("strd %1, %2, [%0, %3]" : : "r"(w_), "r"(p0_), "r"(p1_), "i"((o_) + 4u * (STEP)) : "memory"); \
    } while (0)
/* np passes of two groups; eight passes an iteration (64 levels), then four, two, one; the stores off one pointer. */
#define UNPACK8_FIXED(w, STEP, vals, off, np, b)                                                     \
    do {                                                                                            \
        const int8_t *src_ = (const int8_t *)(vals) + ((off) >> 3);                                 \
        uint32_t *w_ = (w), i_;                                                                     \
        for (i_ = (np); i_ >= 8u; i_ -= 8u, src_ += 8u * (b), w_ += 16u * (STEP)) {  \
            UNPACK8_PASS(w_, STEP, src_, 0u, b);                                                    \
            UNPACK8_PASS(w_, STEP, src_ + (b), 8u * (STEP), b);                                     \
            UNPACK8_PASS(w_, STEP, src_ + 2u * (b), 16u * (STEP), b);                               \
            UNPACK8_PASS(w_, STEP, src_ + 3u * (b), 24u * (STEP), b);                               \
            UNPACK8_PASS(w_, STEP, src_ + 4u * (b), 32u * (STEP), b);                               \
            UNPACK8_PASS(w_, STEP, src_ + 5u * (b), 40u * (STEP), b);                               \
            UNPACK8_PASS(w_, STEP, src_ + 6u * (b), 48u * (STEP), b);                               \
            UNPACK8_PASS(w_, STEP, src_ + 7u * (b), 56u * (STEP), b);                               \
        }                                                                                           \
        for (; i_ >= 4u; i_ -= 4u, src_ += 4u * (b), w_ += 8u * (STEP)) {                           \
            UNPACK8_PASS(w_, STEP, src_, 0u, b);                                                    \
            UNPACK8_PASS(w_, STEP, src_ + (b), 8u * (STEP), b);                                     \
            UNPACK8_PASS(w_, STEP, src_ + 2u * (b), 16u * (STEP), b);                               \
            UNPACK8_PASS(w_, STEP, src_ + 3u * (b), 24u * (STEP), b);                               \
        }                                                                                           \
        if (i_ >= 2u) {                                                                             \
            UNPACK8_PASS(w_, STEP, src_, 0u, b);                                                    \
            UNPACK8_PASS(w_, STEP, src_ + (b), 8u * (STEP), b);                                     \
            i_ -= 2u, src_ += 2u * (b), w_ += 4u * (STEP);                                          \
        }                                                                                           \
        if (i_) UNPACK8_PASS(w_, STEP, src_, 0u, b);                                                \
    } while (0)

/* Passes of unpack8_bytes from byte `start` whose loads (reach bytes from a pass's first byte)
 * stay inside nbytes, at most n4 / 2. */
static inline uint32_t pairs_inside(uint32_t start, uint32_t nbytes, uint32_t b, uint32_t n4)
{
    const uint32_t reach = b == 3u ? 4u : b / 2u + 4u;
    const uint32_t np = start + reach <= nbytes ? (nbytes - start - reach) / b + 1u : 0u;
    return np < n4 / 2u ? np : n4 / 2u;
}
#endif

#ifndef __OPTIMIZE_SIZE__
/* Both pair words of a group in one STRD (GCC splits a 64-bit store to a uint32_t array). */
static inline __attribute__((always_inline)) void put2(uint32_t *w, uint32_t lo, uint32_t hi)
{
    __asm__ volatile("strd %1, %2, [%0]" : : "r"(w), "r"(lo), "r"(hi) : "memory");
}

/* SXTB16 of bytes 0 and 2 (odd = 0) or 1 and 3 (odd = 1) of p, kept in program order with the
 * stores (volatile): the passes below then hold fewer values in registers at once. */
static inline __attribute__((always_inline)) uint32_t ext16(uint32_t p, const uint32_t odd)
{
    uint32_t r;
    if (odd) __asm__ volatile("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(p));
    else __asm__ volatile("sxtb16 %0, %1" : "=r"(r) : "r"(p));
    return r;
}

/* P_i of one stream word: byte j holds level j * 8/b + i times 2^k in its top bits (mask: the
 * top b bits of each byte, 0x80808080 for 1-bit, in a register). */
static inline __attribute__((always_inline)) uint32_t p_of(uint32_t v, uint32_t mask, uint32_t i, const uint32_t b)
{
    return b == 1u ? ((v << (7u - i)) & mask) ^ 0xC0C0C0C0u : (v << (8u - b - i * b)) & mask;
}

/* The pair word [H(p1) | H(p2)] from the extended halves: both halves low (j >> 1 == 0) or
 * both high (j1 >> 1 == j2 >> 1 always). */
static inline __attribute__((always_inline)) uint32_t join(uint32_t a, uint32_t h, uint32_t high)
{
    return high ? ecg_rt_pkhtb(h, a) : ecg_rt_pkhbt(a, h);
}

/* put2 at group k (a constant) of stride step (a constant where inlined: scaled_channel's): one
 * STRD with an immediate offset, no pointer add per group. */
static inline __attribute__((always_inline)) void put2_at(uint32_t *w, const uint32_t step, const uint32_t k,
                                                          uint32_t lo, uint32_t hi)
{
    if (k == 0u) put2(w, lo, hi);
    else __asm__ volatile("strd %1, %2, [%0, %3]" : : "r"(w), "r"(lo), "r"(hi), "i"(4u * step * k) : "memory");
}

/* The pair words of the 32 / b levels of one stream word (b = 1, 2, 4, a compile-time constant),
 * each level times 2^k (k = 8 - b; 1-bit levels +-1: k = 6), so that every level is an int8
 * byte and SXTB16 does the sign extension: P_i = (v << (8 - b - i b)) & top-b-bits-of-each-byte
 * holds levels i, i + 8/b, i + 16/b, i + 24/b (1-bit: the bit at bit 7, then ^ 0xC0 gives
 * +-64); SXTB16 of P_i and of P_i ror 8 split them in pairs, and PKHBT / PKHTB put positions
 * (4g + e, 4g + e + 2) together: about 2 instructions a level, no SBFX per level.
 * Groups 0 .. ng - 1 (ng <= 8 / b) are stored. Position
 * p = j 8/b + i is byte j of P_i; group g's words pair positions (4g + e, 4g + e + 2).
 * 4-bit: both parities per group. 2-bit: group g reads bytes j = g of P_0..P_3, so the even
 * groups take SXTB16 and the odd ones SXTB16 ror 8. 1-bit: group g reads j = g / 2 of
 * P_{4(g&1)} .. P_{4(g&1)+3}: four passes of four extensions each. */
static inline __attribute__((always_inline)) void word_scaled(uint32_t *w, uint32_t step, const uint32_t k0, uint32_t v,
                                                              uint32_t mask, const uint32_t b, uint32_t ng)
{
    if (b == 4u) {
        const uint32_t p0 = p_of(v, mask, 0u, 4u), p1 = p_of(v, mask, 1u, 4u);
        const uint32_t a0 = ext16(p0, 0u), a1 = ext16(p1, 0u), b0 = ext16(p0, 1u), b1 = ext16(p1, 1u);
        if (ng > 0u) put2_at(w, step, k0 + 0u, join(a0, b0, 0u), join(a1, b1, 0u));
        if (ng > 1u) put2_at(w, step, k0 + 1u, join(a0, b0, 1u), join(a1, b1, 1u));
    } else if (b == 2u) {
        const uint32_t p0 = p_of(v, mask, 0u, 2u), p1 = p_of(v, mask, 1u, 2u);
        const uint32_t p2 = p_of(v, mask, 2u, 2u), p3 = p_of(v, mask, 3u, 2u);
        uint32_t odd;
#pragma GCC unroll 2
        for (odd = 0; odd < 2u; ++odd) {
            const uint32_t e0 = ext16(p0, odd), e1 = ext16(p1, odd), e2 = ext16(p2, odd), e3 = ext16(p3, odd);
            if (ng > odd) put2_at(w, step, k0 + odd, join(e0, e2, 0u), join(e1, e3, 0u));
            if (ng > odd + 2u) put2_at(w, step, k0 + odd + 2u, join(e0, e2, 1u), join(e1, e3, 1u));
        }
    } else {
        uint32_t h, odd;
#pragma GCC unroll 2
        for (h = 0; h < 2u; ++h) {
            const uint32_t p0 = p_of(v, mask, 4u * h, 1u), p1 = p_of(v, mask, 4u * h + 1u, 1u);
            const uint32_t p2 = p_of(v, mask, 4u * h + 2u, 1u), p3 = p_of(v, mask, 4u * h + 3u, 1u);
#pragma GCC unroll 2
            for (odd = 0; odd < 2u; ++odd) {
                const uint32_t g = h + 2u * odd; /* and g + 4 for the high halves */
                const uint32_t e0 = ext16(p0, odd), e1 = ext16(p1, odd), e2 = ext16(p2, odd), e3 = ext16(p3, odd);
                if (ng > g) put2_at(w, step, k0 + g, join(e0, e2, 0u), join(e1, e3, 0u));
                if (ng > g + 4u) put2_at(w, step, k0 + g + 4u, join(e0, e2, 1u), join(e1, e3, 1u));
            }
        }
    }
}

/* A column of b-bit levels (b = 1, 2, 4) from `vals` on, each times 2^k (word_scaled): whole
 * stream words inside the channel with word_scaled, then the whole groups of the remaining bytes
 * (all inside the channel) the same way, a last partial group level by level. */
static inline __attribute__((always_inline)) void fill_scaled(uint32_t *w, uint32_t step, uint32_t width,
                                                              const uint8_t *vals, uint32_t span, const uint32_t b)
{
    const uint32_t lpw = 32u / b, k = b == 1u ? 6u : 8u - b;
    const uint32_t words = span / lpw, rest = span - words * lpw, bytes = (rest * b + 7u) / 8u;
    uint32_t i, v = 0, mask = b == 1u ? 0x80808080u : ((0xFFu << (8u - b)) & 0xFFu) * 0x01010101u;
    __asm__("" : "+r"(mask)); /* in a register: AND with a shifted operand, one instruction per P_i */
    for (i = 0; b != 1u && i + 4u <= words; i += 4u, w += 4u * step * (lpw / 4u)) { /* 2/4-bit: four words a pass */
        word_scaled(w, step, 0u, ecg_rt_load4((const int8_t *)vals + 4u * i), mask, b, 8u / b);
        word_scaled(w, step, lpw / 4u, ecg_rt_load4((const int8_t *)vals + 4u * i + 4), mask, b, 8u / b);
        word_scaled(w, step, 2u * (lpw / 4u), ecg_rt_load4((const int8_t *)vals + 4u * i + 8), mask, b, 8u / b);
        word_scaled(w, step, 3u * (lpw / 4u), ecg_rt_load4((const int8_t *)vals + 4u * i + 12), mask, b, 8u / b);
    }
    while (i + 2u <= words) { /* 1-bit: every pair of words; 2/4-bit: at most one */
        word_scaled(w, step, 0u, ecg_rt_load4((const int8_t *)vals + 4u * i), mask, b, 8u / b);
        word_scaled(w, step, lpw / 4u, ecg_rt_load4((const int8_t *)vals + 4u * i + 4), mask, b, 8u / b);
        i += 2u;
        w += 2u * step * (lpw / 4u);
    }
    if (i < words) {
        word_scaled(w, step, 0u, ecg_rt_load4((const int8_t *)vals + 4u * i), mask, b, 8u / b);
        w += step * (lpw / 4u);
    }
    if (!rest) return;
    for (i = 0; i < bytes; ++i) v |= (uint32_t)vals[4u * words + i] << (8u * i);
    word_scaled(w, step, 0u, v, mask, b, rest / 4u);
    w += step * (rest / 4u);
    v >>= 4u * b * (rest / 4u);
    for (i = 0; i < rest % 4u; ++i, v >>= b) ecg_rt_dsp_put(w, width, i, level_of(v, 0u, b) * (1 << k));
}

#endif

/* A column straight from channel c of a DENSE block: 8-bit levels 4 at a time (one word, two
 * SXTB16: already the pair layout), narrower ones 4 at a time from one load, each unpacked once;
 * groups whose load would pass the end of the stream and the last partial group go through the
 * bit reader. */
#ifndef __OPTIMIZE_SIZE__
/* Pre-scaling of a b-bit channel (b = 1, 2, 4, starting on a byte): the accumulator becomes
 * 2^k acc (k = 8 - b, 6 for 1-bit levels +-1) and the shift n + k, exact since
 * floor((2^k acc M + 2^(n+k-1)) / 2^(n+k)) = floor((acc M + 2^(n-1)) / 2^n). Legal when n + k
 * stays in FORMAT.md's 1..62 (the int64 requantization sum keeps its range) and every partial
 * sum fits int32: each scaled level has |2^k l| <= 128 and each input byte |x| <= 128, so
 * |2^k bias| + 2^14 span < 2^31 bounds them. */
/* Channel c of b-bit levels (b = 1, 2, 4, a compile-time constant) pre-scaled into slot j's
 * column (the slot just taken) where legal; returns 0 where not. */
static inline __attribute__((always_inline)) int scaled_channel(ecg_rt_dsp_group *g, uint32_t *w,
                                                                const ecg_rt_wblock *wb, uint32_t c, const uint32_t b,
                                                                const uint32_t span)
{
    const uint32_t j = g->count - 1u, k = b == 1u ? 6u : 8u - b, off = c * span * b;
    const int32_t bias = g->bias[j];
    const uint32_t mag = bias < 0 ? 0u - (uint32_t)bias : (uint32_t)bias; /* span <= ECG_RT_WCHUNK */
    if ((off & 7u) != 0u || g->shift[j] + k > 62u || mag > (0x7FFFFFFFu - (span << 14)) >> k) return 0;
    g->bias[j] = bias * (1 << k); /* |bias| 2^k < 2^31: checked */
    g->shift[j] += k;
    g->rc[j] <<= k; /* 2^(n+k-1) */
    if (g->width == ECG_RT_DSP_GROUP) /* the group width a constant: stores at fixed offsets */
        fill_scaled(w, 2u * ECG_RT_DSP_GROUP, ECG_RT_DSP_GROUP, wb->values + (off >> 3), span, b);
    else
        fill_scaled(w, 8u, 4u, wb->values + (off >> 3), span, b);
    return 1;
}
#endif

#ifndef __OPTIMIZE_SIZE__
/* A 3-, 5-, 6- or 7-bit channel of a layer with span % 8 == 0 and every channel's levels inside
 * the stream (whole_ok, checked once a layer by ecg_rt_dsp_dense_fill; otherwise fill_narrow
 * runs): the whole channel two groups a pass with no other set-up (the group width a constant
 * where it is 6). */
static inline __attribute__((always_inline)) void narrow_whole(const ecg_rt_dsp_group *g, uint32_t *w,
                                                               const ecg_rt_wblock *wb, uint32_t c, const uint32_t b)
{
    const uint32_t span = g->span, off = c * span * b, np = span / 8u, start = off >> 3;
    uint32_t last;
    /* A pass reads b + 1 bytes (7-bit: b): where the channel ends the stream, its last pass reads
     * from a zero-padded copy of its b bytes. */
    last = start + np * b + (b == 7u ? 0u : 1u) > wb->values_bytes;
#define NW1(STEP)                                                                                   \
    do {                                                                                            \
        UNPACK8_FIXED(w, STEP, wb->values, off, np - last, b);                                      \
        if (last) {                                                                                 \
            uint8_t t_[8] = {0};                                                                    \
            memcpy(t_, wb->values + start + (np - 1u) * b, b);                                      \
            UNPACK8_FIXED(w + 2u * (STEP) * (np - 1u), STEP, t_, 0u, 1u, b);                        \
        }                                                                                           \
    } while (0)
    if (g->width == ECG_RT_DSP_GROUP) NW1(2u * ECG_RT_DSP_GROUP);
    else NW1(8u);
#undef NW1
}
#endif

/* 1..7-bit levels (below). */
static __attribute__((noinline)) void fill_narrow(ecg_rt_dsp_group *g, uint32_t *w, const ecg_rt_wblock *wb,
                                                  uint32_t c);

#ifndef __OPTIMIZE_SIZE__ /* -Os: fill_narrow only, the plain levels, the smaller code */
/* 1..7-bit channels, one small frame per width b (a constant; ecg_rt_dsp_dense_fill picks it once
 * a layer): the pre-scaled unpack (1, 2, 4 bits; fill_narrow where it does not apply) or
 * narrow_whole (3, 5, 6, 7). */
#define SUB8_SCALED(b)                                                                              \
    static __attribute__((noinline)) void sub8_##b(ecg_rt_dsp_group *g, uint32_t *w, const ecg_rt_wblock *wb, \
                                                   uint32_t c)                                      \
    {                                                                                               \
        if (!scaled_channel(g, w, wb, c, b##u, g->span)) fill_narrow(g, w, wb, c);                  \
    }
/* The same for layers of span n (16, 32: short and 1x1 channels; picked once a layer by
 * ecg_rt_dsp_dense_fill), the span a constant: no loop or tail set-up, no alignment test. */
#define SUB8_SPAN(b, n)                                                                             \
    static __attribute__((noinline)) void sub8_##b##_s##n(ecg_rt_dsp_group *g, uint32_t *w,           \
                                                          const ecg_rt_wblock *wb, uint32_t c)      \
    {                                                                                               \
        if (g->span != n##u) sub8_##b(g, w, wb, c);                                                 \
        else if (!scaled_channel(g, w, wb, c, b##u, n##u)) fill_narrow(g, w, wb, c);                \
    }
#define SUB8_WHOLE(b)                                                                               \
    static __attribute__((noinline)) void sub8_##b(ecg_rt_dsp_group *g, uint32_t *w, const ecg_rt_wblock *wb, \
                                                   uint32_t c)                                      \
    {                                                                                               \
        narrow_whole(g, w, wb, c, b##u);                                                            \
    }
SUB8_SCALED(1) SUB8_SCALED(2) SUB8_SCALED(4) SUB8_WHOLE(3) SUB8_WHOLE(5) SUB8_WHOLE(6) SUB8_WHOLE(7)
SUB8_SPAN(1, 16) SUB8_SPAN(1, 32) SUB8_SPAN(2, 16) SUB8_SPAN(2, 32) SUB8_SPAN(4, 16) SUB8_SPAN(4, 32)
#undef SUB8_SPAN
#undef SUB8_SCALED
#undef SUB8_WHOLE
#endif

#ifndef __OPTIMIZE_SIZE__
/* 8-bit levels 4 at a time (one word, two SXTB16: already the pair layout): ecg_rt_dsp_fill_dense's
 * int8 loop. */
static void fill_int8(ecg_rt_dsp_group *g, uint32_t *w, const ecg_rt_wblock *wb, uint32_t c)
{
    const uint32_t span = g->span, step = 2u * g->width;
    uint32_t q = 0;
    const int8_t *v = (const int8_t *)wb->values + (size_t)c * span;
    for (; q + 4u <= span; q += 4u, v += 4, w += step) {
        const uint32_t word = ecg_rt_load4(v);
        w[0] = __sxtb16(word);
        w[1] = ecg_rt_sxtb16_odd(word);
    }
    for (; q < span; ++q, ++v) ecg_rt_dsp_put(w, g->width, q & 3u, *v);
}

/* narrow_whole's condition, once a layer: span % 8 == 0 (every channel starts on a byte) and
 * every channel's levels inside the stream. */
static int whole_ok(const ecg_rt_wblock *wb, uint32_t b)
{
    return wb->span != 0u && wb->span % 8u == 0u && (uint64_t)wb->c_out * (wb->span / 8u) * b <= wb->values_bytes;
}

ecg_rt_dsp_fill_fn ecg_rt_dsp_dense_fill(const ecg_rt_wblock *wb)
{
    switch (wb->bits) {
    case 1u: return wb->span == 32u ? sub8_1_s32 : wb->span == 16u ? sub8_1_s16 : sub8_1;
    case 2u: return wb->span == 32u ? sub8_2_s32 : wb->span == 16u ? sub8_2_s16 : sub8_2;
    case 3u: return whole_ok(wb, 3u) ? sub8_3 : fill_narrow;
    case 4u: return wb->span == 32u ? sub8_4_s32 : wb->span == 16u ? sub8_4_s16 : sub8_4;
    case 5u: return whole_ok(wb, 5u) ? sub8_5 : fill_narrow;
    case 6u: return whole_ok(wb, 6u) ? sub8_6 : fill_narrow;
    case 7u: return whole_ok(wb, 7u) ? sub8_7 : fill_narrow;
    case 8u: return fill_int8;
    default: return fill_narrow;
    }
}
#endif

void ecg_rt_dsp_fill_dense(ecg_rt_dsp_group *g, uint32_t *w, const ecg_rt_wblock *wb, uint32_t c)
#ifndef __OPTIMIZE_SIZE__
{
    ecg_rt_dsp_dense_fill(wb)(g, w, wb, c);
}
#else
{
    const uint32_t span = g->span, step = 2u * g->width;
    uint32_t q = 0;
    const int8_t *v = (const int8_t *)wb->values + (size_t)c * span;
    if (wb->bits != 8u) {
        fill_narrow(g, w, wb, c);
        return;
    }
    for (; q + 4u <= span; q += 4u, v += 4, w += step) {
        const uint32_t word = ecg_rt_load4(v);
        w[0] = __sxtb16(word);
        w[1] = ecg_rt_sxtb16_odd(word);
    }
    for (; q < span; ++q, ++v) ecg_rt_dsp_put(w, g->width, q & 3u, *v);
}
#endif

static void fill_narrow(ecg_rt_dsp_group *g, uint32_t *w, const ecg_rt_wblock *wb, uint32_t c)
{
    const uint32_t span = g->span, step = 2u * g->width;
    uint32_t q = 0;
    {
        const uint32_t bits = wb->bits, off = c * span * bits, reach = bits == 7u ? 8u : 4u;
        const uint32_t last = wb->values_bytes >= reach ? 8u * (wb->values_bytes - reach) : 0u; /* loads up to here */
        uint32_t n4 = span / 4u, fast, done = 0;
        ecg_rt_bitreader br;
        fast = wb->values_bytes < reach || off > last ? 0u : (last - off) / (4u * bits) + 1u;
        if (fast > n4) fast = n4;
#ifndef __OPTIMIZE_SIZE__ /* -Os: one load per group for every width, the smaller code */
        if ((off & 7u) == 0u) {
            if (bits == 1u) done = unpack4_words(w, step, wb->values, off, fast, 1u);
            else if (bits == 2u) done = unpack4_words(w, step, wb->values, off, fast, 2u);
            else if (bits == 4u) done = unpack4_words(w, step, wb->values, off, fast, 4u);
            else {
                const uint32_t np = pairs_inside(off >> 3, wb->values_bytes, bits, n4);
                switch (bits) {
                case 3u: done = unpack8_bytes(w, step, wb->values, off, np, 3u); break;
                case 5u: done = unpack8_bytes(w, step, wb->values, off, np, 5u); break;
                case 6u: done = unpack8_bytes(w, step, wb->values, off, np, 6u); break;
                case 7u: done = unpack8_bytes(w, step, wb->values, off, np, 7u); break;
                default: break;
                }
                if (4u * done == span) return; /* the whole channel */
                if (fast < done) fast = done; /* done groups need no more loads */
            }
        }
#endif
#ifndef __OPTIMIZE_SIZE__ /* the width a compile-time constant: SBFX per level */
        switch (bits) {
        case 3u: unpack4(w + (size_t)step * done, step, wb->values, off + 12u * done, fast - done, 3u); break;
        case 5u: unpack4(w + (size_t)step * done, step, wb->values, off + 20u * done, fast - done, 5u); break;
        case 6u: unpack4(w + (size_t)step * done, step, wb->values, off + 24u * done, fast - done, 6u); break;
        case 7u: unpack4(w + (size_t)step * done, step, wb->values, off + 28u * done, fast - done, 7u); break;
        default: unpack4(w + (size_t)step * done, step, wb->values, off + 4u * bits * done, fast - done, bits); break;
        }
#else
        unpack4(w + (size_t)step * done, step, wb->values, off + 4u * bits * done, fast - done, bits);
#endif
        q = 4u * fast;
        w += (size_t)step * fast;
        ecg_rt_bitreader_init(&br, wb->values, (uint64_t)off + (uint64_t)q * bits);
        for (; q < span; ++q) ecg_rt_dsp_put(w, g->width, q - 4u * fast, ecg_rt_br_next(&br, bits));
    }
}

/* A column from a channel's decoded non-zeros (xoff = position in the channel). */
void ecg_rt_dsp_fill_decoded(const ecg_rt_dsp_group *g, uint32_t *w, const int32_t *xoff, const int8_t *val,
                             uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; ++i) ecg_rt_dsp_put(w, g->width, (uint32_t)xoff[i], val[i]);
}


/* The b-bit level at bit `vbit` of the stream: one unaligned load while 4 bytes remain, else the
 * bit reader's byte walk. */
static __attribute__((noinline)) int32_t level_tail(const uint8_t *vals, uint32_t vbit, uint32_t b)
{
    ecg_rt_bitreader br;
    ecg_rt_bitreader_init(&br, vals, vbit);
    return ecg_rt_br_next(&br, b);
}

static inline __attribute__((always_inline)) int32_t level_at(const uint8_t *vals, uint32_t nbytes, uint32_t vbit, uint32_t b)
{
    int32_t l;
    uint32_t v;
    if ((vbit >> 3) + 4u > nbytes) return level_tail(vals, vbit, b);
    v = ecg_rt_load4((const int8_t *)vals + (vbit >> 3)) >> (vbit & 7u);
    l = (int32_t)(v << (32u - b)) >> (32u - b);
    return b == 1u ? ~(int32_t)((uint32_t)l << 1) : l;
}

/* Byte offset of position q's halfword in a slot's column: [w0 | w2], [w1 | w3] per 4 positions. */
static const uint8_t half_of[4] = {0u, 4u, 2u, 6u};

static inline void put_half(uint8_t *col, uint32_t gstep, uint32_t q, int32_t level)
{
    const uint16_t v = (uint16_t)level;
    memcpy(col + gstep * (q >> 2) + half_of[q & 3u], &v, 2); /* one STRH: the column is zero-filled */
}

#ifndef __OPTIMIZE_SIZE__
/* [lo | hi << 16] of two levels, either known zero (has_*: compile-time constants). */
static inline __attribute__((always_inline)) uint32_t pair_of(const uint32_t has_lo, int32_t lo, const uint32_t has_hi,
                                                              int32_t hi)
{
    if (has_lo && has_hi) return ecg_rt_pkhbt((uint32_t)lo, (uint32_t)hi);
    if (has_lo) return (uint32_t)lo & 0xFFFFu;
    if (has_hi) return (uint32_t)hi << 16;
    return 0u;
}


/* The two pair words of 4 positions whose mask nibble is m (a compile-time constant), the set
 * positions taking the b-bit levels at bits 0, b, 2b, .. of v in order. */
static inline __attribute__((always_inline)) void nibble(uint32_t *w, uint32_t v, const uint32_t m, const uint32_t b)
{
    const int32_t l0 = level_of(v, 0u, b);
    const int32_t l1 = level_of(v, b * (m & 1u), b);
    const int32_t l2 = level_of(v, b * __builtin_popcount(m & 3u), b);
    const int32_t l3 = level_of(v, b * __builtin_popcount(m & 7u), b);
    w[0] = pair_of(m & 1u, l0, m & 4u, l2);
    w[1] = pair_of(m & 2u, l1, m & 8u, l3);
}

/* 32 stream bits from bit vbit, bytes past the stream's end read as 0 (the last levels). */
static uint32_t bits_tail(const uint8_t *vals, uint32_t nbytes, uint32_t vbit)
{
    uint64_t d = 0;
    uint32_t i;
    for (i = 0; i < 5u && (vbit >> 3) + i < nbytes; ++i) d |= (uint64_t)vals[(vbit >> 3) + i] << (8u * i);
    return (uint32_t)(d >> (vbit & 7u));
}

#define NIB(m) case m: nibble(w, v, m, bits); vbit += bits * __builtin_popcount(m); break;
#define NIBBLES(b)                                                                                  \
    switch (m) {                                                                                    \
    NIB(0u) NIB(1u) NIB(2u) NIB(3u) NIB(4u) NIB(5u) NIB(6u) NIB(7u)                                 \
    NIB(8u) NIB(9u) NIB(10u) NIB(11u) NIB(12u) NIB(13u) NIB(14u) default: NIB(15u)                  \
    }

/* One nibble with the width a variable (the few nibbles next to the stream's end). */
static __attribute__((noinline)) uint32_t nibble_tail(uint32_t *w, const uint8_t *vals, uint32_t nbytes, uint32_t vbit,
                                                      uint32_t m, uint32_t bits)
{
    const uint32_t v = bits_tail(vals, nbytes, vbit);
    int32_t l[4];
    uint32_t i, r = 0;
    for (i = 0; i < 4u; ++i) {
        l[i] = 0;
        if ((m >> i) & 1u) {
            l[i] = (int32_t)(v << (32u - bits * (r + 1u))) >> (32u - bits);
            if (bits == 1u) l[i] = ~(int32_t)((uint32_t)l[i] << 1);
            ++r;
        }
    }
    w[0] = ecg_rt_pkhbt((uint32_t)l[0], (uint32_t)l[2]);
    w[1] = ecg_rt_pkhbt((uint32_t)l[1], (uint32_t)l[3]);
    return vbit + bits * r;
}

/* 4 b-bit levels from bit vbit (a whole nibble's worth), 5 bytes readable there. */
static inline __attribute__((always_inline)) uint32_t bits_at(const uint8_t *vals, uint32_t vbit, const uint32_t bits)
{
    uint32_t v;
    if (bits == 8u) return ecg_rt_load4((const int8_t *)vals + (vbit >> 3));
    v = ecg_rt_load4((const int8_t *)vals + (vbit >> 3)) >> (vbit & 7u);
    if (bits == 7u) v |= ((uint32_t)vals[(vbit >> 3) + 4u] << 1) << (31u - (vbit & 7u)); /* 28 + 7 bits */
    return v;
}

/* Stores at a constant byte offset from one base register (GCC otherwise keeps a pointer per
 * store in the 256-way dispatch below). */
static inline __attribute__((always_inline)) void st1(uint32_t *w, const uint32_t off, uint32_t a)
{
    __asm__ volatile("str %1, [%0, %2]" : : "r"(w), "r"(a), "i"(off) : "memory");
}

/* One halfword (a pair word's one level; the column is zero-filled) at byte offset off from w. */
#define STH(w, off, l) __asm__ volatile("strh %1, [%0, %2]" : : "r"(w), "r"(l), "i"(off) : "memory")

/* The levels of nibble m's set positions (a compile-time constant m; levels packed from bit `at`
 * of v, b bits each) and its two pair words (positions 0 and 2, 1 and 3), for the stores below. */
typedef struct {
    int32_t l[4];
    uint32_t a, c;
} nib_levels;
static inline __attribute__((always_inline)) nib_levels nibble_levels(uint32_t v, const uint32_t m, const uint32_t at,
                                                                      const uint32_t b)
{
    nib_levels n;
    n.l[0] = level_of(v, at, b);
    n.l[1] = level_of(v, at + b * (m & 1u), b);
    n.l[2] = level_of(v, at + b * (uint32_t)__builtin_popcount(m & 3u), b);
    n.l[3] = level_of(v, at + b * (uint32_t)__builtin_popcount(m & 7u), b);
    n.a = pair_of(m & 1u, n.l[0], m & 4u, n.l[2]);
    n.c = pair_of(m & 2u, n.l[1], m & 8u, n.l[3]);
    return n;
}

/* nibble_at with the stores at byte offset boff (a constant) from w; a pair word holding one
 * level is stored as that level's halfword (STRH, no UXTH / LSL), unless it shares an STRD
 * with a word of two levels. */
static inline __attribute__((always_inline)) void nibble_off(uint32_t *w, const uint32_t boff, uint32_t v,
                                                             const uint32_t m, const uint32_t at, const uint32_t b)
{
    const nib_levels n = nibble_levels(v, m, at, b);
    const int32_t l0 = n.l[0], l1 = n.l[1], l2 = n.l[2], l3 = n.l[3];
    const uint32_t a = n.a, c = n.c, fa = (m & 5u) == 5u, fc = (m & 10u) == 10u;
    if ((m & 5u) && (m & 10u) && (fa || fc)) {
        __asm__ volatile("strd %1, %2, [%0, %3]" : : "r"(w), "r"(a), "r"(c), "i"(boff) : "memory");
        return;
    }
    if (fa) __asm__ volatile("str %1, [%0, %2]" : : "r"(w), "r"(a), "i"(boff) : "memory");
    else if (m & 1u) STH(w, boff, l0);
    else if (m & 4u) STH(w, boff + 2u, l2);
    if (fc) __asm__ volatile("str %1, [%0, %2]" : : "r"(w), "r"(c), "i"(boff + 4u) : "memory");
    else if (m & 2u) STH(w, boff + 4u, l1);
    else if (m & 8u) STH(w, boff + 6u, l3);
}

/* The set positions of nibble m (a compile-time constant) whose levels start at bit `at` of v
 * (a constant): only the non-zero pair words are stored (the column is zero-filled). */
static inline __attribute__((always_inline)) void nibble_at(uint32_t *w, uint32_t v, const uint32_t m,
                                                            const uint32_t at, const uint32_t b)
{
    nibble_off(w, 0u, v, m, at, b);
}

/* 1-bit levels (set bit +1, clear bit -1) of a group whose mask nibble is m: both pair words
 * for each of the 2^popcount(m) value-bit patterns v (the set positions take bits 0, 1, .. of v
 * in order, unset positions 0), m = 0..15 one after the other (81 entries, 648 B; -O2 only). */
#define BELOW(m, p) ((uint32_t)__builtin_popcount((m) & ((1u << (p)) - 1u)))
#define LV1(m, v, p) ((((m) >> (p)) & 1u) ? ((((v) >> BELOW(m, p)) & 1u) ? 1u : 0xFFFFu) : 0u)
#define E1(m, v) {LV1(m, v, 0u) | LV1(m, v, 2u) << 16, LV1(m, v, 1u) | LV1(m, v, 3u) << 16}
static const uint32_t lut1[81][2] = {
    E1(0u, 0u),
    E1(1u, 0u), E1(1u, 1u),
    E1(2u, 0u), E1(2u, 1u),
    E1(3u, 0u), E1(3u, 1u), E1(3u, 2u), E1(3u, 3u),
    E1(4u, 0u), E1(4u, 1u),
    E1(5u, 0u), E1(5u, 1u), E1(5u, 2u), E1(5u, 3u),
    E1(6u, 0u), E1(6u, 1u), E1(6u, 2u), E1(6u, 3u),
    E1(7u, 0u), E1(7u, 1u), E1(7u, 2u), E1(7u, 3u), E1(7u, 4u), E1(7u, 5u), E1(7u, 6u), E1(7u, 7u),
    E1(8u, 0u), E1(8u, 1u),
    E1(9u, 0u), E1(9u, 1u), E1(9u, 2u), E1(9u, 3u),
    E1(10u, 0u), E1(10u, 1u), E1(10u, 2u), E1(10u, 3u),
    E1(11u, 0u), E1(11u, 1u), E1(11u, 2u), E1(11u, 3u), E1(11u, 4u), E1(11u, 5u), E1(11u, 6u), E1(11u, 7u),
    E1(12u, 0u), E1(12u, 1u), E1(12u, 2u), E1(12u, 3u),
    E1(13u, 0u), E1(13u, 1u), E1(13u, 2u), E1(13u, 3u), E1(13u, 4u), E1(13u, 5u), E1(13u, 6u), E1(13u, 7u),
    E1(14u, 0u), E1(14u, 1u), E1(14u, 2u), E1(14u, 3u), E1(14u, 4u), E1(14u, 5u), E1(14u, 6u), E1(14u, 7u),
    E1(15u, 0u), E1(15u, 1u), E1(15u, 2u), E1(15u, 3u), E1(15u, 4u), E1(15u, 5u), E1(15u, 6u), E1(15u, 7u), E1(15u, 8u), E1(15u, 9u), E1(15u, 10u), E1(15u, 11u), E1(15u, 12u), E1(15u, 13u), E1(15u, 14u), E1(15u, 15u),
};
#undef E1
#undef LV1
#undef BELOW

/* Entry index of nibble m's first pattern in lut1: the sums of 2^popcount(i) over i < m, a byte
 * each (0, 1, 3, 5, 9, 11, 15, 19, 27, 29, 33, 37, 45, 49, 57, 65), a constant where m is. */
static inline __attribute__((always_inline)) uint32_t lut1_first(const uint32_t m)
{
    return (uint32_t)((m < 8u ? 0x130F0B0905030100ull >> (8u * m) : 0x4139312D25211D1Bull >> (8u * (m - 8u))) & 0xFFu);
}

/* nibble_at for 1-bit levels: one UBFX, one table load (LDRD where both words are non-zero). */
static inline __attribute__((always_inline)) void nibble_lut1(uint32_t *w, uint32_t v, const uint8_t *lut,
                                                              const uint32_t m, const uint32_t at)
{
    const uint32_t k = (uint32_t)__builtin_popcount(m), first = lut1_first(m);
    const uint8_t *e;
    uint32_t a, c;
    if (!m) return;
    e = lut + 8u * ((v >> at) & ((1u << k) - 1u)); /* lut = lut1; + 8 first: the load's offset */
    if ((m & 5u) && (m & 10u)) {
        __asm__("ldrd %0, %1, [%2, %3]" : "=r"(a), "=r"(c) : "r"(e), "i"(8u * first));
        put2(w, a, c);
    } else if (m & 5u) {
        __asm__("ldr %0, [%1, %2]" : "=r"(a) : "r"(e), "i"(8u * first));
        st1(w, 0u, a);
    } else {
        __asm__("ldr %0, [%1, %2]" : "=r"(c) : "r"(e), "i"(8u * first + 4u));
        st1(w, 4u, c);
    }
}

/* A whole mask byte mb (two groups, a compile-time constant) of b-bit levels (b <= 4), v the
 * stream from vbit on (at least 25 bits): every offset a constant; the high group (at w2) takes
 * a second load only where its levels reach past bit 25 (b = 4 with 7 or 8 set). */
static inline __attribute__((always_inline)) void mask_byte(uint32_t *w, uint32_t *w2, uint32_t v, const uint8_t *vals,
                                                            const uint8_t *lut, uint32_t vbit, const uint32_t mb,
                                                            const uint32_t b)
{
    const uint32_t lo = mb & 15u, hi = mb >> 4, klo = (uint32_t)__builtin_popcount(lo);
    if (b == 1u) {
        nibble_lut1(w, v, lut, lo, 0u);
        nibble_lut1(w2, v, lut, hi, klo);
        return;
    }
    nibble_at(w, v, lo, 0u, b);
    if (b * (uint32_t)__builtin_popcount(mb) <= 25u)
        nibble_at(w2, v, hi, b * klo, b);
    else
        nibble_at(w2, bits_at(vals, vbit + b * klo, b), hi, 0u, b);
}

/* 1-bit groups at byte offset boff (a constant) from w: nibble_lut1 with the stores off w. */
static inline __attribute__((always_inline)) void nib1_off(uint32_t *w, const uint32_t boff, uint32_t v,
                                                           const uint8_t *lut, const uint32_t m, const uint32_t at)
{
    const uint32_t k = (uint32_t)__builtin_popcount(m), first = lut1_first(m);
    const uint8_t *e;
    uint32_t a, c;
    if (!m) return;
    e = lut + 8u * ((v >> at) & ((1u << k) - 1u));
    if ((m & 5u) && (m & 10u)) {
        __asm__("ldrd %0, %1, [%2, %3]" : "=r"(a), "=r"(c) : "r"(e), "i"(8u * first));
        __asm__ volatile("strd %1, %2, [%0, %3]" : : "r"(w), "r"(a), "r"(c), "i"(boff) : "memory");
    } else if (m & 5u) {
        __asm__("ldr %0, [%1, %2]" : "=r"(a) : "r"(e), "i"(8u * first));
        __asm__ volatile("str %1, [%0, %2]" : : "r"(w), "r"(a), "i"(boff) : "memory");
    } else {
        __asm__("ldr %0, [%1, %2]" : "=r"(c) : "r"(e), "i"(8u * first + 4u));
        __asm__ volatile("str %1, [%0, %2]" : : "r"(w), "r"(c), "i"(boff + 4u) : "memory");
    }
}

/* A 1-bit mask byte mb of 6-wide groups (stride 48 B) whose first group is at byte offset boff. */
#define G6 (8u * ECG_RT_DSP_GROUP)
static inline __attribute__((always_inline)) void mask_byte1_w6(uint32_t *w, const uint32_t boff, uint32_t v,
                                                                const uint8_t *lut, const uint32_t mb)
{
    nib1_off(w, boff, v, lut, mb & 15u, 0u);
    nib1_off(w, boff + G6, v, lut, mb >> 4, (uint32_t)__builtin_popcount(mb & 15u));
}
/* nibble_off at offset 0 that also moves w on by adv bytes (a constant): the store of the pair
 * word of positions 0 and 2 post-indexed (no ADD) where the nibble has one. */
static inline __attribute__((always_inline)) uint32_t *nibble_adv(uint32_t *w, const uint32_t adv, uint32_t v,
                                                                  const uint32_t m, const uint32_t at, const uint32_t b)
{
    const nib_levels n = nibble_levels(v, m, at, b);
    const int32_t l0 = n.l[0], l1 = n.l[1], l2 = n.l[2], l3 = n.l[3];
    const uint32_t a = n.a, c = n.c, fa = (m & 5u) == 5u, fc = (m & 10u) == 10u;
    if (fa || (m & 5u) == 4u) { /* word 0 one STR / STRD, post-indexed */
        if (m & 10u)
            __asm__ volatile("strd %1, %2, [%0], %3" : "+r"(w) : "r"(a), "r"(c), "i"(adv) : "memory");
        else
            __asm__ volatile("str %1, [%0], %2" : "+r"(w) : "r"(a), "i"(adv) : "memory");
        return w;
    }
    if (fc) __asm__ volatile("str %1, [%0, #4]" : : "r"(w), "r"(c) : "memory");
    else if (m & 2u) STH(w, 4u, l1);
    else if (m & 8u) STH(w, 6u, l3);
    if (m & 1u) { /* word 0 holds position 0's level only: its halfword, post-indexed */
        __asm__ volatile("strh %1, [%0], %2" : "+r"(w) : "r"(l0), "i"(adv) : "memory");
        return w;
    }
    return w + adv / 4u;
}
/* nib1_off at offset 0 that also moves w on by adv bytes (a constant; the store of word 0
 * post-indexed where the nibble has one). */
static inline __attribute__((always_inline)) uint32_t *nib1_adv(uint32_t *w, const uint32_t adv, uint32_t v,
                                                                const uint8_t *lut, const uint32_t m, const uint32_t at)
{
    const uint32_t k = (uint32_t)__builtin_popcount(m), first = lut1_first(m);
    const uint8_t *e;
    uint32_t a, c;
    if (!m) return w + adv / 4u;
    e = lut + 8u * ((v >> at) & ((1u << k) - 1u));
    if ((m & 5u) && (m & 10u)) {
        __asm__("ldrd %0, %1, [%2, %3]" : "=r"(a), "=r"(c) : "r"(e), "i"(8u * first));
        __asm__ volatile("strd %1, %2, [%0], %3" : "+r"(w) : "r"(a), "r"(c), "i"(adv) : "memory");
    } else if (m & 5u) {
        __asm__("ldr %0, [%1, %2]" : "=r"(a) : "r"(e), "i"(8u * first));
        __asm__ volatile("str %1, [%0], %2" : "+r"(w) : "r"(a), "i"(adv) : "memory");
    } else {
        __asm__("ldr %0, [%1, %2]" : "=r"(c) : "r"(e), "i"(8u * first + 4u));
        __asm__ volatile("str %1, [%0, #4]" : : "r"(w), "r"(c) : "memory");
        w += adv / 4u;
    }
    return w;
}
/* mask_byte1_w6 at offset 0, then w moved on by two groups (96 B). */
static inline __attribute__((always_inline)) uint32_t *mask_byte1_w6_adv(uint32_t *w, uint32_t v, const uint8_t *lut,
                                                                         const uint32_t mb)
{
    nib1_off(w, G6, v, lut, mb >> 4, (uint32_t)__builtin_popcount(mb & 15u));
    return nib1_adv(w, 2u * G6, v, lut, mb & 15u, 0u);
}
/* mask_byte (b = 2..4) for 6-wide groups, the high group's stores at a constant offset; then w
 * moved on by two groups (96 B; the low group's first store post-indexed where it has one). */
static inline __attribute__((always_inline)) uint32_t *mask_byte_w6_adv(uint32_t *w, uint32_t v, const uint8_t *vals,
                                                                        uint32_t vbit, const uint32_t mb, const uint32_t b)
{
    const uint32_t lo = mb & 15u, hi = mb >> 4, klo = (uint32_t)__builtin_popcount(lo);
    if (b * (uint32_t)__builtin_popcount(mb) <= 25u)
        nibble_off(w, G6, v, hi, b * klo, b);
    else
        nibble_off(w, G6, bits_at(vals, vbit + b * klo, b), hi, 0u, b);
    return nibble_adv(w, 2u * G6, v, lo, 0u, b);
}
/* First byte of a pair: its groups, then the stream word moved past its levels. */
#define M1A(m) case m: mask_byte1_w6(w, 0u, v, lut, m); v >>= __builtin_popcount(m); vbit += (uint32_t)__builtin_popcount(m); break;
#define M1B(m) case m: mask_byte1_w6(w, 2u * G6, v, lut, m); vbit += (uint32_t)__builtin_popcount(m); break;
#define MX4(X, m) X(m) X((m) + 1u) X((m) + 2u) X((m) + 3u)
#define MX16(X, m) MX4(X, m) MX4(X, (m) + 4u) MX4(X, (m) + 8u) MX4(X, (m) + 12u)
#define MX256(X)                                                                                    \
    MX16(X, 0u) MX16(X, 16u) MX16(X, 32u) MX16(X, 48u) MX16(X, 64u) MX16(X, 80u) MX16(X, 96u) MX16(X, 112u) \
    MX16(X, 128u) MX16(X, 144u) MX16(X, 160u) MX16(X, 176u) MX16(X, 192u) MX16(X, 208u) MX16(X, 224u) MX16(X, 240u) \
    default: __builtin_unreachable();

#define MB(m) case m: mask_byte(w, w2, v, vals, lut, vbit, m, bits); vbit += bits * (uint32_t)__builtin_popcount(m); break;
#define MB4(m) MB(m) MB((m) + 1u) MB((m) + 2u) MB((m) + 3u)
#define MB16(m) MB4(m) MB4((m) + 4u) MB4((m) + 8u) MB4((m) + 12u)
#define MASK_BYTES                                                                                  \
    switch ((uint8_t)mb) {                                                                          \
    MB16(0u) MB16(16u) MB16(32u) MB16(48u) MB16(64u) MB16(80u) MB16(96u) MB16(112u)                 \
    MB16(128u) MB16(144u) MB16(160u) MB16(176u) MB16(192u) MB16(208u) MB16(224u) MB16(240u)         \
    default: __builtin_unreachable();                                                               \
    }

/* Widths b (bit b of the mask) whose BITMASK channels dispatch per mask byte (a 256-way switch
 * each); the others take the 16-way switch per nibble. ECG_RT_DSP_PAIR1: the 1-bit loop of two
 * mask bytes a load (two more 256-way switches). */
#ifndef ECG_RT_DSP_BYTE_SWITCH
#define ECG_RT_DSP_BYTE_SWITCH 0x1Au
#endif
#ifndef ECG_RT_DSP_PAIR1
#define ECG_RT_DSP_PAIR1 1
#endif

/* ECG_RT_DSP_GOTO (GNU C's labels as values, -O2): the mask-byte loops of 6-wide groups as
 * threaded code, one non-inlined function per width (GCC does not inline or clone a function
 * holding a static label table): each of the 256 cases ends with the next byte's loads and its
 * own `goto *table[byte]` (LDR, ORR #1, BX), not a jump back to one TBH behind GCC's bound check
 * (CMP, BHI), and the high group's stores at a constant offset (one pointer): about 2-3
 * instructions less per mask byte. Channels of 6-wide groups whose loads all stay inside the
 * stream enter it straight from fill_sparse_b (no chunking). The portable build (any other
 * compiler, or -DECG_RT_DSP_GOTO=0) keeps the switches of mask_nibbles. */
#ifndef ECG_RT_DSP_GOTO
#if defined(__GNUC__)
#define ECG_RT_DSP_GOTO 0x1Au /* bit b: width b (1, 3, 4; 4: 20 KB for -2.3 K on the demo's 12x, NOTES) */
#else
#define ECG_RT_DSP_GOTO 0u
#endif
#endif
#define GOTO_B(b) ((ECG_RT_DSP_GOTO & ECG_RT_DSP_BYTE_SWITCH) >> (b) & 1u)
#if ECG_RT_DSP_GOTO
#define HX16(X, h) X(h, 0) X(h, 1) X(h, 2) X(h, 3) X(h, 4) X(h, 5) X(h, 6) X(h, 7) X(h, 8) X(h, 9) \
    X(h, A) X(h, B) X(h, C) X(h, D) X(h, E) X(h, F)
#define HX256(X) HX16(X, 0) HX16(X, 1) HX16(X, 2) HX16(X, 3) HX16(X, 4) HX16(X, 5) HX16(X, 6) \
    HX16(X, 7) HX16(X, 8) HX16(X, 9) HX16(X, A) HX16(X, B) HX16(X, C) HX16(X, D) HX16(X, E) HX16(X, F)
#define AT_B(h, l) &&b_##h##l,
#define CASE_B(h, l)                                                                                \
    b_##h##l : w = mask_byte_w6_adv(w, v, vals, vbit, 0x##h##l##u, B);                              \
    vbit += B * (uint32_t)__builtin_popcount(0x##h##l##u);                                          \
    if (mp == mend) goto out;                                                                       \
    v = bits_at(vals, vbit, B);                                                                     \
    goto *tb[*mp++];
/* mend - mp >= 1 mask bytes of b-bit levels (b = 3, 4) at w (6-wide groups, two a byte), the
 * stream sp->vals from bit sp->vbit on readable 5 bytes past each byte's levels; sp->vbit moves
 * past them. Four arguments (all in registers): fill_sparse enters by a tail call. */
#define BYTES_FN(name, B_)                                                                      \
    static __attribute__((noinline, unused)) void name(uint32_t *w, const uint8_t *mp,                 \
                                                       const uint8_t *const mend, ecg_rt_dsp_sparse *sp) \
    {                                                                                               \
        enum { B = B_ };                                                                            \
        static const void *const tb[256] = {HX256(AT_B)};                                           \
        const uint8_t *const vals = sp->vals;                                                       \
        uint32_t vbit = sp->vbit, v = bits_at(vals, vbit, B);                                       \
        goto *tb[*mp++];                                                                            \
        HX256(CASE_B)                                                                               \
    out:                                                                                            \
        sp->vbit = vbit;                                                                            \
    }
BYTES_FN(bytes_b3, 3u)
BYTES_FN(bytes_b4, 4u)
#undef BYTES_FN
#undef CASE_B
#undef AT_B

/* The 1-bit loop of two mask bytes a stream load, 6-wide groups (both bytes' four groups off
 * one pointer), as threaded code: (mend - mp) / 2 >= 1 pairs of mask bytes; sp as in BYTES_FN. */
#define AT_P(h, l) &&p_##h##l,
#define AT_Q(h, l) &&q_##h##l,
#define CASE_P(h, l)                                                                                \
    p_##h##l : w = mask_byte1_w6_adv(w, v, lut, 0x##h##l##u);                                       \
    v >>= __builtin_popcount(0x##h##l##u);                                                          \
    vbit += (uint32_t)__builtin_popcount(0x##h##l##u);                                              \
    goto *tq[mp[1]];
#define CASE_Q(h, l)                                                                                \
    q_##h##l : w = mask_byte1_w6_adv(w, v, lut, 0x##h##l##u);                                       \
    vbit += (uint32_t)__builtin_popcount(0x##h##l##u);                                              \
    mp += 2;                                                                                        \
    if (mp == mend) goto out;                                                                       \
    v = bits_at(vals, vbit, 1u);                                                                    \
    goto *tp[mp[0]];
static __attribute__((noinline, unused)) void pairs_b1(uint32_t *w, const uint8_t *mp, const uint8_t *const mend,
                                                       ecg_rt_dsp_sparse *sp)
{
    static const void *const tp_[256] = {HX256(AT_P)};
    static const void *const tq_[256] = {HX256(AT_Q)};
    const void *const *tp = tp_, *const *tq = tq_;
    const uint8_t *lut = (const uint8_t *)lut1;
    const uint8_t *const vals = sp->vals;
    uint32_t vbit = sp->vbit, v = bits_at(vals, vbit, 1u);
    __asm__("" : "+r"(lut), "+r"(tp), "+r"(tq)); /* registers, not literal loads per case */
    goto *tp[mp[0]];
    HX256(CASE_P)
    HX256(CASE_Q)
out:
    sp->vbit = vbit;
}
#undef CASE_P
#undef CASE_Q
#undef AT_P
#undef AT_Q
#endif

/* BITMASK channel starting on a mask nibble (span % 4 == 0): one dispatch per 4 positions
 * writes both pair words (levels by SBFX at offsets the nibble fixes), no per-level bit walk;
 * a mask byte (two nibbles) per pass. Passes run in chunks whose loads surely stay inside the
 * stream (a nibble takes at most 4b bits; 5 bytes are read from vbit / 8); a leading odd
 * nibble and the last few go through nibble_tail. */
static inline __attribute__((always_inline)) uint32_t mask_nibbles(uint32_t *w, uint32_t step, const uint8_t *mask,
                                                                   uint32_t first, uint32_t span, const uint8_t *vals,
                                                                   uint32_t nbytes, uint32_t vbit, const uint32_t bits)
{
    const uint8_t *mp = mask + (first >> 3);
    uint32_t limit = nbytes >= 5u ? 8u * (nbytes - 5u) : 0u; /* vbit <= limit: 5 bytes readable */
    uint32_t left = span / 4u, hi, base = 0;
    uint8_t tail[32]; /* the stream's last bytes, zero-padded, once the loads would pass its end */
    if (first & 4u) { /* the channel starts on a byte's high nibble */
        vbit = nibble_tail(w, vals, nbytes, vbit, (uint32_t)*mp++ >> 4, bits);
        w += step;
        --left;
    }
    while (left >= 2u) {
        uint32_t pairs = vbit <= limit ? (limit - vbit) / (8u * bits) : 0u; /* two nibbles a pass */
        if (pairs == 0u) { /* near the end (< 5 + b + 1 bytes left): go on in a padded copy */
            const uint32_t from = vbit >> 3, n = nbytes - from;
            if (vals == tail || n > 16u) break;
            memset(tail, 0, sizeof tail);
            memcpy(tail, vals + from, n);
            base = 8u * from;
            vbit -= base;
            vals = tail;
            nbytes = (uint32_t)sizeof tail;
            limit = 8u * ((uint32_t)sizeof tail - 5u);
            continue;
        }
        if (pairs > left / 2u) pairs = left / 2u;
        left -= 2u * pairs;
        if (bits <= 4u && (ECG_RT_DSP_BYTE_SWITCH >> bits & 1u)) { /* one dispatch per mask byte, every offset a constant */
            uint32_t *w2 = w + step;
            const uint8_t *const mend = mp + pairs;
            const uint8_t *lut = (const uint8_t *)lut1;
            __asm__("" : "+r"(lut)); /* one register for the 1-bit table, not a literal load per case */
#if ECG_RT_DSP_GOTO
            if ((bits == 3u || bits == 4u) && GOTO_B(bits) && step == 2u * ECG_RT_DSP_GROUP) {
                ecg_rt_dsp_sparse t;
                t.vbit = vbit;
                t.vals = vals;
                (bits == 3u ? bytes_b3 : bytes_b4)(w, mp, mend, &t);
                vbit = t.vbit;
                w += 2u * step * pairs;
                mp = mend;
                continue;
            }
#endif
            if (ECG_RT_DSP_PAIR1 && bits == 1u && step == 2u * ECG_RT_DSP_GROUP) { /* two mask bytes (<= 16 levels) a load, one pointer */
#if GOTO_B(1)
                if (mend - mp >= 2) {
                    const uint32_t n2 = (uint32_t)(mend - mp) / 2u;
                    ecg_rt_dsp_sparse t;
                    t.vbit = vbit;
                    t.vals = vals;
                    pairs_b1(w, mp, mp + 2u * n2, &t);
                    vbit = t.vbit;
                    mp += 2u * n2;
                    w += 4u * step * n2;
                }
#else
                for (; mend - mp >= 2; mp += 2, w += 4u * step) {
                    uint32_t v = bits_at(vals, vbit, 1u);
                    switch (mp[0]) { MX256(M1A) }
                    switch (mp[1]) { MX256(M1B) }
                }
#endif
                w2 = w + step;
            }
            for (; mp != mend; w += 2u * step, w2 += 2u * step) {
                const uint32_t mb = *mp++, v = bits_at(vals, vbit, bits);
                if (mb > 255u) __builtin_unreachable();
                MASK_BYTES
            }
            continue;
        }
        for (; pairs; --pairs) {
            const uint32_t mb = *mp++;
            uint32_t m = mb & 15u, v = bits_at(vals, vbit, bits);
            NIBBLES(bits)
            w += step;
            m = mb >> 4;
            v = bits_at(vals, vbit, bits);
            NIBBLES(bits)
            w += step;
        }
    }
    for (hi = 0; left; --left, w += step, hi ^= 1u) /* from a byte's low nibble on */
        vbit = nibble_tail(w, vals, nbytes, vbit, hi ? (uint32_t)*mp++ >> 4 : *mp & 15u, bits);
    return vbit + base;
}
#undef NIBBLES
#undef NIB
#undef MASK_BYTES
#undef M1A
#undef M1B
#undef MX4
#undef MX16
#undef MX256
#undef G6
#undef STH
#undef MB16
#undef MB4
#undef MB
#endif

/* The walk with b a compile-time constant where inlined with one (SBFX, no width test per level). */
static inline __attribute__((always_inline)) void fill_sparse_b(const ecg_rt_dsp_group *g, uint32_t *w,
                                                                 const ecg_rt_wblock *wb, uint32_t c,
                                                                 ecg_rt_dsp_sparse *sp, const uint32_t bits)
{
    const uint32_t gstep = 8u * g->width, span = wb->span, nbytes = wb->values_bytes;
    const uint8_t *vals = wb->values;
    uint8_t *col = (uint8_t *)w;
    uint32_t vbit = sp->vbit;
#ifndef __OPTIMIZE_SIZE__
    if (wb->encoding == ECG_RT_ENC_BITMASK && span % 4u == 0u) {
        sp->vbit = mask_nibbles(w, 2u * g->width, wb->index, c * span, span, vals, nbytes, vbit, bits);
        return;
    }
#endif
    if (wb->encoding == ECG_RT_ENC_BITMASK) { /* set bits of the channel's mask, a byte at a time */
        const uint8_t *mask = wb->index;
        const uint32_t first = c * span, end = first + span;
        uint32_t byte = first >> 3;
        for (; 8u * byte < end; ++byte) {
            uint32_t m = mask[byte];
            const uint32_t at = 8u * byte;
            if (at < first) m &= 0xFFu << (first - at);
            if (at + 8u > end) m &= 0xFFu >> (at + 8u - end);
            for (; m; m &= m - 1u, vbit += bits)
                put_half(col, gstep, at + (uint32_t)__builtin_ctz(m) - first, level_at(vals, nbytes, vbit, bits));
        }
    } else { /* RUNLENGTH: zeros to skip before each value, 255 = skip 255 without a value */
        uint32_t left = ecg_rt_rd32(wb->index + 4u * (size_t)c), q = 0;
        const uint8_t *r = sp->runs;
        for (; left; --left) {
            const uint32_t run = *r++;
            q += run;
            if (run == 255u) continue;
            put_half(col, gstep, q++, level_at(vals, nbytes, vbit, bits));
            vbit += bits;
        }
        sp->runs = r;
    }
    sp->vbit = vbit;
}

/* Every sparse channel (-O2: those the threaded loops below do not take; -Os: inlined, the code
 * as before). */
#if !defined(__OPTIMIZE_SIZE__) && ECG_RT_DSP_GOTO
#define SPARSE_ANY __attribute__((noinline))
#else
#define SPARSE_ANY inline __attribute__((always_inline))
#endif
static SPARSE_ANY void fill_sparse_any(const ecg_rt_dsp_group *g, uint32_t *w, const ecg_rt_wblock *wb,
                                                      uint32_t c, ecg_rt_dsp_sparse *sp)
{
#ifndef __OPTIMIZE_SIZE__ /* -Os: the one walk with the width a variable, the smaller code */
    switch (wb->bits) {
    case 1u: fill_sparse_b(g, w, wb, c, sp, 1u); return;
    case 2u: fill_sparse_b(g, w, wb, c, sp, 2u); return;
    case 3u: fill_sparse_b(g, w, wb, c, sp, 3u); return;
    case 4u: fill_sparse_b(g, w, wb, c, sp, 4u); return;
    case 5u: fill_sparse_b(g, w, wb, c, sp, 5u); return;
    case 6u: fill_sparse_b(g, w, wb, c, sp, 6u); return;
    case 7u: fill_sparse_b(g, w, wb, c, sp, 7u); return;
    default: break;
    }
#endif
    fill_sparse_b(g, w, wb, c, sp, wb->bits);
}

/* -O2 with ECG_RT_DSP_GOTO: a BITMASK layer of 1-bit (span % 16 == 0: pairs of whole mask bytes)
 * or 3- or 4-bit levels (span % 8 == 0: whole mask bytes) gets its threaded loop in sp->loop, once
 * a layer; a 6-wide group's channel whose loads all stay inside the stream, even with every
 * position set (vbit / 8 + span / 8 * b + 5 <= bytes), goes straight into it from the small frame
 * of ecg_rt_dsp_fill_sparse (no chunking, none of fill_sparse_any's set-up, no per-channel tests
 * of the layer); every other channel takes fill_sparse_any. */
void ecg_rt_dsp_sparse_init(ecg_rt_dsp_sparse *sp, const ecg_rt_wblock *wb)
{
    sp->vbit = 0;
    sp->runs = wb->index + 4u * (size_t)wb->c_out;
#ifndef __OPTIMIZE_SIZE__
    sp->vals = wb->values;
    sp->loop = 0;
#if ECG_RT_DSP_GOTO
    {
        const uint32_t bits = wb->bits, span = wb->span, need = span / 8u * bits + 5u;
        sp->mask = wb->index;
        sp->mbytes = span / 8u;
        sp->lim = wb->values_bytes >= need ? wb->values_bytes - need : 0u;
        if (wb->encoding != ECG_RT_ENC_BITMASK || wb->values_bytes < need) return;
        if (bits == 1u && GOTO_B(1) && ECG_RT_DSP_PAIR1 && span % 16u == 0u) sp->loop = pairs_b1;
        else if (bits == 3u && GOTO_B(3) && span % 8u == 0u) sp->loop = bytes_b3;
#if GOTO_B(4)
        else if (bits == 4u && span % 8u == 0u) sp->loop = bytes_b4;
#endif
    }
#endif
#endif
}

void ecg_rt_dsp_fill_sparse(const ecg_rt_dsp_group *g, uint32_t *w, const ecg_rt_wblock *wb, uint32_t c,
                            ecg_rt_dsp_sparse *sp)
{
#if !defined(__OPTIMIZE_SIZE__) && ECG_RT_DSP_GOTO
    if (sp->loop && g->width == ECG_RT_DSP_GROUP && (sp->vbit >> 3) <= sp->lim) {
        const uint8_t *mp = sp->mask + c * sp->mbytes;
        sp->loop(w, mp, mp + sp->mbytes, sp);
        return;
    }
#endif
    fill_sparse_any(g, w, wb, c, sp);
}
#undef SPARSE_ANY

/* Every output position of the group; `add` (a compile-time NULL where inlined for plain convs):
 * the fused shortcut ADD's row loop instead of the store. */
static inline __attribute__((always_inline)) void positions(ecg_rt_dsp_group *g, const ecg_rt_conv_params *p,
                                                            const int8_t *x, int8_t *y, const ecg_rt_conv_add *add)
{
    const uint32_t n4 = (g->span + 3u) / 4u;
    const size_t total = (size_t)p->in_len * p->in_ch;
    uint32_t t, j;
    for (t = 0; t < p->out_len; ++t) {
        const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
        int32_t s[ECG_RT_DSP_GROUP + 2u];
#ifdef ECG_RT_MVE
        if (start >= 0 && (uint32_t)start + p->kernel <= p->in_len) {
            dot_mve(g, x + (size_t)start * p->in_ch, s);
        } else
#endif
        if (start >= 0 && (size_t)start * p->in_ch + 4u * n4 <= total &&
            (uint32_t)start + p->kernel <= p->in_len) {
            if (g->width == 6u)
                dot1x6(x + (size_t)start * p->in_ch, g->wpk, n4, g->bias, s);
            else
                dot1x4(x + (size_t)start * p->in_ch, g->wpk, n4, g->bias, s);
        } else {
            for (j = 0; j < g->count; ++j) s[j] = border(g, j, p, x, start);
        }
        if (add) { /* a 1x1 shortcut fused with its ADD (conv1d_pointwise_add_s8.c): y is the ADD's output */
            add->row(add, s, (size_t)t * p->out_ch, y);
            continue;
        }
#ifdef ECG_RT_MVE
        if (!g->slow) {
            store_mve(g, s, y + (size_t)t * p->out_ch);
            continue;
        }
#endif
        store(g, s, y + (size_t)t * p->out_ch);
    }
}

ecg_rt_status ecg_rt_conv1d_group_dsp_s8(ecg_rt_dsp_group *g, const ecg_rt_conv_params *p, const int8_t *x,
                                         int8_t *y)
{
    uint32_t j;
    if (!g || !p || !x || !y) return ECG_RT_E_NULL;
    if (g->count == 0u) return ECG_RT_OK;
    if (p->groups != 1u || p->dilation != 1u || g->span > ECG_RT_WCHUNK) return ECG_RT_E_OP;
    if (g->tapsum_ok && (p->in_ch % 4u != 0u || p->kernel > ECG_RT_DSP_MAX_TAPS)) return ECG_RT_E_OP;
    if (g->tapsum_ok)
        for (j = 0; j < g->count; ++j) tapsums(g, j, p->in_ch, p->kernel);
#ifdef ECG_RT_MVE
    rows_int8(g);
    for (j = 0; j < g->count; ++j) {
        g->mvec[j] = g->mult[j];
        g->nsh[j] = 32 - (int32_t)g->shift[j];
        g->off[j] = g->channel[j];
    }
#endif
#if ECG_RT_FUSE
    if (p->add)
        positions(g, p, x, y, p->add);
    else
#endif
        positions(g, p, x, y, 0);
    g->count = 0;
    return ECG_RT_OK;
}

#else
typedef int ecg_rt_conv1d_group_dsp_absent; /* host builds: the scalar kernels only */
#endif /* ECG_RT_DSP */
