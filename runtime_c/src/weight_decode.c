/* Packed weights, read in place (FORMAT.md section 8): the b-bit LSB-first bitstream reader
 * for b = 1..8, and the DENSE / BITMASK / RUNLENGTH walkers that yield a channel's non-zero
 * weights as (input offset, level) pairs. Nothing is densified: a kernel asks for at most
 * ECG_RT_WCHUNK entries at a time and zero weights are never produced. */
#include "ecg_rt_internal.h"

void ecg_rt_wblock_decode(const uint8_t *blk, ecg_rt_wblock *wb)
{
    wb->bits = blk[0];
    wb->encoding = blk[1];
    wb->c_out = ecg_rt_rd32(blk + 4);
    wb->span = ecg_rt_rd32(blk + 8);
    wb->kernel = ecg_rt_rd32(blk + 12);
    wb->nnz = ecg_rt_rd32(blk + 16);
    wb->bias = blk + ecg_rt_rd32(blk + 20);
    wb->mult = blk + ecg_rt_rd32(blk + 24);
    wb->shift = blk + ecg_rt_rd32(blk + 28);
    wb->index = blk + ecg_rt_rd32(blk + 32);
    wb->index_bytes = ecg_rt_rd32(blk + 36);
    wb->values = blk + ecg_rt_rd32(blk + 40);
    wb->values_bytes = ecg_rt_rd32(blk + 44);
}

void ecg_rt_bitreader_init(ecg_rt_bitreader *br, const uint8_t *stream, uint64_t bit_offset)
{
    uint32_t skip = (uint32_t)(bit_offset & 7u);
    br->ptr = stream + (size_t)(bit_offset >> 3);
    br->buf = 0;
    br->nbits = 0;
    if (skip) {
        br->buf = (uint32_t)(*br->ptr++) >> skip;
        br->nbits = 8u - skip;
    }
}

int32_t ecg_rt_bitreader_next(ecg_rt_bitreader *br, uint32_t bits)
{
    return ecg_rt_br_next(br, bits);
}

/* Move (pos, k, i) forward by d positions. */
static void advance(ecg_rt_wcursor *cur, uint32_t d)
{
    cur->pos += d;
    cur->i += d;
    if (cur->i >= cur->cin_g) {
        cur->k += cur->i / cur->cin_g;
        cur->i %= cur->cin_g;
    }
}

void ecg_rt_wcursor_init(ecg_rt_wcursor *cur, const ecg_rt_wblock *wb, uint32_t cin_g,
                         uint32_t tap_stride)
{
    cur->wb = wb;
    cur->cin_g = cin_g;
    cur->tap_stride = tap_stride;
    cur->channel = 0;
    cur->values_done = 0;
    cur->bad = 0;
    cur->runs_left = 0;
    cur->runs = 0;
    cur->runs_next = (wb->encoding == ECG_RT_ENC_RUNLENGTH) ? wb->index + 4u * (size_t)wb->c_out : 0;
    ecg_rt_wcursor_channel(cur, 0, 0);
}

void ecg_rt_wcursor_channel(ecg_rt_wcursor *cur, uint32_t c, uint32_t base)
{
    const ecg_rt_wblock *wb = cur->wb;
    cur->channel = c;
    cur->base = base;
    cur->pos = cur->k = cur->i = 0;
    switch (wb->encoding) {
    case ECG_RT_ENC_DENSE:
        ecg_rt_bitreader_init(&cur->values, wb->values, (uint64_t)c * wb->span * wb->bits);
        break;
    case ECG_RT_ENC_BITMASK:
        cur->mask_bit = c * wb->span;
        ecg_rt_bitreader_init(&cur->values, wb->values, (uint64_t)cur->values_done * wb->bits);
        break;
    default: /* RUNLENGTH */
        cur->runs = cur->runs_next;
        cur->runs_left = ecg_rt_rd32(wb->index + 4u * (size_t)c);
        cur->runs_next = cur->runs + cur->runs_left;
        ecg_rt_bitreader_init(&cur->values, wb->values, (uint64_t)cur->values_done * wb->bits);
        break;
    }
}

