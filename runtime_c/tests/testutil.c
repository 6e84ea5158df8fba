/* Test-side helpers: RNG, reference arithmetic, block packer, model.bin writer, demo model. */
#include "rt_test.h"

int rt_failed_checks;
static uint64_t rng_state = 88172645463325252ull;

void rng_seed(uint64_t s) { rng_state = s ? s : 88172645463325252ull; }
uint32_t rng_u32(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}
int32_t rng_range(int32_t lo, int32_t hi)
{
    return lo + (int32_t)(rng_u32() % (uint32_t)(hi - lo + 1));
}

int64_t ref_floor_div_pow2(int64_t s, uint32_t n)
{
    int64_t d = (int64_t)1 << n, q = s / d;
    if (s % d != 0 && s < 0) q -= 1;
    return q;
}

int8_t ref_requant(int64_t acc, int32_t m, uint32_t n, int32_t zp, int32_t lo, int32_t hi)
{
    int64_t v = ref_floor_div_pow2(acc * m + ((int64_t)1 << (n - 1)), n) + zp;
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return (int8_t)v;
}

void random_levels(int8_t *w, size_t n, uint32_t bits, double sparsity)
{
    size_t j;
    int32_t lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
    for (j = 0; j < n; ++j) {
        if ((double)(rng_u32() % 10000u) < sparsity * 10000.0) { w[j] = 0; continue; }
        if (bits == 1) w[j] = (rng_u32() & 1u) ? 1 : -1;
        else {
            int32_t v;
            do v = rng_range(lo, hi); while (v == 0);
            w[j] = (int8_t)v;
        }
    }
}

uint32_t pick_shift(const int8_t *w, uint32_t span)
{
    int64_t s = 0;
    uint32_t j, n = 31;
    for (j = 0; j < span; ++j) s += w[j] < 0 ? -w[j] : w[j];
    s = s * 40; /* a typical |acc| */
    while (s > 100 && n < 62) { s >>= 1; ++n; }
    return n;
}

void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static size_t al4(size_t n) { return (n + 3u) & ~(size_t)3u; }
static size_t al16(size_t n) { return (n + 15u) & ~(size_t)15u; }

static void put_bits(uint8_t *s, size_t j, uint32_t bits, int32_t v)
{
    uint32_t u = bits == 1 ? (v > 0 ? 1u : 0u) : ((uint32_t)v & ((1u << bits) - 1u)), b;
    for (b = 0; b < bits; ++b)
        if (u & (1u << b)) s[(j * bits + b) / 8] |= (uint8_t)(1u << ((j * bits + b) % 8));
}

size_t pack_block(uint8_t *out, size_t cap, const int8_t *levels, uint32_t c_out, uint32_t span,
                  uint32_t kernel, uint32_t bits, uint32_t encoding, const int32_t *bias,
                  const int32_t *mult, const uint8_t *shift)
{
    size_t count = (size_t)c_out * span, nnz = 0, j, at, index_bytes = 0, n_values, entries = 0;
    size_t off_index = 0, off_values;
    uint32_t c;
    for (j = 0; j < count; ++j) nnz += levels[j] != 0;
    /* run bytes */
    if (encoding == 2) {
        for (c = 0; c < c_out; ++c) {
            long prev = -1;
            for (j = 0; j < span; ++j)
                if (levels[(size_t)c * span + j]) {
                    size_t gap = j - (size_t)(prev + 1);
                    entries += gap / 255 + 1;
                    prev = (long)j;
                }
        }
    }
    at = 48 + 8 * (size_t)c_out + al4(c_out);
    if (encoding == 1) index_bytes = al4((count + 7) / 8);
    if (encoding == 2) index_bytes = 4 * (size_t)c_out + al4(entries);
    if (encoding) off_index = at;
    off_values = at + index_bytes;
    n_values = encoding == 0 ? count : nnz;
    at = off_values + al4((n_values * bits + 7) / 8);
    if (at > cap) return 0;
    memset(out, 0, at);
    out[0] = (uint8_t)bits;
    out[1] = (uint8_t)encoding;
    wr32(out + 4, c_out);
    wr32(out + 8, span);
    wr32(out + 12, kernel);
    wr32(out + 16, (uint32_t)nnz);
    wr32(out + 20, 48);
    wr32(out + 24, 48 + 4 * c_out);
    wr32(out + 28, 48 + 8 * c_out);
    wr32(out + 32, (uint32_t)off_index);
    wr32(out + 36, (uint32_t)index_bytes);
    wr32(out + 40, (uint32_t)off_values);
    wr32(out + 44, (uint32_t)(at - off_values));
    for (c = 0; c < c_out; ++c) {
        wr32(out + 48 + 4 * c, (uint32_t)bias[c]);
        wr32(out + 48 + 4 * c_out + 4 * c, (uint32_t)mult[c]);
        out[48 + 8 * c_out + c] = shift[c];
    }
    if (encoding == 0) {
        for (j = 0; j < count; ++j) put_bits(out + off_values, j, bits, levels[j]);
    } else if (encoding == 1) {
        size_t v = 0;
        for (j = 0; j < count; ++j)
            if (levels[j]) {
                out[off_index + j / 8] |= (uint8_t)(1u << (j % 8));
                put_bits(out + off_values, v++, bits, levels[j]);
            }
    } else {
        uint8_t *runs = out + off_index + 4 * (size_t)c_out;
        size_t r = 0, v = 0;
        for (c = 0; c < c_out; ++c) {
            long prev = -1;
            size_t start = r;
            for (j = 0; j < span; ++j)
                if (levels[(size_t)c * span + j]) {
                    size_t gap = j - (size_t)(prev + 1);
                    while (gap >= 255) { runs[r++] = 255; gap -= 255; }
                    runs[r++] = (uint8_t)gap;
                    put_bits(out + off_values, v++, bits, levels[(size_t)c * span + j]);
                    prev = (long)j;
                }
            wr32(out + off_index + 4 * c, (uint32_t)(r - start));
        }
    }
    return at;
}

