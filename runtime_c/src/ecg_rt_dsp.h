/* Cortex-M DSP helpers for the CONV1D kernels (firmware builds only; measured with
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

/* Helium (MVE, Cortex-M55): interior windows of the group kernel on 16-lane int8 vectors
 * (conv1d_group_dsp_s8.c); borders and requantization stay on the DSP path. -DECG_RT_NO_MVE
 * (`simulate --no-mve`) keeps the DSP path on such cores. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(ECG_RT_NO_MVE)
#define ECG_RT_MVE 1
#include <arm_mve.h>
#endif

#include "ecg_rt_internal.h"

/* Per-tap weight sums kept for kernels up to this size (border positions without a gather). */
#define ECG_RT_DSP_MAX_TAPS 32u

/* SXTB16 of the odd bytes in one instruction (GCC does not fold the rotation itself). */
static inline uint32_t ecg_rt_sxtb16_odd(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* [lo16(lo) | lo16(hi) << 16] in one instruction (GCC spells it UXTH + ORR). */
static inline uint32_t ecg_rt_pkhbt(uint32_t lo, uint32_t hi)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

/* [hi16(hi) << 16 | hi16(lo)] in one instruction. */
static inline uint32_t ecg_rt_pkhtb(uint32_t hi, uint32_t lo)
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
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

/* Output channels computed together by ecg_rt_conv1d_group_dsp_s8 (6, or 4 for small tails). */
#define ECG_RT_DSP_GROUP 6u

/* A group of output channels with their weights unpacked once per call: group of 4 window
 * positions q, slot j -> words wpk[2 * (width * (q / 4) + j) + 0/1] = [w0 | w2 << 16],
 * [w1 | w3 << 16] (the SXTB16 lane order of 4 input bytes). Requantization constants per slot:
 * for shift n >= 32 the rounding constant 2^(n-1) is folded into one SMLAL and only the high
 * word is shifted by n - 32 (FORMAT.md's rule, same result as ecg_rt_requantize). */
typedef struct {
    uint32_t width, count, span, tapsum_ok, slow; /* slow: some slot has n < 32 */
    int32_t zp, lo, hi;
    uint32_t channel[ECG_RT_DSP_GROUP];
    int32_t bias[ECG_RT_DSP_GROUP], mult[ECG_RT_DSP_GROUP];
    uint32_t shift[ECG_RT_DSP_GROUP];
    int64_t rc[ECG_RT_DSP_GROUP];
    int32_t tapsum[ECG_RT_DSP_GROUP][ECG_RT_DSP_MAX_TAPS];
    uint32_t wpk[2u * ECG_RT_DSP_GROUP * (ECG_RT_WCHUNK / 4u + 1u)];
#ifdef ECG_RT_MVE
    int8_t w8[ECG_RT_DSP_GROUP][ECG_RT_WCHUNK + 16u]; /* the same levels, int8 per slot, zero-padded */
    /* Requantization on 8 lanes (two vectors): multiplier, 32 - n (VRSHL's right shift), channel. */
    int32_t mvec[ECG_RT_DSP_GROUP + 2u], nsh[ECG_RT_DSP_GROUP + 2u];
    uint32_t off[ECG_RT_DSP_GROUP + 2u];
#endif
} ecg_rt_dsp_group;

/* Width for the next group when `remaining` channels are left: 6, or 4 where 6 would leave a
 * tail that wastes more slots (8 = 4 + 4, 7 = 4 + 4, <= 4). */
static inline uint32_t ecg_rt_dsp_group_width(uint32_t remaining)
{
    return (remaining <= 4u || remaining == 7u || remaining == 8u) ? 4u : ECG_RT_DSP_GROUP;
}

/* The slot for channel c, opening a new group (width by the channels left) when none is open;
 * returns its (zeroed) weight column (conv1d_group_dsp_s8.c). */
uint32_t *ecg_rt_dsp_group_take(ecg_rt_dsp_group *g, const ecg_rt_conv_params *p, uint32_t span, int tapsum_ok,
                                uint32_t c, int32_t bias, int32_t mult, uint32_t shift);

/* Level v at position q of a slot's column (stride 2 * width words per 4 positions). */
static inline void ecg_rt_dsp_put(uint32_t *w, uint32_t width, uint32_t q, int32_t v)
{
    w[2u * width * (q >> 2) + (q & 1u)] |= (uint32_t)(uint16_t)(int16_t)v << (16u * ((q >> 1) & 1u));
}

/* A column from a channel's decoded non-zeros (xoff = position in the channel). */
void ecg_rt_dsp_fill_decoded(const ecg_rt_dsp_group *g, uint32_t *w, const int32_t *xoff, const int8_t *val,
                             uint32_t n);

/* BITMASK / RUNLENGTH channels walked in order straight into pair words: the value stream is
 * read on from one channel to the next (the block was checked at load: every position < span,
 * nnz values). */
typedef struct ecg_rt_dsp_sparse_s {
    uint32_t vbit;       /* bit offset of the next value in the stream */
    const uint8_t *runs; /* RUNLENGTH: the next channel's first run byte */
    const uint8_t *vals; /* -O2: the level stream (the threaded mask-byte loops' argument) */
    /* -O2, set once a layer by ecg_rt_dsp_sparse_init: the layer's threaded mask-byte loop (NULL:
     * none), which a 6-wide group's channel enters straight while vbit / 8 <= lim; the BITMASK
     * index and its bytes a channel (span / 8). */
    void (*loop)(uint32_t *w, const uint8_t *mp, const uint8_t *mend, struct ecg_rt_dsp_sparse_s *sp);
    const uint8_t *mask;
    uint32_t mbytes, lim;
} ecg_rt_dsp_sparse;

void ecg_rt_dsp_sparse_init(ecg_rt_dsp_sparse *sp, const ecg_rt_wblock *wb);
/* Channel c's non-zero levels into the (zeroed) column w; channels must come in order 0, 1, ... */
void ecg_rt_dsp_fill_sparse(const ecg_rt_dsp_group *g, uint32_t *w, const ecg_rt_wblock *wb, uint32_t c,
                            ecg_rt_dsp_sparse *sp);
#ifndef __OPTIMIZE_SIZE__
/* -O2: ecg_rt_dsp_fill_sparse with its direct entry into the layer's threaded loop inlined into the
 * caller's channel loop (no call frame for those channels). */
static inline void ecg_rt_dsp_fill_sparse_in(const ecg_rt_dsp_group *g, uint32_t *w, const ecg_rt_wblock *wb,
                                             uint32_t c, ecg_rt_dsp_sparse *sp)
{
    if (sp->loop && g->width == ECG_RT_DSP_GROUP && (sp->vbit >> 3) <= sp->lim) {
        const uint8_t *mp = sp->mask + c * sp->mbytes;
        sp->loop(w, mp, mp + sp->mbytes, sp);
    } else {
        ecg_rt_dsp_fill_sparse(g, w, wb, c, sp);
    }
}
#define ECG_RT_DSP_FILL_SPARSE ecg_rt_dsp_fill_sparse_in
#else
#define ECG_RT_DSP_FILL_SPARSE ecg_rt_dsp_fill_sparse
#endif

/* A column straight from channel c of a DENSE block into the slot just taken, each level unpacked
 * once (conv1d_group_dsp_s8.c). 1-, 2- and 4-bit levels may go in pre-scaled by 2^k (int8
 * bytes), the slot's bias scaled and its shift raised by k to match (same requantized result). */
void ecg_rt_dsp_fill_dense(ecg_rt_dsp_group *g, uint32_t *w, const ecg_rt_wblock *wb, uint32_t c);
#ifndef __OPTIMIZE_SIZE__
/* -O2: the fill of a DENSE block's width (what ecg_rt_dsp_fill_dense would pick per channel),
 * chosen once a layer. */
typedef void (*ecg_rt_dsp_fill_fn)(ecg_rt_dsp_group *g, uint32_t *w, const ecg_rt_wblock *wb, uint32_t c);
ecg_rt_dsp_fill_fn ecg_rt_dsp_dense_fill(const ecg_rt_wblock *wb);
#define ECG_RT_DSP_DENSE_FILL(wb) ecg_rt_dsp_fill_fn fill_dense_ = ecg_rt_dsp_dense_fill(wb)
#define ECG_RT_DSP_FILL_DENSE(g, w, wb, c) fill_dense_(g, w, wb, c)
#else
#define ECG_RT_DSP_DENSE_FILL(wb) (void)0
#define ECG_RT_DSP_FILL_DENSE(g, w, wb, c) ecg_rt_dsp_fill_dense(g, w, wb, c)
#endif

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

/* Run a group over every output position (conv1d_group_dsp_s8.c); empties the group. */
ecg_rt_status ecg_rt_conv1d_group_dsp_s8(ecg_rt_dsp_group *g, const ecg_rt_conv_params *p, const int8_t *x,
                                         int8_t *y);

#endif /* DSP */
#endif /* ECG_RT_DSP_H */
