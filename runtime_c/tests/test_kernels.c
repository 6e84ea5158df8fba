/* Each kernel against the naive reference, on random data, at every bit-width and encoding. */
#include "rt_test.h"

static const double SPARSITY[3] = {0.0, 0.6, 0.9};

void test_requant(void);
void test_bitreader(void);
void test_wcursor(void);
void test_conv1d(void);
void test_conv1d_dsp_shapes(void);
void test_conv1d_pointwise(void);
void test_depthwise_conv1d(void);
void test_linear(void);
void test_add(void);
void test_maxpool1d(void);
void test_avgpool1d(void);
void test_global_avgpool(void);
void test_relu(void);
void test_argmax(void);

void test_requant(void)
{
    int j;
    rng_seed(1);
    CHECK_EQ_INT(ecg_rt_floor_shift(-1, 1), -1);
    CHECK_EQ_INT(ecg_rt_floor_shift(-2, 1), -1);
    CHECK_EQ_INT(ecg_rt_floor_shift(-3, 1), -2);
    CHECK_EQ_INT(ecg_rt_floor_shift(INT64_MIN, 62), -2);
    CHECK_EQ_INT(ecg_rt_rshift_round(-3, 1, 1), -1); /* -1.5 rounds half up to -1 */
    CHECK_EQ_INT(ecg_rt_rshift_round(3, 1, 1), 2);   /* 1.5 -> 2 */
    for (j = 0; j < 200000; ++j) {
        int32_t acc = (int32_t)rng_u32();
        int32_t m = (int32_t)(rng_u32() & 0x7FFFFFFFu);
        uint32_t n = (uint32_t)rng_range(1, 62);
        int32_t zp = rng_range(-128, 127), lo = rng_range(-128, 0), hi = rng_range(lo, 127);
        int64_t want = ref_floor_div_pow2((int64_t)acc * m + ((int64_t)1 << (n - 1)), n);
        CHECK_EQ_INT(ecg_rt_rshift_round(acc, m, n), want);
        CHECK_EQ_INT(ecg_rt_requantize(acc, m, n, zp, lo, hi), ref_requant(acc, m, n, zp, lo, hi));
    }
}

void test_bitreader(void)
{
    uint32_t bits;
    rng_seed(2);
    for (bits = 1; bits <= 8; ++bits) {
        uint32_t start;
        test_block tb;
        make_block(&tb, 1, 777, 1, bits, 0, 0.0, 0);
        /* read the block's dense stream back from arbitrary starting values */
        for (start = 0; start < 777; start += 37) {
            ecg_rt_bitreader br;
            uint32_t j;
            ecg_rt_bitreader_init(&br, tb.wb.values, (uint64_t)start * bits);
            for (j = start; j < 777; ++j) {
                int32_t v = ecg_rt_bitreader_next(&br, bits);
                CHECK_EQ_INT(v, tb.w[j]);
            }
            /* never reads past the ceil(count*b/8) bytes of the stream */
            CHECK((size_t)(br.ptr - tb.wb.values) == (777u * bits + 7u) / 8u);
        }
        free_block(&tb);
    }
}

void test_wcursor(void)
{
    uint32_t rule;
    uint32_t bits, enc, caps[3] = {1, 7, ECG_RT_WCHUNK};
    rng_seed(3);
    for (bits = 1; bits <= 8; ++bits)
        for (enc = 0; enc < 3; ++enc) {
            uint32_t sp;
            for (sp = 0; sp < 3; ++sp) {
                const uint32_t c_out = 5, cin_g = 7, k = 90, span = cin_g * k; /* long zero runs */
                uint32_t ci;
                test_block tb;
                make_block(&tb, c_out, span, k, bits, enc, enc ? SPARSITY[sp] + 0.09 : SPARSITY[sp], 0);
                CHECK(ecg_rt_wblock_check(tb.blk, (uint32_t)tb.size, 0, &tb.wb, &rule) == ECG_RT_OK);
                for (ci = 0; ci < 3; ++ci) {
                    ecg_rt_wcursor cur;
                    int32_t xoff[ECG_RT_WCHUNK];
                    int8_t val[ECG_RT_WCHUNK];
                    uint32_t c, tap = 3 * 11; /* dilation 3, C_in 11 */
                    ecg_rt_wcursor_init(&cur, &tb.wb, cin_g, tap);
                    for (c = 0; c < c_out; ++c) {
                        uint32_t p = 0, n, j;
                        if (c) ecg_rt_wcursor_channel(&cur, c, 2u);
                        while ((n = ecg_rt_wcursor_next(&cur, xoff, val, caps[ci])) != 0) {
                            for (j = 0; j < n; ++j) {
                                while (tb.w[(size_t)c * span + p] == 0) ++p;
                                CHECK_EQ_INT(val[j], tb.w[(size_t)c * span + p]);
                                CHECK_EQ_INT(xoff[j], (p / cin_g) * tap + (c ? 2u : 0u) + p % cin_g);
                                ++p;
                            }
                        }
                        while (p < span) CHECK_EQ_INT(tb.w[(size_t)c * span + p++], 0);
                    }
                }
                free_block(&tb);
            }
        }
}