void make_block(test_block *tb, uint32_t c_out, uint32_t span, uint32_t kernel, uint32_t bits,
                uint32_t encoding, double sparsity, int32_t zp_in)
{
    size_t count = (size_t)c_out * span, cap;
    uint32_t c, j;
    tb->w = malloc(count ? count : 1);
    tb->bias = malloc(4 * (size_t)c_out);
    tb->mult = malloc(4 * (size_t)c_out);
    tb->shift = malloc(c_out);
    if (bits == 1 && encoding == 0) sparsity = 0.0;
    random_levels(tb->w, count, bits, sparsity);
    for (c = 0; c < c_out; ++c) {
        int32_t s = 0;
        for (j = 0; j < span; ++j) s += tb->w[(size_t)c * span + j];
        /* folded bias as the packer makes it: round(b/(s_in s_w)) - zp_in * sum w */
        tb->bias[c] = rng_range(-2000, 2000) - zp_in * s;
        tb->mult[c] = (int32_t)(0x40000000u + (rng_u32() & 0x3FFFFFFFu));
        tb->shift[c] = (uint8_t)pick_shift(tb->w + (size_t)c * span, span);
    }
    cap = 128 + 16 * (size_t)c_out + 3 * count;
    tb->blk = malloc(cap);
    tb->size = pack_block(tb->blk, cap, tb->w, c_out, span, kernel, bits, encoding, tb->bias,
                          tb->mult, tb->shift);
    ecg_rt_wblock_decode(tb->blk, &tb->wb);
}

void free_block(test_block *tb)
{
    free(tb->w); free(tb->bias); free(tb->mult); free(tb->shift); free(tb->blk);
    memset(tb, 0, sizeof *tb);
}

