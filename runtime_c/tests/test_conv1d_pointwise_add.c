/* The fused 1x1 shortcut CONV1D + residual ADD (conv1d_pointwise_add_s8.c) against the naive
 * reference of the two ops run one after the other; the ADD's 2^16 split (add_s8.c) against the
 * plain 64-bit sum; and the loader's fusion decision on small residual models. */
#include "rt_test.h"
#include "../src/ecg_rt_dsp.h"

/* ecg_rt_conv1d_pointwise_add_ok: false on Helium builds; the loader fuses where it is true and
 * ECG_RT_FUSE is on. */
#ifdef ECG_RT_MVE
#define FUSE_OK 0
#else
#define FUSE_OK 1
#endif
#define FUSES (ECG_RT_FUSE && FUSE_OK)

static uint8_t file_buf[1 << 14];
static uint8_t arena_mem[1 << 14] __attribute__((aligned(16)));

/* An ADD multiplier as the packer makes them (about 2^29..2^31), sometimes anything. */
static int32_t add_mult(void)
{
    if (rng_range(0, 7) == 0) return (int32_t)(rng_u32() & 0x7FFFFFFFu);
    return (int32_t)(0x20000000u + (rng_u32() % 0x5FFFFFFFu));
}

/* Shifts near the multipliers' scale (outputs inside int8) mostly, sometimes any valid one. */
static uint32_t add_shift(void)
{
    return rng_range(0, 4) == 0 ? (uint32_t)rng_range(1, 62) : (uint32_t)rng_range(28, 33);
}

static int8_t ref_add(const ecg_rt_add_params *q, int32_t a, int32_t b)
{
    const int64_t s = (int64_t)(a - q->zp_a) * q->m_a + (int64_t)(b - q->zp_b) * q->m_b;
    return ref_requant(s, 1, q->shift, q->zp_out, q->act_min, q->act_max);
}

static int fused_case(uint32_t bits, uint32_t enc, int big)
{
    uint32_t rule, j, n;
    ecg_rt_conv_params p;
    ecg_rt_add_params q;
    test_block tb;
    int8_t *x, *b, *s, *y, *yr;
    int ok = 1;
    memset(&p, 0, sizeof p);
    p.in_ch = (uint32_t)rng_range(1, big ? 90 : 16);
    p.in_len = (uint32_t)rng_range(1, 40);
    p.kernel = 1u;
    p.stride = (uint32_t)rng_range(1, 3);
    p.dilation = 1u;
    p.groups = 1u;
    p.out_len = (p.in_len - 1u) / p.stride + 1u;
    p.out_ch = (uint32_t)rng_range(1, 20);
    p.zp_in = rng_range(-128, 127);
    p.zp_out = rng_range(-128, 127);
    p.act_min = rng_range(-128, 0);
    p.act_max = rng_range(p.act_min, 127);
    if (rng_range(0, 2) == 0) { p.act_min = -128; p.act_max = 127; }
    q.zp_a = rng_range(0, 3) ? p.zp_out : rng_range(-128, 127);
    q.m_a = add_mult();
    q.zp_b = rng_range(-128, 127);
    q.m_b = add_mult();
    q.shift = add_shift();
    q.zp_out = rng_range(-128, 127);
    q.act_min = rng_range(-128, 0);
    q.act_max = rng_range(q.act_min, 127);
    if (rng_range(0, 2) == 0) { q.act_min = -128; q.act_max = 127; }
    make_block(&tb, p.out_ch, p.in_ch, 1, bits, enc, enc ? 0.1 * rng_range(1, 9) : 0.0, p.zp_in);
    n = p.out_len * p.out_ch;
    x = malloc((size_t)p.in_len * p.in_ch);
    b = malloc(n);
    s = malloc(n);
    y = malloc(n);
    yr = malloc(n);
    for (j = 0; j < p.in_len * p.in_ch; ++j) x[j] = (int8_t)rng_range(-128, 127);
    for (j = 0; j < n; ++j) b[j] = (int8_t)rng_range(-128, 127);
    ref_conv1d(x, p.in_len, p.in_ch, p.zp_in, tb.w, tb.bias, tb.mult, tb.shift, p.out_ch, 1, p.stride, 0, 1, 1,
               p.out_len, p.zp_out, p.act_min, p.act_max, s);
    for (j = 0; j < n; ++j) yr[j] = ref_add(&q, s[j], b[j]);
    if (ecg_rt_wblock_check(tb.blk, (uint32_t)tb.size, 0, &tb.wb, &rule) != ECG_RT_OK ||
        ecg_rt_conv1d_pointwise_add_ok(&p, &tb.wb) != FUSE_OK ||
        ecg_rt_conv1d_pointwise_add_s8(&p, &tb.wb, x, &q, b, y) != ECG_RT_OK || memcmp(y, yr, n) != 0)
        ok = 0;
    /* the output over b (the planner's in-place ADD) */
    if (ok && (ecg_rt_conv1d_pointwise_add_s8(&p, &tb.wb, x, &q, b, b) != ECG_RT_OK || memcmp(b, yr, n) != 0))
        ok = 0;
    if (!ok)
        fprintf(stderr, "  fused bits %u enc %u: L %u C %u -> %u x %u stride %u, add n %u\n", bits, enc, p.in_len,
                p.in_ch, p.out_len, p.out_ch, p.stride, q.shift);
    free(x); free(b); free(s); free(y); free(yr);
    free_block(&tb);
    return ok;
}