typedef ecg_rt_status (*conv_fn)(const ecg_rt_conv_params *, const ecg_rt_wblock *,
                                 const int8_t *, int8_t *);

/* kind 0: generic (groups 1), 1: generic depthwise, 2: pointwise, 3: depthwise kernel. */
/* dsp: the shapes of the DSP group kernel (groups 1, dilation 1; C_in a multiple of 4 on even
 * reps, any on odd ones, long spans), so its per-width decode paths (mask bytes, two groups a
 * load, the stream's last bytes) are all reached. */
static int conv_case(int kind, uint32_t bits, uint32_t enc, double sparsity, int big, int dsp, int rep)
{
    uint32_t rule;
    ecg_rt_conv_params p;
    test_block tb;
    int8_t *x, *y, *yr;
    uint32_t span, groups, j;
    int ok;
    conv_fn fn = kind == 2 ? ecg_rt_conv1d_pointwise_s8
               : kind == 3 ? ecg_rt_depthwise_conv1d_s8 : ecg_rt_conv1d_s8;
    memset(&p, 0, sizeof p);
    p.in_ch = (uint32_t)rng_range(1, big ? 90 : 12);
    if (dsp) p.in_ch = rep % 2 ? (uint32_t)rng_range(1, 90) : 4u * (uint32_t)rng_range(1, 22);
    p.in_len = (uint32_t)rng_range(1, 40);
    p.kernel = kind == 2 ? 1u : (uint32_t)rng_range(1, big || dsp ? 9 : 7);
    p.stride = (uint32_t)rng_range(1, 3);
    p.dilation = kind == 2 || dsp ? 1u : (uint32_t)rng_range(1, 3);
    if (dsp && rep >= 4) { p.in_ch = 16u << (rep - 4); p.kernel = 1u; } /* 1x1 layers of span 16 / 32 */
    p.pad_left = kind == 2 ? 0u : (uint32_t)rng_range(0, (int32_t)p.kernel);
    {
        uint32_t pr = kind == 2 ? 0u : (uint32_t)rng_range(0, (int32_t)p.kernel);
        int64_t num = (int64_t)p.in_len + p.pad_left + pr - (int64_t)p.dilation * (p.kernel - 1) - 1;
        if (num < 0) return 1; /* no output: skip */
        p.out_len = (uint32_t)(num / p.stride) + 1u;
    }
    groups = (kind == 1 || kind == 3) ? p.in_ch : 1u;
    p.groups = groups;
    p.out_ch = (kind == 1 || kind == 3) ? p.in_ch : (uint32_t)rng_range(1, 20);
    p.zp_in = rng_range(-128, 127);
    p.zp_out = rng_range(-128, 127);
    p.act_min = rng_range(-128, 0);
    p.act_max = rng_range(p.act_min, 127);
    if (rng_range(0, 3) == 0) { p.act_min = -128; p.act_max = 127; } /* no fused activation */
    span = p.kernel * (p.in_ch / groups);
    make_block(&tb, p.out_ch, span, p.kernel, bits, enc, sparsity, p.zp_in);
    x = malloc((size_t)p.in_len * p.in_ch);
    y = malloc((size_t)p.out_len * p.out_ch);
    yr = malloc((size_t)p.out_len * p.out_ch);
    for (j = 0; j < p.in_len * p.in_ch; ++j) x[j] = (int8_t)rng_range(-128, 127);
    {
        ecg_rt_status s1 = ecg_rt_wblock_check(tb.blk, (uint32_t)tb.size, 0, &tb.wb, &rule), s2 = ECG_RT_OK;
        if (s1 == ECG_RT_OK) s2 = fn(&p, &tb.wb, x, y);
        ok = s1 == ECG_RT_OK && s2 == ECG_RT_OK;
        if (!ok)
            fprintf(stderr, "  conv kind %d bits %u enc %u: check %d run %d (C %u K %u)\n", kind,
                    bits, enc, s1, s2, p.in_ch, p.kernel);
    }
    ref_conv1d(x, p.in_len, p.in_ch, p.zp_in, tb.w, tb.bias, tb.mult, tb.shift, p.out_ch,
               p.kernel, p.stride, p.pad_left, p.dilation, groups, p.out_len, p.zp_out,
               p.act_min, p.act_max, yr);
    if (ok && memcmp(y, yr, (size_t)p.out_len * p.out_ch) != 0) {
        fprintf(stderr, "  conv kind %d bits %u enc %u: L %u C %u K %u s %u d %u pl %u -> %u x %u\n",
                kind, bits, enc, p.in_len, p.in_ch, p.kernel, p.stride, p.dilation, p.pad_left,
                p.out_len, p.out_ch);
        ok = 0;
    }
    free(x); free(y); free(yr); free_block(&tb);
    return ok;
}