uint32_t ref_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    size_t j;
    int b;
    for (j = 0; j < n; ++j) {
        c ^= p[j];
        for (b = 0; b < 8; ++b) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

void tm_fix_crc(uint8_t *buf, size_t len) { wr32(buf + 12, ref_crc32(buf + 64, len - 64)); }

static size_t write_meta(uint8_t *p)
{
    size_t at = 0;
    const char *k1 = "task", *v1 = "test";
    wr16(p + at, 4); memcpy(p + at + 2, k1, 4); at += 6; p[at++] = 3;
    wr32(p + at, 4); memcpy(p + at + 4, v1, 4); at += 8;
    wr16(p + at, 12); memcpy(p + at + 2, "input_length", 12); at += 14; p[at++] = 0;
    wr32(p + at, 64); at += 4;
    wr16(p + at, 7); memcpy(p + at + 2, "classes", 7); at += 9; p[at++] = 4;
    wr32(p + at, 2); at += 4;
    wr32(p + at, 1); p[at + 4] = 'a'; at += 5;
    wr32(p + at, 2); p[at + 4] = 'b'; p[at + 5] = 'c'; at += 6;
    return at;
}

size_t tm_write(test_model *tm, uint8_t *out, size_t cap)
{
    size_t meta_off = 128, meta_size, ten_off, ops_off, w_off, w_size = 0, end, j;
    uint32_t b, max_end = 0;
    uint8_t meta[128];
    meta_size = write_meta(meta);
    ten_off = al16(meta_off + meta_size);
    ops_off = al16(ten_off + 32 * (size_t)tm->n_tensors);
    w_off = al16(ops_off + 64 * (size_t)tm->n_ops);
    for (b = 0; b < tm->n_blocks; ++b) w_size = al16(w_size) + tm->blk[b].size;
    end = al16(w_off + w_size);
    if (end > cap) return 0;
    memset(out, 0, end);
    out[0] = 'E'; out[1] = 'C'; out[2] = 'G'; out[3] = 'B';
    wr16(out + 4, tm->version ? tm->version : 1); wr16(out + 6, 64); wr32(out + 8, (uint32_t)end);
    wr32(out + 20, 4); wr32(out + 24, 64);
    for (j = 0; j < tm->n_tensors; ++j)
        if (tm->t[j].arena_offset + tm->t[j].size_bytes > max_end)
            max_end = tm->t[j].arena_offset + tm->t[j].size_bytes;
    if (!tm->arena_size) tm->arena_size = (uint32_t)al16(max_end);
    wr32(out + 28, tm->arena_size);
    wr16(out + 32, tm->input); wr16(out + 34, tm->output);
    wr16(out + 36, (uint16_t)tm->n_tensors); wr16(out + 38, (uint16_t)tm->n_ops);
    wr32(out + 40, tm->t[tm->output].size_bytes);
    /* section table */
    wr32(out + 64, 1); wr32(out + 68, (uint32_t)meta_off); wr32(out + 72, (uint32_t)meta_size); wr32(out + 76, 3);
    wr32(out + 80, 2); wr32(out + 84, (uint32_t)ten_off); wr32(out + 88, 32 * tm->n_tensors); wr32(out + 92, tm->n_tensors);
    wr32(out + 96, 3); wr32(out + 100, (uint32_t)ops_off); wr32(out + 104, 64 * tm->n_ops); wr32(out + 108, tm->n_ops);
    wr32(out + 112, 4); wr32(out + 116, (uint32_t)w_off); wr32(out + 120, (uint32_t)w_size); wr32(out + 124, tm->n_blocks);
    memcpy(out + meta_off, meta, meta_size);
    for (j = 0; j < tm->n_tensors; ++j) {
        uint8_t *r = out + ten_off + 32 * j;
        float sc = tm->t[j].scale;
        uint32_t sbits;
        memcpy(&sbits, &sc, 4);
        wr32(r, tm->t[j].len); wr32(r + 4, tm->t[j].ch); wr32(r + 8, sbits);
        wr32(r + 12, (uint32_t)tm->t[j].zp); wr32(r + 16, tm->t[j].arena_offset);
        wr32(r + 20, tm->t[j].size_bytes); wr32(r + 24, tm->t[j].flags);
    }
    {
        size_t at = 0;
        uint32_t boff[TM_MAX];
        for (b = 0; b < tm->n_blocks; ++b) {
            at = al16(at);
            boff[b] = (uint32_t)at;
            memcpy(out + w_off + at, tm->blk[b].blk, tm->blk[b].size);
            at += tm->blk[b].size;
        }
        for (j = 0; j < tm->n_ops; ++j) {
            tm_op *o = &tm->op[j];
            uint8_t *r = out + ops_off + 64 * j;
            uint32_t k;
            if (o->block >= 0) {
                o->weight_block = boff[o->block];
                o->weight_size = (uint32_t)tm->blk[o->block].size;
            } else {
                o->weight_block = 0xFFFFFFFFu;
                o->weight_size = 0;
            }
            wr16(r, o->type); wr16(r + 2, o->flags); wr16(r + 4, o->in0); wr16(r + 6, o->in1);
            wr16(r + 8, o->out); wr32(r + 12, (uint32_t)o->act_min); wr32(r + 16, (uint32_t)o->act_max);
            wr32(r + 20, o->weight_block); wr32(r + 24, o->weight_size);
            for (k = 0; k < 9; ++k) wr32(r + 28 + 4 * k, o->p[k]);
        }
    }
    tm_fix_crc(out, end);
    return end;
}