void test_conv1d_pointwise_add(void)
{
    uint32_t bits, enc;
    int rep;
    rng_seed(60);
    for (bits = 1; bits <= 8; ++bits)
        for (enc = 0; enc < 3; ++enc)
            for (rep = 0; rep < 6; ++rep) CHECK(fused_case(bits, enc, rep & 1));
    {
        ecg_rt_conv_params p;
        ecg_rt_add_params q;
        test_block tb;
        int8_t x[16], b[16], y[16];
        uint32_t rule;
        memset(&p, 0, sizeof p);
        memset(&q, 0, sizeof q);
        memset(x, 0, sizeof x);
        memset(b, 0, sizeof b);
        p.in_len = 4; p.in_ch = 4; p.out_len = 4; p.out_ch = 4; p.kernel = 1; p.stride = 1; p.dilation = 1;
        p.groups = 1; p.act_min = -128; p.act_max = 127;
        q.shift = 30; q.act_min = -128; q.act_max = 127;
        make_block(&tb, 4, 4, 1, 8, 0, 0.0, 0);
        CHECK(ecg_rt_wblock_check(tb.blk, (uint32_t)tb.size, 0, &tb.wb, &rule) == ECG_RT_OK);
        CHECK(ecg_rt_conv1d_pointwise_add_s8(&p, &tb.wb, x, &q, b, y) == ECG_RT_OK);
        CHECK(ecg_rt_conv1d_pointwise_add_s8(&p, &tb.wb, x, &q, 0, y) == ECG_RT_E_NULL);
        q.shift = 0;
        CHECK(ecg_rt_conv1d_pointwise_add_s8(&p, &tb.wb, x, &q, b, y) == ECG_RT_E_OP);
        q.shift = 30;
        p.pad_left = 1;
        CHECK(!ecg_rt_conv1d_pointwise_add_ok(&p, &tb.wb));
        CHECK(ecg_rt_conv1d_pointwise_add_s8(&p, &tb.wb, x, &q, b, y) == ECG_RT_E_OP);
        p.pad_left = 0;
        p.kernel = 3;
        CHECK(ecg_rt_conv1d_pointwise_add_s8(&p, &tb.wb, x, &q, b, y) == ECG_RT_E_OP);
        free_block(&tb);
    }
}

/* The split sum H * 2^16 + L of ecg_rt_add_split against the 64-bit reference over every
 * (a, b) pair, for random and edge parameters; parameters outside its range are refused. */
