/* Internal declarations shared by the loader, the interpreter and the kernels.
 * Not part of the public API: kernels take plain pointers and validated shapes, so each one
 * can be tested (and reused by the firmware) without a model.bin around it. */
#ifndef ECG_RT_INTERNAL_H
#define ECG_RT_INTERNAL_H

#include "ecg_edge_rt.h"

/* Entries decoded at once from a packed weight stream (stack buffers of 5 bytes each).
 * A CONV1D channel whose non-zero weights fit is decoded once and swept over all output
 * positions; a larger one is re-decoded chunk by chunk. Override with -DECG_RT_WCHUNK=N. */
#ifndef ECG_RT_WCHUNK
#define ECG_RT_WCHUNK 512
#endif

/* A 1x1 shortcut CONV1D fused with the residual ADD reading it (the loader decides, ecg_rt_model's
 * fused bits; invoke runs it). Off at -Os (flash: the runtime's 16 KB budget on cortex-m4) unless
 * -DECG_RT_FUSE=1; -DECG_RT_FUSE=0 turns it off anywhere. */
#ifndef ECG_RT_FUSE
#ifdef __OPTIMIZE_SIZE__
#define ECG_RT_FUSE 0
#else
#define ECG_RT_FUSE 1
#endif
#endif

#define ECG_RT_NONE16 0xFFFFu
#define ECG_RT_NONE32 0xFFFFFFFFu

enum { ECG_RT_SEC_META = 1, ECG_RT_SEC_TENSORS = 2, ECG_RT_SEC_OPS = 3, ECG_RT_SEC_WEIGHTS = 4 };
enum {
    ECG_RT_OP_CONV1D = 0, ECG_RT_OP_LINEAR = 1, ECG_RT_OP_ADD = 2, ECG_RT_OP_MAXPOOL1D = 3,
    ECG_RT_OP_AVGPOOL1D = 4, ECG_RT_OP_GLOBAL_AVGPOOL = 5, ECG_RT_OP_RELU = 6,
    /* format version 2 (ecg_rt_transformer.h); 9 (ATTENTION) stays reserved: the graph
     * composes attention from MATMUL and SOFTMAX */
    ECG_RT_OP_FIRST_V2 = 7, ECG_RT_OP_LAYERNORM = 7, ECG_RT_OP_GELU = 8, ECG_RT_OP_RESERVED_9 = 9,
    ECG_RT_OP_GROUPNORM = 10, ECG_RT_OP_SOFTMAX = 11, ECG_RT_OP_MATMUL = 12,
    ECG_RT_OP_LAST_V2 = 12,
    /* format version 3: an elementwise int8 table */
    ECG_RT_OP_LUT = 13, ECG_RT_OP_LAST = 13
};
enum { ECG_RT_ENC_DENSE = 0, ECG_RT_ENC_BITMASK = 1, ECG_RT_ENC_RUNLENGTH = 2 };

#define ECG_RT_HEADER_SIZE 64u
#define ECG_RT_SECTION_ENTRY 16u
#define ECG_RT_TENSOR_RECORD 32u
#define ECG_RT_OP_RECORD 64u
#define ECG_RT_BLOCK_HEADER 48u
#define ECG_RT_MAX_ELEMS (1u << 24)   /* L * C of a tensor */
#define ECG_RT_MAX_PARAM (1u << 24)   /* kernel, stride, padding, dilation */
#define ECG_RT_MAX_WEIGHTS (1u << 28) /* c_out * span of a layer */
#define ECG_RT_MAX_POOL_SUM (1u << 23) /* AVGPOOL K, GLOBAL_AVGPOOL L: sums below 2^31 */

/* A refusal of the loader's checks: store the FORMAT.md rule id in *rule, return the status.
 * ECG_RT_REFUSE(E_OP, OP_SHAPE) reads `rule` (a uint32_t *) from the enclosing function. */
static inline ecg_rt_status ecg_rt_refuse(uint32_t *rule, ecg_rt_status st, uint32_t r)
{
    *rule = r;
    return st;
}
#define ECG_RT_REFUSE(st, r) ecg_rt_refuse(rule, ECG_RT_##st, ECG_RT_RULE_##r)

