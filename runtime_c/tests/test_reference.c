/* Naive reference kernels (dense weights, obvious loops) and the demo model using every op. */
#include "rt_test.h"

void ref_conv1d(const int8_t *x, uint32_t in_len, uint32_t in_ch, int32_t zp_in, const int8_t *w,
                const int32_t *bias, const int32_t *mult, const uint8_t *shift, uint32_t out_ch,
                uint32_t k, uint32_t stride, uint32_t pad_left, uint32_t dil, uint32_t groups,
                uint32_t out_len, int32_t zp_out, int32_t lo, int32_t hi, int8_t *y)
{
    uint32_t cin_g = in_ch / groups, cout_g = out_ch / groups, t, c, kk, i;
    for (t = 0; t < out_len; ++t)
        for (c = 0; c < out_ch; ++c) {
            int64_t acc = bias[c];
            uint32_t g = c / cout_g;
            for (kk = 0; kk < k; ++kk)
                for (i = 0; i < cin_g; ++i) {
                    long pos = (long)t * stride + (long)kk * dil - (long)pad_left;
                    int32_t xv = (pos >= 0 && pos < (long)in_len) ? x[pos * in_ch + g * cin_g + i] : zp_in;
                    acc += (int64_t)w[((size_t)c * k + kk) * cin_g + i] * xv;
                }
            y[(size_t)t * out_ch + c] = ref_requant(acc, mult[c], shift[c], zp_out, lo, hi);
        }
}

static void ref_pool(int is_max, const int8_t *x, uint32_t in_len, uint32_t ch, uint32_t k,
                     uint32_t stride, uint32_t pad_left, uint32_t out_len, int32_t zp_in, int32_t m,
                     uint32_t n, int32_t zp_out, int32_t lo, int32_t hi, int8_t *y)
{
    uint32_t t, c, kk;
    for (t = 0; t < out_len; ++t)
        for (c = 0; c < ch; ++c) {
            int64_t acc = 0;
            int best = -1000;
            for (kk = 0; kk < k; ++kk) {
                long pos = (long)t * stride + kk - (long)pad_left;
                if (pos < 0 || pos >= (long)in_len) continue;
                if (x[pos * ch + c] > best) best = x[pos * ch + c];
                acc += x[pos * ch + c] - zp_in;
            }
            if (is_max) {
                if (best < lo) best = lo;
                if (best > hi) best = hi;
                y[t * ch + c] = (int8_t)best;
            } else {
                y[t * ch + c] = ref_requant(acc, m, n, zp_out, lo, hi);
            }
        }
}

void tm_free(test_model *tm)
{
    uint32_t b;
    for (b = 0; b < tm->n_blocks; ++b) free_block(&tm->blk[b]);
}

void tm_add_tensor(test_model *tm, uint32_t len, uint32_t ch, int32_t zp, uint32_t *arena_at)
{
    tm_tensor *t = &tm->t[tm->n_tensors++];
    t->len = len; t->ch = ch; t->scale = 0.05f; t->zp = zp;
    t->size_bytes = len * ch;
    t->arena_offset = *arena_at;
    *arena_at += (len * ch + 15u) & ~15u;
    t->flags = 0;
}

tm_op *tm_add_op(test_model *tm, uint16_t type, uint16_t in0, uint16_t out)
{
    tm_op *o = &tm->op[tm->n_ops++];
    memset(o, 0, sizeof *o);
    o->type = type; o->in0 = in0; o->in1 = 0xFFFF; o->out = out;
    o->act_min = -128; o->act_max = 127; o->block = -1;
    return o;
}

