/* Loader side of the weight blocks (FORMAT.md sections 8 and 10): every offset, size, count
 * and level is checked before a kernel may walk the block, and the accumulator bound is
 * proven per channel so no int32 accumulator can overflow whatever the input. The checks run
 * in the order of the Python reader (ecg_edge/modelbin/reader.py, blocks.py), so a file
 * breaking one rule is refused for the same rule by both. */
#include "ecg_rt_internal.h"

static uint32_t align4(uint32_t n) { return (n + 3u) & ~3u; }

/* [off, off + size) lies inside [ECG_RT_BLOCK_HEADER, blk_size) and off is 4-aligned. */
static int array_ok(uint32_t off, uint64_t size, uint32_t blk_size)
{
    if (off & 3u) return 0;
    if (off < ECG_RT_BLOCK_HEADER) return 0;
    return (uint64_t)off + size <= blk_size;
}

static uint32_t popcount8(uint32_t b)
{
    b = b - ((b >> 1) & 0x55u);
    b = (b & 0x33u) + ((b >> 2) & 0x33u);
    return (b + (b >> 4)) & 0x0Fu;
}

/* Header fields against the op: c_out, kernel, span (want NULL: only non-zero). */
static ecg_rt_status check_shape(const ecg_rt_wblock *wb, const ecg_rt_wblock_shape *want,
                                 uint32_t *rule)
{
    if (wb->c_out == 0 || (want && wb->c_out != want->c_out))
        return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_C_OUT);
    if (wb->kernel == 0 || (want && wb->kernel != want->kernel))
        return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_KERNEL);
    if (wb->span == 0 || (want && wb->span != want->span))
        return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_SPAN);
    return ECG_RT_OK;
}

/* The bias, mult, shift, index and values arrays lie inside the block. */
static ecg_rt_status check_arrays(const uint8_t *blk, uint32_t blk_size, const ecg_rt_wblock *wb,
                                  uint32_t *rule)
{
    const uint32_t off_index = ecg_rt_rd32(blk + 32);
    if (wb->encoding == ECG_RT_ENC_DENSE && (off_index != 0 || wb->index_bytes != 0))
        return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_INDEX_BYTES);
    if (!array_ok(ecg_rt_rd32(blk + 20), 4u * (uint64_t)wb->c_out, blk_size) ||
        !array_ok(ecg_rt_rd32(blk + 24), 4u * (uint64_t)wb->c_out, blk_size) ||
        !array_ok(ecg_rt_rd32(blk + 28), align4(wb->c_out), blk_size) ||
        (wb->encoding != ECG_RT_ENC_DENSE && !array_ok(off_index, wb->index_bytes, blk_size)) ||
        !array_ok(ecg_rt_rd32(blk + 40), wb->values_bytes, blk_size))
        return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_ARRAYS);
    return ECG_RT_OK;
}

/* values_bytes, index_bytes and nnz against the encoding, before any value is read (so no
 * walk reads past the stream). */
static ecg_rt_status check_index(const ecg_rt_wblock *wb, uint64_t count, uint32_t *rule)
{
    const uint64_t values_count = wb->encoding == ECG_RT_ENC_DENSE ? count : wb->nnz;
    const uint64_t need = (values_count * wb->bits + 7u) / 8u;
    if (wb->encoding == ECG_RT_ENC_DENSE) {
        if (wb->bits == 1u && wb->nnz != count) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_NNZ);
    } else if (wb->nnz > count) {
        return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_NNZ);
    }
    if ((uint64_t)wb->values_bytes != ((need + 3u) & ~(uint64_t)3u))
        return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_VALUES_BYTES);
    if (wb->encoding == ECG_RT_ENC_BITMASK) {
        uint64_t pop = 0, full = count / 8u, j;
        const uint32_t rem = (uint32_t)(count % 8u);
        if (wb->index_bytes != align4((uint32_t)((count + 7u) / 8u)))
            return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_INDEX_BYTES);
        for (j = 0; j < full; ++j) pop += popcount8(wb->index[j]);
        if (rem) pop += popcount8(wb->index[full] & ((1u << rem) - 1u));
        if (pop != wb->nnz) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_MASK);
    } else if (wb->encoding == ECG_RT_ENC_RUNLENGTH) {
        const uint8_t *runs = wb->index + 4u * (size_t)wb->c_out;
        uint64_t sum = 0, vals = 0, j;
        uint32_t c;
        if ((uint64_t)wb->index_bytes < 4u * (uint64_t)wb->c_out)
            return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_INDEX_BYTES);
        for (c = 0; c < wb->c_out; ++c) sum += ecg_rt_rd32(wb->index + 4u * (size_t)c);
        if (sum > 0xFFFFFFF0u ||
            (uint64_t)wb->index_bytes != 4u * (uint64_t)wb->c_out + align4((uint32_t)sum))
            return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_INDEX_BYTES);
        for (j = 0; j < sum; ++j) vals += runs[j] != 255u;
        if (vals != wb->nnz) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_RUNS);
    }
    return ECG_RT_OK;
}