/* Little-endian readers: the model bytes are read byte-wise, so no alignment is assumed. */
static inline uint16_t ecg_rt_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t ecg_rt_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline int32_t ecg_rt_rdi32(const uint8_t *p)
{
    uint32_t u = ecg_rt_rd32(p);
    /* Portable two's-complement reinterpretation (no implementation-defined conversion). */
    return (u & 0x80000000u) ? (int32_t)(-(int32_t)(~u) - 1) : (int32_t)u;
}

/* An op parameter as the int32 its kernel takes (the loader checked it is < 2^31). */
static inline int32_t ecg_rt_param_i32(uint32_t u) { return (int32_t)(u & 0x7FFFFFFFu); }

/* A decoded tensor record. */
typedef struct {
    uint32_t len, channels;
    int32_t zero_point;
    uint32_t arena_offset, size_bytes, flags;
} ecg_rt_tensor;

/* A decoded op record. */
typedef struct {
    uint16_t type, flags, in0, in1, out, reserved;
    int32_t act_min, act_max;
    uint32_t weight_block, weight_size;
    uint32_t p[9];
} ecg_rt_op;

/* A decoded weight block: pointers into the model bytes (validated by the loader). */
typedef struct {
    uint8_t bits, encoding;
    uint32_t c_out, span, kernel, nnz;
    const uint8_t *bias;   /* i32[c_out] little-endian */
    const uint8_t *mult;   /* i32[c_out] */
    const uint8_t *shift;  /* i8[c_out] */
    const uint8_t *index;  /* BITMASK mask / RUNLENGTH u32 entries[c_out] then run bytes */
    uint32_t index_bytes;
    const uint8_t *values; /* b-bit stream */
    uint32_t values_bytes;
} ecg_rt_wblock;

/* Output channel c's requantization as the block stores it (FORMAT.md section 8): the folded
 * int32 bias and multiplier (little-endian, 4 bytes each) and the shift byte. */
typedef struct {
    int32_t bias;
    int32_t mult;
    uint32_t shift;
} ecg_rt_chan_q;

static inline ecg_rt_chan_q ecg_rt_chan_q_load(const ecg_rt_wblock *wb, uint32_t c)
{
    ecg_rt_chan_q q;
    q.bias = ecg_rt_rdi32(wb->bias + 4u * (size_t)c);
    q.mult = ecg_rt_rdi32(wb->mult + 4u * (size_t)c);
    q.shift = wb->shift[c];
    return q;
}

void ecg_rt_tensor_decode(const uint8_t *rec, ecg_rt_tensor *t);
void ecg_rt_op_decode(const uint8_t *rec, ecg_rt_op *op);
/* Decode the header of a weight block (no validation: the loader checks before use). */
void ecg_rt_wblock_decode(const uint8_t *blk, ecg_rt_wblock *wb);

/* floor(sqrt(v)), exact for every uint64, bit by bit (isqrt_u64.c): the norms' and the
 * device preprocessing's integer square root. */
uint32_t ecg_rt_isqrt_u64(uint64_t v);

/* ---- requantization (requant_s8.c): FORMAT.md section 7 ---- */
int64_t ecg_rt_floor_shift(int64_t v, uint32_t n);
int64_t ecg_rt_rshift_round(int64_t v, int32_t mult, uint32_t n);
int8_t ecg_rt_requantize(int64_t acc, int32_t mult, uint32_t n, int32_t zp_out,
                         int32_t act_min, int32_t act_max);
int8_t ecg_rt_clamp_s8(int64_t v, int32_t lo, int32_t hi);

/* ---- packed weight decoding (weight_decode.c) ----
 * A cursor walks one layer's non-zero weights channel by channel in weight order, straight
 * from the packed bytes. Each decoded entry is (xoff, value) where
 *   xoff = k * tap_stride + base + i       (p = k * cin_g + i inside the channel)
 * so a kernel reads the input at window_start + xoff. Zero weights are never emitted. */