static uint32_t next_dense(ecg_rt_wcursor *cur, int32_t *xoff, int8_t *val, uint32_t cap)
{
    const uint32_t span = cur->wb->span, bits = cur->wb->bits;
    uint32_t n = 0;
    if (bits == 8u && cur->values.nbits == 0) {
        /* Byte-aligned 8-bit levels: read them as int8 directly. */
        const int8_t *w = (const int8_t *)cur->values.ptr;
        while (n < cap && cur->pos < span) {
            int8_t v = *w++;
            if (v != 0) {
                xoff[n] = (int32_t)(cur->k * cur->tap_stride + cur->base + cur->i);
                val[n++] = v;
            }
            cur->pos++;
            if (++cur->i == cur->cin_g) { cur->i = 0; cur->k++; }
        }
        cur->values.ptr = (const uint8_t *)w;
        return n;
    }
#ifndef __OPTIMIZE_SIZE__
    { /* the same walk on locals: the int8 stores may alias *cur, so its fields would be reloaded
       * per level (-Os: the loop below, the smaller code) */
        ecg_rt_bitreader br = cur->values;
        uint32_t pos = cur->pos, i = cur->i, k = cur->k;
        const uint32_t cin_g = cur->cin_g, ts = cur->tap_stride, base = cur->base;
        while (n < cap && pos < span) {
            const int32_t v = ecg_rt_br_next(&br, bits);
            if (v != 0) {
                xoff[n] = (int32_t)(k * ts + base + i);
                val[n++] = (int8_t)v;
            }
            pos++;
            if (++i == cin_g) { i = 0; k++; }
        }
        cur->values = br;
        cur->pos = pos;
        cur->i = i;
        cur->k = k;
        return n;
    }
#endif
    while (n < cap && cur->pos < span) {
        int32_t v = ecg_rt_br_next(&cur->values, bits);
        if (v != 0) {
            xoff[n] = (int32_t)(cur->k * cur->tap_stride + cur->base + cur->i);
            val[n++] = (int8_t)v;
        }
        cur->pos++;
        if (++cur->i == cur->cin_g) { cur->i = 0; cur->k++; }
    }
    return n;
}

static uint32_t next_bitmask(ecg_rt_wcursor *cur, int32_t *xoff, int8_t *val, uint32_t cap)
{
    const uint32_t span = cur->wb->span, bits = cur->wb->bits;
    const uint8_t *mask = cur->wb->index;
    uint32_t n = 0;
    while (n < cap && cur->pos < span) {
        uint32_t mb = cur->mask_bit;
        uint32_t byte = mask[mb >> 3] >> (mb & 7u);
        if (byte == 0) {
            /* The rest of this mask byte is zero: skip it in one step (within the channel). */
            uint32_t d = 8u - (mb & 7u);
            if (d > span - cur->pos) d = span - cur->pos;
            cur->mask_bit += d;
            advance(cur, d);
            continue;
        }
        if (byte & 1u) {
            int32_t v = ecg_rt_br_next(&cur->values, bits);
            cur->values_done++;
            if (v != 0) {
                xoff[n] = (int32_t)(cur->k * cur->tap_stride + cur->base + cur->i);
                val[n++] = (int8_t)v;
            }
        }
        cur->mask_bit++;
        cur->pos++;
        if (++cur->i == cur->cin_g) { cur->i = 0; cur->k++; }
    }
    return n;
}

static uint32_t next_runlength(ecg_rt_wcursor *cur, int32_t *xoff, int8_t *val, uint32_t cap)
{
    const uint32_t span = cur->wb->span, bits = cur->wb->bits;
    uint32_t n = 0;
    while (n < cap && cur->runs_left) {
        uint32_t r = *cur->runs++;
        cur->runs_left--;
        if (r == 255u) {
            if (span - cur->pos < 255u) { cur->bad = 1; cur->runs_left = 0; break; }
            advance(cur, 255u);
            continue;
        }
        if (span - cur->pos <= r) { cur->bad = 1; cur->runs_left = 0; break; }
        advance(cur, r);
        {
            int32_t v = ecg_rt_br_next(&cur->values, bits);
            cur->values_done++;
            if (v != 0) {
                xoff[n] = (int32_t)(cur->k * cur->tap_stride + cur->base + cur->i);
                val[n++] = (int8_t)v;
            }
        }
        advance(cur, 1u);
    }
    return n;
}

uint32_t ecg_rt_wcursor_next(ecg_rt_wcursor *cur, int32_t *xoff, int8_t *val, uint32_t cap)
{
    switch (cur->wb->encoding) {
    case ECG_RT_ENC_DENSE: return next_dense(cur, xoff, val, cap);
    case ECG_RT_ENC_BITMASK: return next_bitmask(cur, xoff, val, cap);
    default: return next_runlength(cur, xoff, val, cap);
    }
}

void ecg_rt_wcursor_finish_channel(ecg_rt_wcursor *cur)
{
    int32_t xoff[32];
    int8_t val[32];
    while (ecg_rt_wcursor_next(cur, xoff, val, 32u) != 0) {
    }
}

int ecg_rt_wcursor_done(const ecg_rt_wcursor *cur)
{
    if (cur->wb->encoding == ECG_RT_ENC_RUNLENGTH) return cur->runs_left == 0;
    return cur->pos >= cur->wb->span;
}