ecg_rt_status ecg_rt_wblock_check(const uint8_t *blk, uint32_t blk_size,
                                  const ecg_rt_wblock_shape *want, ecg_rt_wblock *wb,
                                  uint32_t *rule)
{
    uint64_t count;
    uint32_t c;
    ecg_rt_status st;
    ecg_rt_wcursor cur;
    int32_t xoff[64];
    int8_t val[64];

    if (blk_size < ECG_RT_BLOCK_HEADER) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_BOUNDS);
    ecg_rt_wblock_decode(blk, wb);
    if (wb->bits < 1u || wb->bits > 8u) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_BITS);
    if (wb->encoding > ECG_RT_ENC_RUNLENGTH) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_ENCODING);
    if (blk[2] != 0 || blk[3] != 0) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_RESERVED);
    if ((st = check_shape(wb, want, rule)) != ECG_RT_OK) return st;
    count = (uint64_t)wb->c_out * wb->span;
    if (count > ECG_RT_MAX_WEIGHTS) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_LIMIT);
    if ((st = check_arrays(blk, blk_size, wb, rule)) != ECG_RT_OK) return st;

    /* Per channel requantization parameters. */
    for (c = 0; c < wb->c_out; ++c)
        if (ecg_rt_rdi32(wb->mult + 4u * (size_t)c) < 0)
            return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_MULT);
    for (c = 0; c < wb->c_out; ++c)
        if (wb->shift[c] < 1u || wb->shift[c] > 62u)
            return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_SHIFT);
    if ((st = check_index(wb, count, rule)) != ECG_RT_OK) return st;

    /* Walk every channel as a kernel would: positions < span and nnz first, then the
     * accumulator bound (a second walk, so a broken index is named before any bound). */
    ecg_rt_wcursor_init(&cur, wb, wb->span, 0u);
    {
        uint64_t nonzero = 0;
        for (c = 0; c < wb->c_out; ++c) {
            uint32_t n;
            if (c) ecg_rt_wcursor_channel(&cur, c, 0u);
            while ((n = ecg_rt_wcursor_next(&cur, xoff, val, 64u)) != 0) nonzero += n;
            if (cur.bad) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_RUNS);
        }
        if (wb->encoding == ECG_RT_ENC_DENSE && nonzero != wb->nnz)
            return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_NNZ);
        if (wb->encoding != ECG_RT_ENC_DENSE && cur.values_done != wb->nnz)
            return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_RUNS);
    }
    ecg_rt_wcursor_init(&cur, wb, wb->span, 0u);
    for (c = 0; c < wb->c_out; ++c) {
        const int64_t bias = ecg_rt_rdi32(wb->bias + 4u * (size_t)c);
        int64_t abs_sum = 0;
        uint32_t n, j;
        if (c) ecg_rt_wcursor_channel(&cur, c, 0u);
        while ((n = ecg_rt_wcursor_next(&cur, xoff, val, 64u)) != 0)
            for (j = 0; j < n; ++j) abs_sum += val[j] < 0 ? -(int32_t)val[j] : val[j];
        if ((bias < 0 ? -bias : bias) + 128 * abs_sum >= ((int64_t)1 << 31))
            return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_BOUND);
    }
    return ECG_RT_OK;
}

ecg_rt_status ecg_rt_op_block_check(const ecg_rt_model *m, const ecg_rt_op *op,
                                    const ecg_rt_wblock_shape *want, ecg_rt_wblock *wb, uint32_t *rule)
{
    if (op->weight_block == ECG_RT_NONE32) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_MISSING);
    if (op->weight_block & 15u) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_ALIGN);
    if ((uint64_t)op->weight_block + op->weight_size > m->weights_size)
        return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_BOUNDS);
    return ecg_rt_wblock_check(m->weights + op->weight_block, op->weight_size, want, wb, rule);
}