typedef struct {
    const uint8_t *ptr;   /* next byte of the value stream */
    uint32_t buf;         /* pending bits, LSB first */
    uint32_t nbits;
} ecg_rt_bitreader;

void ecg_rt_bitreader_init(ecg_rt_bitreader *br, const uint8_t *stream, uint64_t bit_offset);
/* Next b-bit level (b = 1: bit 1 -> +1, bit 0 -> -1; b >= 2: two's complement). */
int32_t ecg_rt_bitreader_next(ecg_rt_bitreader *br, uint32_t bits);

/* The same, inlined into the weight walkers and unpackers (a call per weight was ~2% of an
 * inference). Only the bytes that hold the value are touched: never a byte past the stream. */
static inline int32_t ecg_rt_br_next(ecg_rt_bitreader *br, uint32_t bits)
{
    uint32_t u;
    while (br->nbits < bits) {
        br->buf |= (uint32_t)(*br->ptr++) << br->nbits;
        br->nbits += 8u;
    }
    u = br->buf & ((1u << bits) - 1u);
    br->buf >>= bits;
    br->nbits -= bits;
    if (bits == 1u) return u ? 1 : -1;
    return (int32_t)u - (int32_t)((u & (1u << (bits - 1u))) << 1);
}

typedef struct {
    const ecg_rt_wblock *wb;
    uint32_t channel;     /* current output channel */
    uint32_t pos;         /* next position p inside the channel (0..span) */
    uint32_t k, i;        /* p = k * cin_g + i */
    uint32_t cin_g, tap_stride, base;
    ecg_rt_bitreader values;
    uint32_t mask_bit;    /* BITMASK: absolute mask bit of position pos */
    const uint8_t *runs;  /* RUNLENGTH: next run byte of this channel */
    uint32_t runs_left;   /* RUNLENGTH: run bytes left in this channel */
    const uint8_t *runs_next; /* RUNLENGTH: first run byte of the next channel */
    uint32_t values_done; /* values consumed so far (all channels) */
    uint32_t bad;         /* RUNLENGTH: a run walked past the channel's span (loader check) */
} ecg_rt_wcursor;

/* Start at channel 0. cin_g: input channels per group; tap_stride: input elements between
 * taps (dilation * C_in); base: input channel offset of the channel's group (set per channel
 * by ecg_rt_wcursor_channel for depthwise). */
void ecg_rt_wcursor_init(ecg_rt_wcursor *cur, const ecg_rt_wblock *wb, uint32_t cin_g,
                         uint32_t tap_stride);
/* Position the cursor at the start of channel c (channels must be visited in order; a saved
 * copy of the cursor can be restored to re-walk a channel). */
void ecg_rt_wcursor_channel(ecg_rt_wcursor *cur, uint32_t c, uint32_t base);
/* Decode up to cap non-zero weights of the current channel; returns how many (0 = done). */
uint32_t ecg_rt_wcursor_next(ecg_rt_wcursor *cur, int32_t *xoff, int8_t *val, uint32_t cap);
/* 1 when the current channel has nothing left to yield. */
int ecg_rt_wcursor_done(const ecg_rt_wcursor *cur);
/* Skip the rest of the current channel (so the next channel starts at the right place). */
void ecg_rt_wcursor_finish_channel(ecg_rt_wcursor *cur);

/* Loader: decode and validate a weight block of blk_size bytes (header, array offsets and
 * sizes, shift/multiplier ranges, nnz against the mask or run walk, positions < span, and the
 * accumulator bound |bias| + 128 * sum|w| < 2^31 per channel), filling *wb; c_out, kernel
 * and span must equal *want's (want NULL: any non-zero). On a refusal *rule says which rule
 * (ecg_rt_rule). */
typedef struct {
    uint32_t c_out, kernel, span; /* what the op's tensors and params require */
} ecg_rt_wblock_shape;
ecg_rt_status ecg_rt_wblock_check(const uint8_t *blk, uint32_t blk_size,
                                  const ecg_rt_wblock_shape *want, ecg_rt_wblock *wb,
                                  uint32_t *rule);