void tm_build_demo(test_model *tm, uint32_t bits, uint32_t encoding, double sparsity)
{
    uint32_t at = 0;
    tm_op *o;
    memset(tm, 0, sizeof *tm);
    tm_add_tensor(tm, 64, 2, -3, &at);  /* 0 input */
    tm_add_tensor(tm, 32, 8, -20, &at); /* 1 stem conv + relu */
    tm_add_tensor(tm, 16, 8, -20, &at); /* 2 maxpool */
    tm_add_tensor(tm, 16, 8, 5, &at);   /* 3 depthwise */
    tm_add_tensor(tm, 16, 12, -7, &at); /* 4 pointwise */
    tm_add_tensor(tm, 16, 12, 3, &at);  /* 5 shortcut conv k=3 */
    tm_add_tensor(tm, 16, 12, 1, &at);  /* 6 add (aliases 4) */
    tm->t[6].arena_offset = tm->t[4].arena_offset;
    tm_add_tensor(tm, 16, 12, 1, &at);  /* 7 relu */
    tm_add_tensor(tm, 8, 12, -2, &at);  /* 8 avgpool */
    tm_add_tensor(tm, 1, 12, 4, &at);   /* 9 gap */
    tm_add_tensor(tm, 1, 4, 0, &at);    /* 10 linear (gap) */
    tm_add_tensor(tm, 1, 4, -1, &at);   /* 11 linear (flatten of 8) */
    tm_add_tensor(tm, 1, 4, 2, &at);    /* 12 add -> logits */
    tm->input = 0; tm->output = 12;
    tm->t[0].flags = 1; tm->t[12].flags = 2;

    o = tm_add_op(tm, 0, 0, 1); /* stem: K=5 stride 2 pad 2/2, fused relu */
    o->p[0] = 5; o->p[1] = 2; o->p[2] = 2; o->p[3] = 2; o->p[4] = 1; o->p[5] = 1;
    o->flags = 1; o->act_min = -20; o->block = (int)tm->n_blocks;
    make_block(&tm->blk[tm->n_blocks++], 8, 5 * 2, 5, bits, encoding, sparsity, -3);
    o = tm_add_op(tm, 3, 1, 2); /* maxpool K=3 s=2 pad 1/1 */
    o->p[0] = 3; o->p[1] = 2; o->p[2] = 1; o->p[3] = 1;
    o = tm_add_op(tm, 0, 2, 3); /* depthwise K=3 dil=2 pad 2/2 */
    o->p[0] = 3; o->p[1] = 1; o->p[2] = 2; o->p[3] = 2; o->p[4] = 2; o->p[5] = 8;
    o->block = (int)tm->n_blocks;
    make_block(&tm->blk[tm->n_blocks++], 8, 3, 3, bits, encoding, sparsity, -20);
    o = tm_add_op(tm, 0, 3, 4); /* pointwise 8 -> 12 */
    o->p[0] = 1; o->p[1] = 1; o->p[4] = 1; o->p[5] = 1;
    o->block = (int)tm->n_blocks;
    make_block(&tm->blk[tm->n_blocks++], 12, 8, 1, bits, encoding, sparsity, 5);
    o = tm_add_op(tm, 0, 2, 5); /* shortcut-ish K=3 pad 1/1 */
    o->p[0] = 3; o->p[1] = 1; o->p[2] = 1; o->p[3] = 1; o->p[4] = 1; o->p[5] = 1;
    o->block = (int)tm->n_blocks;
    make_block(&tm->blk[tm->n_blocks++], 12, 3 * 8, 3, bits, encoding, sparsity, -20);
    o = tm_add_op(tm, 2, 4, 6); /* add, output aliases in0 */
    o->in1 = 5; o->p[0] = 0x30000000; o->p[1] = 0x28000000; o->p[2] = 30;
    o = tm_add_op(tm, 6, 6, 7); /* relu */
    o->act_min = 1;
    o = tm_add_op(tm, 4, 7, 8); /* avgpool K=2 s=2 */
    o->p[0] = 2; o->p[1] = 2; o->p[4] = 0x40000000; o->p[5] = 31;
    o = tm_add_op(tm, 5, 8, 9); /* gap */
    o->p[0] = 0x40000000; o->p[1] = 33;
    o = tm_add_op(tm, 1, 9, 10); /* linear 12 -> 4 */
    o->block = (int)tm->n_blocks;
    make_block(&tm->blk[tm->n_blocks++], 4, 12, 1, bits, encoding, sparsity, 4);
    o = tm_add_op(tm, 1, 8, 11); /* linear over the flat [8][12] tensor -> 4 */
    o->block = (int)tm->n_blocks;
    make_block(&tm->blk[tm->n_blocks++], 4, 96, 1, bits, encoding, sparsity, -2);
    o = tm_add_op(tm, 2, 10, 12);
    o->in1 = 11; o->p[0] = 0x20000000; o->p[1] = 0x20000000; o->p[2] = 30;
}

void tm_reference_run(const test_model *tm, const int8_t *input, int8_t *logits)
{
    static int8_t buf[TM_MAX][4096];
    uint32_t j;
    memcpy(buf[tm->input], input, tm->t[tm->input].size_bytes);
    for (j = 0; j < tm->n_ops; ++j) {
        const tm_op *o = &tm->op[j];
        const tm_tensor *a = &tm->t[o->in0], *y = &tm->t[o->out];
        const test_block *b = o->block >= 0 ? &tm->blk[o->block] : NULL;
        switch (o->type) {
        case 0:
            ref_conv1d(buf[o->in0], a->len, a->ch, a->zp, b->w, b->bias, b->mult, b->shift, y->ch,
                       o->p[0], o->p[1], o->p[2], o->p[4], o->p[5], y->len, y->zp, o->act_min,
                       o->act_max, buf[o->out]);
            break;
        case 1:
            ref_conv1d(buf[o->in0], 1, a->len * a->ch, 0, b->w, b->bias, b->mult, b->shift, y->ch,
                       1, 1, 0, 1, 1, 1, y->zp, o->act_min, o->act_max, buf[o->out]);
            break;
        case 2: {
            const tm_tensor *bt = &tm->t[o->in1];
            uint32_t e;
            for (e = 0; e < y->size_bytes; ++e) {
                int64_t s = (int64_t)(buf[o->in0][e] - a->zp) * (int32_t)o->p[0] +
                            (int64_t)(buf[o->in1][e] - bt->zp) * (int32_t)o->p[1];
                buf[o->out][e] = ref_requant(s, 1, o->p[2], y->zp, o->act_min, o->act_max);
            }
            break;
        }
        case 3:
        case 4:
            ref_pool(o->type == 3, buf[o->in0], a->len, a->ch, o->p[0], o->p[1], o->p[2], y->len,
                     a->zp, (int32_t)o->p[4], o->p[5], y->zp, o->act_min, o->act_max, buf[o->out]);
            break;
        case 5: {
            uint32_t c, t;
            for (c = 0; c < a->ch; ++c) {
                int64_t acc = 0;
                for (t = 0; t < a->len; ++t) acc += buf[o->in0][t * a->ch + c] - a->zp;
                buf[o->out][c] = ref_requant(acc, (int32_t)o->p[0], o->p[1], y->zp, o->act_min, o->act_max);
            }
            break;
        }
        case 6: {
            uint32_t e;
            for (e = 0; e < y->size_bytes; ++e) {
                int v = buf[o->in0][e];
                buf[o->out][e] = (int8_t)(v < o->act_min ? o->act_min : v > o->act_max ? o->act_max : v);
            }
            break;
        }
        default:
            ref_transformer_op(tm, o, buf);
            break;
        }
    }
    memcpy(logits, buf[tm->output], tm->t[tm->output].size_bytes);
}