void test_add_split(void)
{
    int set;
    rng_seed(61);
    for (set = 0; set < 12; ++set) {
        ecg_rt_add_params q;
        ecg_rt_add_split sp;
        int32_t a, b;
        q.zp_a = set == 0 ? -128 : set == 1 ? 127 : rng_range(-128, 127);
        q.zp_b = set == 0 ? -128 : set == 1 ? 127 : rng_range(-128, 127);
        q.m_a = set == 0 ? 0x7FFF7FFF : set == 1 ? 0 : set == 2 ? 0x00008000 : add_mult();
        q.m_b = set == 0 ? 0x7FFF7FFF : set == 1 ? 0x7FFF0000 : set == 2 ? 0x00007FFF : add_mult();
        q.shift = set == 0 ? 16u : set == 1 ? 38u : (uint32_t)rng_range(16, 38);
        q.zp_out = set == 0 ? 127 : set == 1 ? -128 : rng_range(-128, 127);
        q.act_min = -128;
        q.act_max = 127;
        CHECK(ecg_rt_add_split_init(&sp, &q));
        for (a = -128; a < 128; a += set < 3 ? 1 : 3)
            for (b = -128; b < 128; ++b) {
                const int64_t l = (int64_t)a * sp.ml_a + (int64_t)b * sp.ml_b + sp.bl;
                const int64_t h = (int64_t)a * sp.mh_a + (int64_t)b * sp.mh_b + sp.bh;
                const int64_t o = ref_floor_div_pow2(h + ref_floor_div_pow2(l, 16), (uint32_t)sp.sh);
                const int8_t got = (int8_t)(o < -128 ? -128 : o > 127 ? 127 : o);
                CHECK(l > -(1 << 24) && l < (1 << 24) && h > -((int64_t)1 << 30) - (1 << 24) &&
                      h < ((int64_t)1 << 30) + (1 << 24));
                CHECK_EQ_INT(got, ref_add(&q, a, b));
            }
    }
    {
        ecg_rt_add_params q;
        ecg_rt_add_split sp;
        memset(&q, 0, sizeof q);
        q.m_a = 0x40000000; q.m_b = 0x40000000;
        q.shift = 15; CHECK(!ecg_rt_add_split_init(&sp, &q));
        q.shift = 48; CHECK(!ecg_rt_add_split_init(&sp, &q));
        q.shift = 31; q.m_a = 0x7FFFFFFF; CHECK(!ecg_rt_add_split_init(&sp, &q)); /* mh = 2^15 */
        q.m_a = 0x40000000; q.shift = 47; q.zp_out = 127; CHECK(!ecg_rt_add_split_init(&sp, &q)); /* bh > 2^30 */
    }
}

/* A residual block: conv1 K=3 stride 2, conv2 K=3, a 1x1 stride-2 shortcut, the ADD, GAP, LINEAR.
 * variant 0: shortcut right before the ADD, feeding in1 (fused); 1: feeding in0 (fused);
 * 2: a second ADD reads the shortcut too (not fused); 3: the ADD's output over the block input
 * (not fused: that input is read while outputs are written); 4: the shortcut runs first, not
 * next to the ADD (not fused). */