/* The block of a weighted op: weight_block set, aligned to 16 and inside WEIGHTS, then checked
 * as above. */
ecg_rt_status ecg_rt_op_block_check(const ecg_rt_model *m, const ecg_rt_op *op,
                                    const ecg_rt_wblock_shape *want, ecg_rt_wblock *wb, uint32_t *rule);

uint32_t ecg_rt_crc32(const uint8_t *p, size_t n);

/* Dot product of decoded entries with an input window lying fully inside the input. */
static inline int32_t ecg_rt_dot_inside(int32_t acc, const int8_t *xw, const int32_t *xoff,
                                        const int8_t *val, uint32_t n)
{
    uint32_t j;
    for (j = 0; j < n; ++j) acc += (int32_t)val[j] * (int32_t)xw[xoff[j]];
    return acc;
}

/* Same for a window that crosses the padding: a tap at a position outside [0, in_len) reads the
 * input zero point (padding is a real zero). tap = dilation * in_ch, so k = xoff / tap. */
static inline int32_t ecg_rt_dot_border(int32_t acc, const int8_t *x, int32_t start,
                                        uint32_t in_len, uint32_t in_ch, uint32_t dilation,
                                        int32_t zp_in, const int32_t *xoff, const int8_t *val,
                                        uint32_t n)
{
    const uint32_t tap = dilation * in_ch;
    uint32_t j;
    for (j = 0; j < n; ++j) {
        int32_t pos = start + (int32_t)((uint32_t)xoff[j] / tap * dilation);
        int32_t xv = (pos >= 0 && (uint32_t)pos < in_len) ? (int32_t)x[start * (int32_t)in_ch + xoff[j]]
                                                           : zp_in;
        acc += (int32_t)val[j] * xv;
    }
    return acc;
}

/* ecg_rt_requantize for an int32 accumulator (the kernels' sums): one 32 x 32 -> 64 multiply
 * instead of 64 x 64; with GCC and clang (arithmetic >> of negative values) the floor shift is a
 * plain shift. Same result: |acc x M| + 2^(n-1) < 2^63 and the clamp is done on 64 bits. At -Os
 * the shared ecg_rt_requantize (one copy in flash). */
static inline int8_t ecg_rt_requantize32(int32_t acc, int32_t mult, uint32_t n, int32_t zp_out,
                                         int32_t act_min, int32_t act_max)
{
#if defined(__GNUC__) && !defined(__OPTIMIZE_SIZE__)
    const int64_t o = (((int64_t)acc * mult + ((int64_t)1 << (n - 1u))) >> n) + zp_out;
    return (int8_t)(o < act_min ? act_min : o > act_max ? act_max : o);
#else
    return ecg_rt_requantize(acc, mult, n, zp_out, act_min, act_max);
#endif
}

/* Output positions [0, count) whose windows all lie inside the input: window t starts at
 * xw + t * step, its output goes to y[t * ystep]. Four positions per pass share each decoded
 * (offset, level) pair: one load of each per four multiply-adds instead of per one (the
 * callgrind profile of the default ResNet1D put ~80% of its instructions in this loop). */
static inline void ecg_rt_sweep_inside(const int8_t *xw, size_t step, uint32_t count,
                                       const int32_t *xoff, const int8_t *val, uint32_t n,
                                       int32_t bias, int32_t mult, uint32_t shift, int32_t zp_out,
                                       int32_t act_min, int32_t act_max, int8_t *y, size_t ystep)
{
    uint32_t t = 0, j;
    for (; t + 4u <= count; t += 4u, xw += 4u * step, y += 4u * ystep) {
        const int8_t *x1 = xw + step, *x2 = x1 + step, *x3 = x2 + step;
        int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;
        for (j = 0; j < n; ++j) {
            const int32_t o = xoff[j], w = val[j];
            a0 += w * xw[o];
            a1 += w * x1[o];
            a2 += w * x2[o];
            a3 += w * x3[o];
        }
        y[0] = ecg_rt_requantize32(a0, mult, shift, zp_out, act_min, act_max);
        y[ystep] = ecg_rt_requantize32(a1, mult, shift, zp_out, act_min, act_max);
        y[2u * ystep] = ecg_rt_requantize32(a2, mult, shift, zp_out, act_min, act_max);
        y[3u * ystep] = ecg_rt_requantize32(a3, mult, shift, zp_out, act_min, act_max);
    }
    for (; t < count; ++t, xw += step, y += ystep)
        *y = ecg_rt_requantize32(ecg_rt_dot_inside(bias, xw, xoff, val, n), mult, shift, zp_out,
                               act_min, act_max);
}