static void conv_sweep(int kind)
{
    uint32_t bits, enc, sp;
    int rep;
    rng_seed(10u + (uint32_t)kind);
    for (bits = 1; bits <= 8; ++bits)
        for (enc = 0; enc < 3; ++enc)
            for (sp = 0; sp < 3; ++sp)
                for (rep = 0; rep < 6; ++rep)
                    CHECK(conv_case(kind, bits, enc, SPARSITY[sp], rep == 5, 0, rep));
}

void test_conv1d_dsp_shapes(void)
{
    static const double sps[5] = {0.0, 0.3, 0.5, 0.7, 0.85};
    uint32_t bits, enc, sp;
    int rep;
    rng_seed(99u);
    for (bits = 1; bits <= 8; ++bits)
        for (enc = 0; enc < 3; ++enc)
            for (sp = 0; sp < 5; ++sp)
                for (rep = 0; rep < 6; ++rep)
                    CHECK(conv_case(0, bits, enc, sps[sp], 1, 1, rep));
}

void test_conv1d(void) { conv_sweep(0); conv_sweep(1); }
void test_conv1d_pointwise(void) { conv_sweep(2); }
void test_depthwise_conv1d(void) { conv_sweep(3); }

void test_linear(void)
{
    uint32_t rule;
    uint32_t bits, enc, sp;
    rng_seed(20);
    for (bits = 1; bits <= 8; ++bits)
        for (enc = 0; enc < 3; ++enc)
            for (sp = 0; sp < 3; ++sp) {
                uint32_t n_in = (uint32_t)rng_range(1, 1500), c_out = (uint32_t)rng_range(1, 9), j;
                int32_t zp = rng_range(-128, 127), lo = rng_range(-128, 0), hi = rng_range(lo, 127);
                int8_t *x = malloc(n_in), y[16], yr[16];
                test_block tb;
                make_block(&tb, c_out, n_in, 1, bits, enc, SPARSITY[sp], 0);
                for (j = 0; j < n_in; ++j) x[j] = (int8_t)rng_range(-128, 127);
                CHECK(ecg_rt_wblock_check(tb.blk, (uint32_t)tb.size, 0, &tb.wb, &rule) == ECG_RT_OK);
                CHECK(ecg_rt_linear_s8(n_in, &tb.wb, zp, lo, hi, x, y) == ECG_RT_OK);
                ref_conv1d(x, 1, n_in, 0, tb.w, tb.bias, tb.mult, tb.shift, c_out, 1, 1, 0, 1, 1, 1,
                           zp, lo, hi, yr);
                CHECK(memcmp(y, yr, c_out) == 0);
                CHECK(ecg_rt_linear_s8(n_in + 1, &tb.wb, zp, lo, hi, x, y) == ECG_RT_E_OP);
                free(x);
                free_block(&tb);
            }
    /* DENSE sub-byte heads of few inputs: the pair loop's end, the odd level, the bit reader
     * where the 4-byte reads would pass the stream's end, channels starting mid-byte */
    for (bits = 1; bits <= 7; ++bits)
        for (sp = 0; sp < 24; ++sp) {
            uint32_t n_in = sp < 16u ? sp + 1u : (uint32_t)rng_range(17, 200), c_out = (uint32_t)rng_range(1, 9), j;
            int32_t zp = rng_range(-128, 127);
            int8_t *x = malloc(n_in), y[16], yr[16];
            test_block tb;
            make_block(&tb, c_out, n_in, 1, bits, 0, SPARSITY[sp % 3u], 0);
            for (j = 0; j < n_in; ++j) x[j] = (int8_t)rng_range(-128, 127);
            CHECK(ecg_rt_wblock_check(tb.blk, (uint32_t)tb.size, 0, &tb.wb, &rule) == ECG_RT_OK);
            CHECK(ecg_rt_linear_s8(n_in, &tb.wb, zp, -128, 127, x, y) == ECG_RT_OK);
            ref_conv1d(x, 1, n_in, 0, tb.w, tb.bias, tb.mult, tb.shift, c_out, 1, 1, 0, 1, 1, 1,
                       zp, -128, 127, yr);
            CHECK(memcmp(y, yr, c_out) == 0);
            free(x);
            free_block(&tb);
        }
}

