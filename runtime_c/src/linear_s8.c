/* LINEAR: y[c] = requantize(bias[c] + sum_p w[c][p] * x[p]) over the flat [L][C] input
 * (FORMAT.md section 7: a CONV1D with K = 1 and L = 1). Each weight is decoded exactly once,
 * straight from the packed stream, chunk by chunk. */
#include "ecg_rt_internal.h"

#ifndef __OPTIMIZE_SIZE__
/* acc + sum_p x[p] * level p of a DENSE b-bit channel (b = 1..7, a compile-time constant where
 * inlined with one) starting at bit `bit` of the stream: one 4-byte read and one bit-field
 * extract per level while the read stays inside the stream, the bit reader for the rest (no
 * weight cursor, no xoff / val chunk). */
static inline __attribute__((always_inline)) int32_t level_bits(uint32_t u, const uint32_t b)
{
    const uint32_t f = u & ((1u << b) - 1u);
    /* b = 1: bit 1 -> +1, bit 0 -> -1; else two's complement (FORMAT.md) */
    return b == 1u ? (int32_t)(2u * f) - 1 : (int32_t)(f ^ (1u << (b - 1u))) - (1 << (b - 1u));
}

static inline __attribute__((always_inline)) int32_t dot_dense_sub8(int32_t acc, const int8_t *x, uint32_t n,
                                                                    const uint8_t *vals, uint32_t nbytes,
                                                                    uint32_t bit, const uint32_t b)
{
    /* pairs of levels whose 4-byte read (from byte bit / 8; 2b + 7 <= 32 bits used) stays inside */
    uint32_t np = 0;
    const int8_t *xe;
    ecg_rt_bitreader br;
    if (nbytes >= 4u && bit <= 8u * (nbytes - 4u)) {
        np = (8u * (nbytes - 4u) - bit) / (2u * b) + 1u;
        if (np > n / 2u) np = n / 2u;
    }
    for (xe = x + 2u * np; x != xe; x += 2, bit += 2u * b) {
        const uint32_t u = ecg_rt_rd32(vals + (bit >> 3)) >> (bit & 7u);
        acc += (int32_t)x[0] * level_bits(u, b);
        acc += (int32_t)x[1] * level_bits(u >> b, b);
    }
    n -= 2u * np;
    if (n) {
        ecg_rt_bitreader_init(&br, vals, bit);
        for (; n; --n) acc += (int32_t)*x++ * ecg_rt_br_next(&br, b);
    }
    return acc;
}
#endif

ecg_rt_status ecg_rt_linear_s8(uint32_t n_in, const ecg_rt_wblock *wb, int32_t zp_out,
                               int32_t act_min, int32_t act_max, const int8_t *x, int8_t *y)
{
    int32_t xoff[ECG_RT_WCHUNK];
    int8_t val[ECG_RT_WCHUNK];
    ecg_rt_wcursor cur;
    uint32_t c, n;

    if (!wb || !x || !y) return ECG_RT_E_NULL;
    if (wb->span != n_in) return ECG_RT_E_OP;
#ifndef __OPTIMIZE_SIZE__ /* -Os: the cursor for every encoding, the smaller code */
    if (wb->encoding == ECG_RT_ENC_DENSE && wb->bits < 8u) {
        for (c = 0; c < wb->c_out; ++c) {
            const uint32_t bit = c * n_in * wb->bits;
            int32_t acc = ecg_rt_rdi32(wb->bias + 4u * (size_t)c);
            switch (wb->bits) {
            case 1u: acc = dot_dense_sub8(acc, x, n_in, wb->values, wb->values_bytes, bit, 1u); break;
            case 2u: acc = dot_dense_sub8(acc, x, n_in, wb->values, wb->values_bytes, bit, 2u); break;
            case 3u: acc = dot_dense_sub8(acc, x, n_in, wb->values, wb->values_bytes, bit, 3u); break;
            case 4u: acc = dot_dense_sub8(acc, x, n_in, wb->values, wb->values_bytes, bit, 4u); break;
            case 5u: acc = dot_dense_sub8(acc, x, n_in, wb->values, wb->values_bytes, bit, 5u); break;
            case 6u: acc = dot_dense_sub8(acc, x, n_in, wb->values, wb->values_bytes, bit, 6u); break;
            default: acc = dot_dense_sub8(acc, x, n_in, wb->values, wb->values_bytes, bit, wb->bits); break;
            }
            y[c] = ecg_rt_requantize(acc, ecg_rt_rdi32(wb->mult + 4u * (size_t)c), wb->shift[c],
                                     zp_out, act_min, act_max);
        }
        return ECG_RT_OK;
    }
#endif
    ecg_rt_wcursor_init(&cur, wb, n_in, n_in);
    for (c = 0; c < wb->c_out; ++c) {
        int32_t acc = ecg_rt_rdi32(wb->bias + 4u * (size_t)c);
        if (c) ecg_rt_wcursor_channel(&cur, c, 0u);
        while ((n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK)) != 0)
            acc = ecg_rt_dot_inside(acc, x, xoff, val, n);
        y[c] = ecg_rt_requantize(acc, ecg_rt_rdi32(wb->mult + 4u * (size_t)c), wb->shift[c],
                                 zp_out, act_min, act_max);
    }
    return ECG_RT_OK;
}
