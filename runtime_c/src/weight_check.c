/* Loader side of the weight blocks (FORMAT.md sections 8 and 10): every offset, size, count
 * and level is checked before a kernel may walk the block, and the accumulator bound is
 * proven per channel so no int32 accumulator can overflow whatever the input. */
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

ecg_rt_status ecg_rt_wblock_check(const uint8_t *blk, uint32_t blk_size, ecg_rt_wblock *wb)
{
    uint64_t count, values_count, need;
    uint32_t c, off_bias, off_mult, off_shift, off_index, off_values;
    ecg_rt_wcursor cur;
    int32_t xoff[64];
    int8_t val[64];

    if (blk_size < ECG_RT_BLOCK_HEADER) return ECG_RT_E_WEIGHTS;
    ecg_rt_wblock_decode(blk, wb);
    if (wb->bits < 1u || wb->bits > 8u) return ECG_RT_E_WEIGHTS;
    if (wb->encoding > ECG_RT_ENC_RUNLENGTH) return ECG_RT_E_WEIGHTS;
    if (blk[2] != 0 || blk[3] != 0) return ECG_RT_E_WEIGHTS; /* reserved */
    if (wb->c_out == 0 || wb->span == 0 || wb->kernel == 0) return ECG_RT_E_WEIGHTS;
    count = (uint64_t)wb->c_out * wb->span;
    if (count > ECG_RT_MAX_WEIGHTS) return ECG_RT_E_WEIGHTS;
    if (wb->nnz > count) return ECG_RT_E_WEIGHTS;
    if (wb->encoding == ECG_RT_ENC_DENSE && wb->bits == 1u && wb->nnz != count)
        return ECG_RT_E_WEIGHTS;

    off_bias = ecg_rt_rd32(blk + 20);
    off_mult = ecg_rt_rd32(blk + 24);
    off_shift = ecg_rt_rd32(blk + 28);
    off_index = ecg_rt_rd32(blk + 32);
    off_values = ecg_rt_rd32(blk + 40);
    if (!array_ok(off_bias, 4u * (uint64_t)wb->c_out, blk_size)) return ECG_RT_E_WEIGHTS;
    if (!array_ok(off_mult, 4u * (uint64_t)wb->c_out, blk_size)) return ECG_RT_E_WEIGHTS;
    if (!array_ok(off_shift, align4(wb->c_out), blk_size)) return ECG_RT_E_WEIGHTS;

    /* Index sizes per encoding. */
    if (wb->encoding == ECG_RT_ENC_DENSE) {
        if (off_index != 0 || wb->index_bytes != 0) return ECG_RT_E_WEIGHTS;
        values_count = count;
    } else if (wb->encoding == ECG_RT_ENC_BITMASK) {
        if (wb->index_bytes != align4((uint32_t)((count + 7u) / 8u))) return ECG_RT_E_WEIGHTS;
        if (!array_ok(off_index, wb->index_bytes, blk_size)) return ECG_RT_E_WEIGHTS;
        values_count = wb->nnz;
    } else {
        uint64_t sum = 0;
        if ((uint64_t)wb->index_bytes < 4u * (uint64_t)wb->c_out) return ECG_RT_E_WEIGHTS;
        if (!array_ok(off_index, wb->index_bytes, blk_size)) return ECG_RT_E_WEIGHTS;
        for (c = 0; c < wb->c_out; ++c) sum += ecg_rt_rd32(wb->index + 4u * (size_t)c);
        if (sum > 0xFFFFFFF0u) return ECG_RT_E_WEIGHTS;
        if ((uint64_t)wb->index_bytes != 4u * (uint64_t)wb->c_out + align4((uint32_t)sum))
            return ECG_RT_E_WEIGHTS;
        values_count = wb->nnz;
    }
    need = (values_count * wb->bits + 7u) / 8u;
    if ((uint64_t)wb->values_bytes != ((need + 3u) & ~(uint64_t)3u)) return ECG_RT_E_WEIGHTS;
    if (!array_ok(off_values, wb->values_bytes, blk_size)) return ECG_RT_E_WEIGHTS;

    /* Per channel requantization parameters. */
    for (c = 0; c < wb->c_out; ++c) {
        uint8_t n = wb->shift[c];
        if (n < 1u || n > 62u) return ECG_RT_E_WEIGHTS;
        if (ecg_rt_rdi32(wb->mult + 4u * (size_t)c) < 0) return ECG_RT_E_WEIGHTS;
    }

    /* nnz against the index before any value is read (so no walk reads past the stream). */
    if (wb->encoding == ECG_RT_ENC_BITMASK) {
        uint64_t pop = 0, full = count / 8u, j;
        uint32_t rem = (uint32_t)(count % 8u);
        for (j = 0; j < full; ++j) pop += popcount8(wb->index[j]);
        if (rem) pop += popcount8(wb->index[full] & ((1u << rem) - 1u));
        if (pop != wb->nnz) return ECG_RT_E_WEIGHTS;
    } else if (wb->encoding == ECG_RT_ENC_RUNLENGTH) {
        const uint8_t *runs = wb->index + 4u * (size_t)wb->c_out;
        uint64_t total = 0, vals = 0, j;
        for (c = 0; c < wb->c_out; ++c) total += ecg_rt_rd32(wb->index + 4u * (size_t)c);
        for (j = 0; j < total; ++j) vals += runs[j] != 255u;
        if (vals != wb->nnz) return ECG_RT_E_WEIGHTS;
    }

    /* Walk every channel as a kernel would: positions < span, nnz, accumulator bound. */
    ecg_rt_wcursor_init(&cur, wb, wb->span, 0u);
    {
        uint64_t nonzero = 0;
        for (c = 0; c < wb->c_out; ++c) {
            int64_t bias = ecg_rt_rdi32(wb->bias + 4u * (size_t)c);
            int64_t abs_sum = 0;
            uint32_t n, j;
            if (c) ecg_rt_wcursor_channel(&cur, c, 0u);
            while ((n = ecg_rt_wcursor_next(&cur, xoff, val, 64u)) != 0) {
                for (j = 0; j < n; ++j) abs_sum += val[j] < 0 ? -(int32_t)val[j] : val[j];
                nonzero += n;
            }
            if (cur.bad) return ECG_RT_E_WEIGHTS;
            if ((bias < 0 ? -bias : bias) + 128 * abs_sum >= ((int64_t)1 << 31))
                return ECG_RT_E_WEIGHTS;
        }
        if (wb->encoding == ECG_RT_ENC_DENSE && nonzero != wb->nnz) return ECG_RT_E_WEIGHTS;
        if (wb->encoding != ECG_RT_ENC_DENSE && cur.values_done != wb->nnz) return ECG_RT_E_WEIGHTS;
    }
    return ECG_RT_OK;
}