/* ---- kernels (one per file). Activations are int8 [L][C]. ---- */

/* The residual ADD's requantization (FORMAT.md section 7): out = clamp(floor(((a - zp_a) * m_a +
 * (b - zp_b) * m_b + 2^(n-1)) / 2^n) + zp_out). */
typedef struct {
    int32_t zp_a, m_a, zp_b, m_b;
    uint32_t shift; /* n, 1..62 */
    int32_t zp_out, act_min, act_max;
} ecg_rt_add_params;

static inline int8_t ecg_rt_add1(const ecg_rt_add_params *q, int32_t a, int32_t b)
{
    const int64_t s = (int64_t)(a - q->zp_a) * q->m_a + (int64_t)(b - q->zp_b) * q->m_b +
                      ((int64_t)1 << (q->shift - 1u));
    return ecg_rt_clamp_s8(ecg_rt_floor_shift(s, q->shift) + q->zp_out, q->act_min, q->act_max);
}

/* The same sum split at 2^16 so that it runs on 32-bit lanes (16 <= n <= 47): with raw inputs a, b,
 * m = mh * 2^16 + ml (ml a signed 16-bit low part) and base = 2^(n-1) - zp_a * m_a - zp_b * m_b
 * + zp_out * 2^n = bh * 2^16 + bl (0 <= bl < 2^16),
 *   S = a * m_a + b * m_b + base = 2^16 * H + L,  H = a * mh_a + b * mh_b + bh,  L = a * ml_a + b * ml_b + bl,
 * and floor(S / 2^n) = floor((H + floor(L / 2^16)) / 2^(n-16)) (nested floors of exact divisions)
 * is FORMAT.md's quotient plus zp_out (a multiple of 2^n added before the floor), ready for the clamp.
 * |L| < 2^24 and |H| < 2^30 + 2^23: no int32 overflow. wl / wh pack ml / mh as [a's | b's << 16]
 * (the SMLAD layout of a pair [a | b << 16]). */
typedef struct {
    uint32_t wl, wh;
    int32_t ml_a, ml_b, mh_a, mh_b, bl, bh, sh; /* sh = n - 16 */
} ecg_rt_add_split;

/* 1 when the split is exact for these parameters (16 <= n <= 47, mh fits 16 bits, |bh| <= 2^30:
 * n up to about 38 with any zero points). */
int ecg_rt_add_split_init(ecg_rt_add_split *sp, const ecg_rt_add_params *q);

/* The fused epilogue of a 1x1 shortcut CONV1D whose only reader is the next op, a residual ADD
 * (conv1d_pointwise_add_s8.c): the conv's int8 output is the ADD's input a (the prepared params
 * swap the ADD's inputs where the conv feeds in1), b is the ADD's other input [L_out][C_out]. */
typedef struct ecg_rt_conv_add_s ecg_rt_conv_add;
struct ecg_rt_conv_add_s {
    const int8_t *b;
    ecg_rt_add_params q;
    ecg_rt_add_split sp;
    int split_ok;
    int32_t czp, clo, chi; /* the conv's output zero point and activation range */
    /* Cortex-M group kernel: the conv's sums s of the current group at output position
     * at = t * C_out -> requantized, added, stored to y (set per group by the fused kernel). */
    void (*row)(const ecg_rt_conv_add *ad, const int32_t *s, size_t at, int8_t *y);
};