void test_add(void)
{
    int rep;
    rng_seed(30);
    for (rep = 0; rep < 300; ++rep) {
        int8_t a[64], b[64], y[64], yr[64];
        /* every other case a shift near the multipliers' scale (Cortex-M's split path) */
        uint32_t n = (uint32_t)rng_range(1, 64), j, sh = (uint32_t)(rep & 1 ? rng_range(28, 33) : rng_range(1, 62));
        int32_t za = rng_range(-128, 127), zb = rng_range(-128, 127), zo = rng_range(-128, 127);
        int32_t ma = (int32_t)(rng_u32() & 0x7FFFFFFFu), mb = (int32_t)(rng_u32() & 0x7FFFFFFFu);
        int32_t lo = rng_range(-128, 0), hi = rng_range(lo, 127);
        if (rep % 3 == 0) { lo = -128; hi = 127; } /* no fused activation */
        for (j = 0; j < n; ++j) { a[j] = (int8_t)rng_range(-128, 127); b[j] = (int8_t)rng_range(-128, 127); }
        for (j = 0; j < n; ++j) {
            int64_t s = (int64_t)(a[j] - za) * ma + (int64_t)(b[j] - zb) * mb;
            yr[j] = ref_requant(s, 1, sh, zo, lo, hi);
        }
        CHECK(ecg_rt_add_s8(n, a, za, ma, b, zb, mb, sh, zo, lo, hi, y) == ECG_RT_OK);
        CHECK(memcmp(y, yr, n) == 0);
        /* in-place (output aliases a) */
        memcpy(y, b, n); /* in-place over b */
        CHECK(ecg_rt_add_s8(n, a, za, ma, y, zb, mb, sh, zo, lo, hi, y) == ECG_RT_OK);
        CHECK(memcmp(y, yr, n) == 0);
        CHECK(ecg_rt_add_s8(n, a, za, ma, b, zb, mb, sh, zo, lo, hi, a) == ECG_RT_OK);
        CHECK(memcmp(a, yr, n) == 0);
    }
    CHECK(ecg_rt_add_s8(1, (int8_t *)0, 0, 1, (int8_t *)0, 0, 1, 1, 0, -128, 127, (int8_t *)0) == ECG_RT_E_NULL);
}