void tm_build_residual(test_model *tm, int variant, uint32_t bits, uint32_t enc)
{
    uint32_t at = 0;
    tm_op *o;
    uint16_t add_out = 4, gap_in = 4;
    memset(tm, 0, sizeof *tm);
    tm_add_tensor(tm, 24, 8, -3, &at);   /* 0 input */
    tm_add_tensor(tm, 12, 12, -10, &at); /* 1 conv1 + relu */
    tm_add_tensor(tm, 12, 12, 4, &at);   /* 2 conv2 */
    tm_add_tensor(tm, 12, 12, 2, &at);   /* 3 shortcut */
    tm_add_tensor(tm, 12, 12, 1, &at);   /* 4 add */
    tm_add_tensor(tm, 12, 12, -5, &at);  /* 5 second add (variant 2) */
    tm_add_tensor(tm, 1, 12, 3, &at);    /* 6 gap */
    tm_add_tensor(tm, 1, 4, 0, &at);     /* 7 logits */
    tm->input = 0; tm->output = 7;
    tm->t[0].flags = 1; tm->t[7].flags = 2;
    if (variant == 3) tm->t[4].arena_offset = tm->t[0].arena_offset;
    else tm->t[4].arena_offset = tm->t[2].arena_offset; /* the ADD over conv2's output */
    if (variant == 4) {
        o = tm_add_op(tm, 0, 0, 3);
        o->p[0] = 1; o->p[1] = 2; o->p[4] = 1; o->p[5] = 1;
        o->block = (int)tm->n_blocks;
        make_block(&tm->blk[tm->n_blocks++], 12, 8, 1, bits, enc, enc ? 0.5 : 0.0, -3);
    }
    o = tm_add_op(tm, 0, 0, 1);
    o->p[0] = 3; o->p[1] = 2; o->p[2] = 1; o->p[3] = 1; o->p[4] = 1; o->p[5] = 1;
    o->flags = 1; o->act_min = -10; o->block = (int)tm->n_blocks;
    make_block(&tm->blk[tm->n_blocks++], 12, 3 * 8, 3, bits, enc, enc ? 0.5 : 0.0, -3);
    o = tm_add_op(tm, 0, 1, 2);
    o->p[0] = 3; o->p[1] = 1; o->p[2] = 1; o->p[3] = 1; o->p[4] = 1; o->p[5] = 1;
    o->block = (int)tm->n_blocks;
    make_block(&tm->blk[tm->n_blocks++], 12, 3 * 12, 3, bits, enc, enc ? 0.5 : 0.0, -10);
    if (variant != 4) {
        o = tm_add_op(tm, 0, 0, 3);
        o->p[0] = 1; o->p[1] = 2; o->p[4] = 1; o->p[5] = 1;
        o->act_min = variant == 1 ? 2 : -128; /* a fused ReLU on the shortcut is the conv's own clamp */
        o->block = (int)tm->n_blocks;
        make_block(&tm->blk[tm->n_blocks++], 12, 8, 1, bits, enc, enc ? 0.5 : 0.0, -3);
    }
    o = tm_add_op(tm, 2, variant == 1 ? 3 : 2, add_out);
    o->in1 = variant == 1 ? 2 : 3;
    o->p[0] = 0x30000000; o->p[1] = 0x28000000; o->p[2] = 30;
    o->act_min = variant == 1 ? 1 : -128;
    if (variant == 2) {
        o = tm_add_op(tm, 2, 4, 5);
        o->in1 = 3; o->p[0] = 0x40000000; o->p[1] = 0x30000000; o->p[2] = 31;
        gap_in = 5;
    }
    o = tm_add_op(tm, 5, gap_in, 6);
    o->p[0] = 0x40000000; o->p[1] = 33;
    o = tm_add_op(tm, 1, 6, 7);
    o->block = (int)tm->n_blocks;
    make_block(&tm->blk[tm->n_blocks++], 4, 12, 1, bits, enc, enc ? 0.5 : 0.0, 3);
}

static void count_trace(void *user, uint32_t op, uint16_t tensor, const int8_t *data, uint32_t size)
{
    (void)op; (void)tensor; (void)data; (void)size;
    ++*(uint32_t *)user;
}

void test_fused_shortcut_model(void)
{
    int variant;
    uint32_t bits, enc;
    rng_seed(62);
    for (variant = 0; variant < 5; ++variant)
        for (bits = 2; bits <= 8; bits += 3)
            for (enc = 0; enc < 3; ++enc) {
                test_model tm;
                ecg_rt_model m;
                size_t len;
                uint32_t j, fused_ops = 0, calls;
                int rep;
                tm_build_residual(&tm, variant, bits, enc);
                len = tm_write(&tm, file_buf, sizeof file_buf);
                CHECK(len > 0);
                CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len), ECG_RT_OK);
                for (j = 0; j < tm.n_ops; ++j) fused_ops += (m.fused[j >> 3] >> (j & 7u)) & 1u;
                CHECK_EQ_INT(fused_ops, FUSES && variant < 2 ? 1 : 0);
                if (fused_ops) CHECK((m.fused[0] >> 2) & 1u); /* op 2, the shortcut */
                for (rep = 0; rep < 4; ++rep) {
                    int8_t in[192], out[4], traced[4], want[4];
                    for (j = 0; j < 192; ++j) in[j] = (int8_t)rng_range(-128, 127);
                    tm_reference_run(&tm, in, want);
                    CHECK_EQ_INT(ecg_rt_invoke(&m, arena_mem, tm.arena_size, in, 192, out, 4), ECG_RT_OK);
                    CHECK(memcmp(out, want, 4) == 0);
                    calls = 0; /* traced: every op's output, so unfused */
                    CHECK_EQ_INT(ecg_rt_invoke_traced(&m, arena_mem, tm.arena_size, in, 192, traced, 4, count_trace,
                                                      &calls), ECG_RT_OK);
                    CHECK_EQ_INT(calls, tm.n_ops);
                    CHECK(memcmp(traced, want, 4) == 0);
                }
                tm_free(&tm);
            }
}