typedef struct {
    uint32_t in_len, in_ch, out_len, out_ch;
    uint32_t kernel, stride, pad_left, dilation, groups;
    int32_t zp_in, zp_out, act_min, act_max;
    /* NULL: store the conv's output. Else y is the fused ADD's output (only the DSP group path
     * reads it: ecg_rt_conv1d_pointwise_add_s8 sets it where that path runs every channel). */
    const ecg_rt_conv_add *add;
} ecg_rt_conv_params;

ecg_rt_status ecg_rt_conv1d_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                               const int8_t *x, int8_t *y);
ecg_rt_status ecg_rt_conv1d_pointwise_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                                         const int8_t *x, int8_t *y);
/* Dense-row path for one channel (conv1d_dense_row_s8.c), used by the CONV1D kernels on builds
 * without the DSP path when at least ECG_RT_DENSE_ROW_PERCENT of the channel is non-zero. */
#ifndef ECG_RT_DENSE_ROW_PERCENT
#define ECG_RT_DENSE_ROW_PERCENT 30u
#endif
ecg_rt_status ecg_rt_conv1d_dense_row_s8(const ecg_rt_conv_params *p, const int32_t *xoff,
                                         const int8_t *val, uint32_t n, uint32_t span,
                                         int32_t bias, int32_t mult, uint32_t shift, uint32_t lo,
                                         uint32_t hi, const int8_t *x, int8_t *yc);
ecg_rt_status ecg_rt_depthwise_conv1d_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                                         const int8_t *x, int8_t *y);
ecg_rt_status ecg_rt_linear_s8(uint32_t n_in, const ecg_rt_wblock *wb, int32_t zp_out,
                               int32_t act_min, int32_t act_max, const int8_t *x, int8_t *y);
ecg_rt_status ecg_rt_add_s8(uint32_t n, const int8_t *a, int32_t zp_a, int32_t m_a,
                            const int8_t *b, int32_t zp_b, int32_t m_b, uint32_t shift,
                            int32_t zp_out, int32_t act_min, int32_t act_max, int8_t *y);
/* A 1x1 CONV1D (K = 1, groups = 1, no padding, any stride) and the residual ADD reading its
 * output, in one pass: y = ADD(conv(x), b), bit-exact with the conv requantized to int8 (its zero
 * point and activation range) and then the ADD, without storing the conv's output. y may alias b
 * (same index); y must not overlap x. It runs any K = 1, groups = 1, unpadded conv with C_in <=
 * ECG_RT_WCHUNK (else ECG_RT_E_OP); ecg_rt_conv1d_pointwise_add_ok says where the loader fuses:
 * there, and where the fused pass is the faster (not on Helium builds). */
int ecg_rt_conv1d_pointwise_add_ok(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb);
ecg_rt_status ecg_rt_conv1d_pointwise_add_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                                             const int8_t *x, const ecg_rt_add_params *q,
                                             const int8_t *b, int8_t *y);

typedef struct {
    uint32_t in_len, ch, out_len, kernel, stride, pad_left;
} ecg_rt_pool_params;

ecg_rt_status ecg_rt_maxpool1d_s8(const ecg_rt_pool_params *p, int32_t act_min, int32_t act_max,
                                  const int8_t *x, int8_t *y);
ecg_rt_status ecg_rt_avgpool1d_s8(const ecg_rt_pool_params *p, int32_t zp_in, int32_t mult,
                                  uint32_t shift, int32_t zp_out, int32_t act_min,
                                  int32_t act_max, const int8_t *x, int8_t *y);
ecg_rt_status ecg_rt_global_avgpool_s8(uint32_t len, uint32_t ch, int32_t zp_in, int32_t mult,
                                       uint32_t shift, int32_t zp_out, int32_t act_min,
                                       int32_t act_max, const int8_t *x, int8_t *y);
ecg_rt_status ecg_rt_relu_s8(uint32_t n, int32_t act_min, int32_t act_max, const int8_t *x,
                             int8_t *y);

/* memcpy/memset: from <string.h> (hosted, or newlib on the MCU), or from mem.c when built
 * with -DECG_RT_FREESTANDING and no C library at all. */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

#endif /* ECG_RT_INTERNAL_H */