static void pool_case(int kind) /* 0 max, 1 avg */
{
    int rep;
    rng_seed(40u + (uint32_t)kind);
    for (rep = 0; rep < 300; ++rep) {
        ecg_rt_pool_params p;
        int8_t x[40 * 9], y[40 * 9], yr[40 * 9];
        uint32_t pr, j, t, c, kk;
        int32_t zi = rng_range(-128, 127), zo = rng_range(-128, 127), lo = rng_range(-128, 0);
        int32_t hi = rng_range(lo, 127), m = (int32_t)(0x40000000u + (rng_u32() & 0x3FFFFFFFu));
        uint32_t n;
        int64_t num;
        p.in_len = (uint32_t)rng_range(1, 40); p.ch = (uint32_t)rng_range(1, 9);
        p.kernel = (uint32_t)rng_range(1, 6); p.stride = (uint32_t)rng_range(1, 3);
        p.pad_left = (uint32_t)rng_range(0, (int32_t)p.kernel - 1); pr = (uint32_t)rng_range(0, (int32_t)p.kernel - 1);
        num = (int64_t)p.in_len + p.pad_left + pr - p.kernel;
        if (num < 0) continue;
        p.out_len = (uint32_t)(num / p.stride) + 1u;
        n = 31 + (uint32_t)rng_range(0, 4);
        for (j = 0; j < p.in_len * p.ch; ++j) x[j] = (int8_t)rng_range(-128, 127);
        for (t = 0; t < p.out_len; ++t)
            for (c = 0; c < p.ch; ++c) {
                int64_t acc = 0;
                int best = -1000;
                for (kk = 0; kk < p.kernel; ++kk) {
                    long pos = (long)(t * p.stride + kk) - (long)p.pad_left;
                    if (pos < 0 || pos >= (long)p.in_len) continue;
                    if (x[pos * (long)p.ch + c] > best) best = x[pos * (long)p.ch + c];
                    acc += x[pos * (long)p.ch + c] - zi;
                }
                if (kind == 0) yr[t * p.ch + c] = (int8_t)(best < lo ? lo : best > hi ? hi : best);
                else yr[t * p.ch + c] = ref_requant(acc, m, n, zo, lo, hi);
            }
        if (kind == 0) CHECK(ecg_rt_maxpool1d_s8(&p, lo, hi, x, y) == ECG_RT_OK);
        else CHECK(ecg_rt_avgpool1d_s8(&p, zi, m, n, zo, lo, hi, x, y) == ECG_RT_OK);
        CHECK(memcmp(y, yr, p.out_len * p.ch) == 0);
    }
}

void test_maxpool1d(void) { pool_case(0); }
void test_avgpool1d(void) { pool_case(1); }

void test_global_avgpool(void)
{
    int rep;
    rng_seed(50);
    for (rep = 0; rep < 300; ++rep) {
        uint32_t len = (uint32_t)rng_range(1, 300), ch = (uint32_t)rng_range(1, 16), t, c;
        int8_t *x = malloc(len * ch), y[16], yr[16];
        int32_t zi = rng_range(-128, 127), zo = rng_range(-128, 127), lo = rng_range(-128, 0);
        int32_t hi = rng_range(lo, 127), m = (int32_t)(0x40000000u + (rng_u32() & 0x3FFFFFFFu));
        uint32_t n = 31 + (uint32_t)rng_range(0, 9);
        for (t = 0; t < len * ch; ++t) x[t] = (int8_t)rng_range(-128, 127);
        for (c = 0; c < ch; ++c) {
            int64_t acc = 0;
            for (t = 0; t < len; ++t) acc += x[t * ch + c] - zi;
            yr[c] = ref_requant(acc, m, n, zo, lo, hi);
        }
        CHECK(ecg_rt_global_avgpool_s8(len, ch, zi, m, n, zo, lo, hi, x, y) == ECG_RT_OK);
        CHECK(memcmp(y, yr, ch) == 0);
        free(x);
    }
}

void test_relu(void)
{
    int8_t x[256], y[256];
    int j;
    for (j = 0; j < 256; ++j) x[j] = (int8_t)(j - 128);
    CHECK(ecg_rt_relu_s8(256, -5, 100, x, y) == ECG_RT_OK);
    for (j = 0; j < 256; ++j) CHECK_EQ_INT(y[j], j - 128 < -5 ? -5 : j - 128 > 100 ? 100 : j - 128);
}

void test_argmax(void)
{
    int8_t l[5] = {3, -2, 9, 9, 1};
    uint32_t idx = 99;
    CHECK(ecg_rt_argmax(l, 5, &idx) == ECG_RT_OK);
    CHECK_EQ_INT(idx, 2); /* first on ties */
    CHECK(ecg_rt_argmax(l, 0, &idx) == ECG_RT_E_SIZE);
    CHECK(ecg_rt_argmax(0, 5, &idx) == ECG_RT_E_NULL);
    l[0] = 127;
    CHECK(ecg_rt_argmax(l, 5, &idx) == ECG_RT_OK);
    CHECK_EQ_INT(idx, 0);
}
