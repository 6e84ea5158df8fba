/* The version-2 kernels (ecg_rt_transformer.h) against naive references written from
 * FORMAT.md section 7, plus float sanity bounds (the integer algorithm approximates the real
 * function), a small transformer model end to end, and the loader's refusals. */
#include <math.h>

#include "rt_test.h"
#include "../src/ecg_rt_transformer.h"

void test_isqrt(void);
void test_layernorm(void);
void test_groupnorm(void);
void test_gelu(void);
void test_softmax(void);
void test_matmul(void);
void test_conv1d_grouped(void);
void test_lut(void);
void test_model_transformer(void);
void test_loader_rejects_v2(void);

/* Buffers are sized for the smallest simulated board (the suite also runs on Cortex-M). */
#define NMAX 1024
static int32_t g_vals[NMAX], g_z[NMAX];
static uint8_t g_file[1 << 14];

/* ---- naive references ---- */

static uint64_t ref_isqrt(uint64_t v)
{
    uint64_t r = (uint64_t)sqrt((double)v);
    while (r > 0 && (r > 0xFFFFFFFFull || r * r > v)) --r;
    while (r + 1 <= 0xFFFFFFFFull && (r + 1) * (r + 1) <= v) ++r;
    return r;
}

/* z of every element of a gathered set vals[0..n) (the spec's formula, written out). */
static void ref_norm_z(const int32_t *vals, uint32_t n, uint32_t eps, int32_t *z)
{
    int64_t sum = 0;
    uint64_t ss = 0, sd;
    uint32_t i;
    for (i = 0; i < n; ++i) sum += vals[i];
    for (i = 0; i < n; ++i) {
        int64_t d = (int64_t)n * vals[i] - sum;
        ss += (uint64_t)(d * d);
    }
    sd = ref_isqrt(ss / n + eps);
    for (i = 0; i < n; ++i) {
        int64_t d = (int64_t)n * vals[i] - sum;
        uint64_t a = (uint64_t)(d < 0 ? -d : d);
        uint64_t q = (a * 4096u + sd) / (2u * sd);
        if (q > 32768u) q = 32768u;
        z[i] = d < 0 ? -(int32_t)q : (int32_t)q;
    }
}

static void ref_layernorm(const int8_t *x, uint32_t len, uint32_t ch, uint32_t eps,
                          const test_block *b, int32_t zp, int32_t lo, int32_t hi, int8_t *y)
{
    int32_t *vals = g_vals, *z = g_z;
    uint32_t t, c;
    for (t = 0; t < len; ++t) {
        for (c = 0; c < ch; ++c) vals[c] = x[t * ch + c];
        ref_norm_z(vals, ch, eps, z);
        for (c = 0; c < ch; ++c)
            y[t * ch + c] = ref_requant((int64_t)z[c] * b->w[c] + b->bias[c], b->mult[c], b->shift[c], zp, lo, hi);
    }
}

static void ref_groupnorm(const int8_t *x, uint32_t len, uint32_t ch, uint32_t groups, uint32_t eps,
                          const test_block *b, int32_t zp, int32_t lo, int32_t hi, int8_t *y)
{
    int32_t *vals = g_vals, *z = g_z;
    uint32_t g, t, i, cg = ch / groups;
    for (g = 0; g < groups; ++g) {
        uint32_t n = 0;
        for (t = 0; t < len; ++t)
            for (i = 0; i < cg; ++i) vals[n++] = x[t * ch + g * cg + i];
        ref_norm_z(vals, n, eps, z);
        n = 0;
        for (t = 0; t < len; ++t)
            for (i = 0; i < cg; ++i, ++n) {
                uint32_t c = g * cg + i;
                y[t * ch + c] = ref_requant((int64_t)z[n] * b->w[c] + b->bias[c], b->mult[c], b->shift[c], zp, lo, hi);
            }
    }
}

static int8_t ref_gelu(int32_t q, int32_t zp_in, uint32_t b_int, uint32_t c_int, int32_t m, uint32_t n,
                       int32_t zp_out, int32_t lo, int32_t hi)
{
    int64_t x = q - zp_in, ax = x < 0 ? -x : x, mm = ax < (int64_t)b_int ? ax : (int64_t)b_int;
    int64_t e = (int64_t)c_int - ((int64_t)b_int - mm) * ((int64_t)b_int - mm);
    if (x < 0) e = -e;
    return ref_requant(x * ((int64_t)c_int + e), m, n, zp_out, lo, hi);
}

static void ref_softmax(const int8_t *x, uint32_t len, uint32_t ch, uint32_t seg, uint32_t q_ln2,
                        uint32_t q_b, uint32_t q_c, uint32_t k, int32_t zp, int32_t lo, int32_t hi,
                        int8_t *y)
{
    uint32_t t, s, i;
    for (t = 0; t < len; ++t)
        for (s = 0; s < ch / seg; ++s) {
            int64_t e[64], sum = 0; /* seg <= 64 in these tests */
            int32_t mx = -1000;
            const int8_t *xs = x + t * ch + s * seg;
            for (i = 0; i < seg; ++i) mx = xs[i] > mx ? xs[i] : mx;
            for (i = 0; i < seg; ++i) {
                int64_t d = (int64_t)(mx - xs[i]) * ((int64_t)1 << k), z = d / q_ln2, r = d % q_ln2;
                int64_t l = ((int64_t)q_b - r) * ((int64_t)q_b - r) + q_c;
                e[i] = z >= 63 ? 0 : l / ((int64_t)1 << z);
                sum += e[i];
            }
            for (i = 0; i < seg; ++i) {
                int64_t v = (e[i] * 512 + sum) / (2 * sum) + zp;
                y[t * ch + s * seg + i] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
            }
        }
}

/* C[h] = A[h] B[h]^T (transpose_b) or A[h] B[h], with the heads as explicit sub-matrices. */
static void ref_matmul(const int8_t *a, uint32_t la, uint32_t ca, int32_t za, const int8_t *b,
                       uint32_t lb, uint32_t cb, int32_t zb, uint32_t heads, int tb, int32_t m,
                       uint32_t n, int32_t zp, int32_t lo, int32_t hi, int8_t *y)
{
    uint32_t h, i, j, k, K = ca / heads, N = tb ? lb : cb / heads;
    for (h = 0; h < heads; ++h)
        for (i = 0; i < la; ++i)
            for (j = 0; j < N; ++j) {
                int64_t acc = 0;
                for (k = 0; k < K; ++k) {
                    int32_t av = a[i * ca + h * K + k] - za;
                    int32_t bv = tb ? b[j * cb + h * K + k] - zb : b[k * cb + h * N + j] - zb;
                    acc += (int64_t)av * bv;
                }
                y[i * heads * N + h * N + j] = ref_requant(acc, m, n, zp, lo, hi);
            }
}

/* A norm weight block: one 8-bit level per channel, |bias| < 2^20, output ~ z / 2^11 * w. */
static void make_norm_block(test_block *tb, uint32_t ch)
{
    uint32_t c;
    size_t cap = 128 + 16 * (size_t)ch;
    tb->w = malloc(ch);
    tb->bias = malloc(4 * (size_t)ch);
    tb->mult = malloc(4 * (size_t)ch);
    tb->shift = malloc(ch);
    for (c = 0; c < ch; ++c) {
        tb->w[c] = (int8_t)rng_range(-127, 127);
        tb->bias[c] = rng_range(-(1 << 20), 1 << 20);
        tb->mult[c] = (int32_t)(0x40000000u + (rng_u32() & 0x3FFFFFFFu));
        tb->shift[c] = (uint8_t)rng_range(40, 43);
    }
    tb->blk = malloc(cap);
    tb->size = pack_block(tb->blk, cap, tb->w, ch, 1, 1, 8, 0, tb->bias, tb->mult, tb->shift);
    ecg_rt_wblock_decode(tb->blk, &tb->wb);
}

static void random_s8(int8_t *x, size_t n, int32_t lo, int32_t hi)
{
    size_t j;
    for (j = 0; j < n; ++j) x[j] = (int8_t)rng_range(lo, hi);
}

static int8_t ref_lut(const int8_t *table, int32_t q, int32_t lo, int32_t hi)
{
    int32_t v = table[q + 128];
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* A table block: 256 random int8 entries, c_out 1, span 256, K 1, bias 0, M 0, n 1. */
static void make_table_block(test_block *tb)
{
    tb->w = malloc(256);
    tb->bias = malloc(4);
    tb->mult = malloc(4);
    tb->shift = malloc(1);
    random_s8(tb->w, 256, -128, 127);
    tb->bias[0] = 0;
    tb->mult[0] = 0;
    tb->shift[0] = 1;
    tb->blk = malloc(512);
    tb->size = pack_block(tb->blk, 512, tb->w, 1, 256, 1, 8, 0, tb->bias, tb->mult, tb->shift);
    ecg_rt_wblock_decode(tb->blk, &tb->wb);
}

/* ---- kernel tests ---- */

void test_isqrt(void)
{
    uint64_t v;
    int j;
    rng_seed(71);
    CHECK_EQ_INT(ecg_rt_isqrt_u64(0), 0);
    CHECK_EQ_INT(ecg_rt_isqrt_u64(1), 1);
    CHECK_EQ_INT(ecg_rt_isqrt_u64(3), 1);
    CHECK_EQ_INT(ecg_rt_isqrt_u64(4), 2);
    CHECK(ecg_rt_isqrt_u64(UINT64_MAX) == 0xFFFFFFFFu);
    for (v = 1; v < 70000; ++v) { /* squares and their neighbours */
        CHECK_EQ_INT(ecg_rt_isqrt_u64(v * v), v);
        CHECK_EQ_INT(ecg_rt_isqrt_u64(v * v - 1), v - 1);
    }
    for (j = 0; j < 200000; ++j) {
        uint64_t r = ((uint64_t)rng_u32() << 32 | rng_u32()) >> (rng_u32() % 64u);
        CHECK(ecg_rt_isqrt_u64(r) == ref_isqrt(r));
    }
}

void test_layernorm(void)
{
    static int8_t x[NMAX], y[NMAX], want[NMAX];
    int trial;
    rng_seed(72);
    for (trial = 0; trial < 60; ++trial) {
        const uint32_t len = (uint32_t)rng_range(1, 9), ch = (uint32_t)rng_range(1, 400);
        const uint32_t eps = (uint32_t)rng_range(1, 5000);
        const int32_t zp = rng_range(-20, 20), lo = trial % 3 ? -128 : zp;
        test_block tb;
        if (len * ch > NMAX) continue;
        make_norm_block(&tb, ch);
        random_s8(x, len * ch, trial % 4 ? -128 : 5, trial % 4 ? 127 : 9); /* some nearly constant */
        CHECK(ecg_rt_layernorm_s8(len, ch, eps, &tb.wb, zp, lo, 127, x, y) == ECG_RT_OK);
        ref_layernorm(x, len, ch, eps, &tb, zp, lo, 127, want);
        CHECK(memcmp(y, want, len * ch) == 0);
        free_block(&tb);
    }
    { /* float sanity: z / 2^11 is the standardised value to within 1e-3 + 1/2^11 */
        int32_t vals[96], z[96];
        double mean = 0, var = 0;
        uint32_t i;
        for (i = 0; i < 96; ++i) { vals[i] = rng_range(-128, 127); mean += vals[i]; }
        mean /= 96;
        for (i = 0; i < 96; ++i) var += (vals[i] - mean) * (vals[i] - mean);
        var /= 96;
        ref_norm_z(vals, 96, 1, z);
        for (i = 0; i < 96; ++i) {
            ecg_rt_norm_stats st;
            int8_t xs[96];
            uint32_t k;
            for (k = 0; k < 96; ++k) xs[k] = (int8_t)vals[k];
            ecg_rt_norm_stats_s8(xs, 1, 96, 96, 1, &st);
            CHECK_EQ_INT(ecg_rt_norm_z(vals[i], &st), z[i]);
            CHECK(fabs(z[i] / 2048.0 - (vals[i] - mean) / sqrt(var)) < 1e-3 * fabs((vals[i] - mean) / sqrt(var)) + 1.0 / 2048);
        }
    }
    { /* ranges the kernel refuses */
        test_block tb;
        make_norm_block(&tb, 4);
        CHECK(ecg_rt_layernorm_s8(1, 4, 0, &tb.wb, 0, -128, 127, x, y) == ECG_RT_E_OP);
        CHECK(ecg_rt_layernorm_s8(1, 5, 1, &tb.wb, 0, -128, 127, x, y) == ECG_RT_E_OP);
        CHECK(ecg_rt_layernorm_s8(1, 4, 1, NULL, 0, -128, 127, x, y) == ECG_RT_E_NULL);
        free_block(&tb);
    }
}

void test_groupnorm(void)
{
    static int8_t x[NMAX], y[NMAX], want[NMAX];
    int trial;
    rng_seed(73);
    for (trial = 0; trial < 60; ++trial) {
        const uint32_t groups = (uint32_t)rng_range(1, 8), cg = (uint32_t)rng_range(1, 6);
        const uint32_t ch = groups * cg, len = (uint32_t)rng_range(1, NMAX / ch < 200 ? NMAX / ch : 200);
        const uint32_t eps = (uint32_t)rng_range(1, 100000);
        const int32_t zp = rng_range(-20, 20);
        test_block tb;
        make_norm_block(&tb, ch);
        random_s8(x, len * ch, -128, 127);
        CHECK(ecg_rt_groupnorm_s8(len, ch, groups, eps, &tb.wb, zp, -128, 127, x, y) == ECG_RT_OK);
        ref_groupnorm(x, len, ch, groups, eps, &tb, zp, -128, 127, want);
        CHECK(memcmp(y, want, len * ch) == 0);
        free_block(&tb);
    }
    { /* N = L * C/G is capped (int64 sums) */
        test_block tb;
        make_norm_block(&tb, 2);
        CHECK(ecg_rt_groupnorm_s8(8193, 2, 1, 1, &tb.wb, 0, -128, 127, x, y) == ECG_RT_E_OP); /* refused before reading */
        CHECK(ecg_rt_groupnorm_s8(4, 2, 3, 1, &tb.wb, 0, -128, 127, x, y) == ECG_RT_E_OP);
        free_block(&tb);
    }
}

/* Packer-side constants of GELU for an input scale s_in and output scale s_out (double, test only). */
static void gelu_consts(double s_in, double s_out, ecg_rt_gelu_params *p)
{
    const double S = s_in / sqrt(2.0), A = 0.2888, B = 1.769;
    const double real = s_in * A * S * S / 2.0 / s_out; /* M 2^-n */
    int n = 0;
    p->b_int = (uint32_t)floor(B / S);
    p->c_int = (uint32_t)floor(1.0 / (A * S * S));
    while (real * pow(2.0, n + 1) < 2147483647.0 && n < 61) ++n;
    p->shift = (uint32_t)n;
    p->mult = (int32_t)floor(real * pow(2.0, n) + 0.5);
}

void test_gelu(void)
{
    static int8_t x[1000], y[1000];
    int trial;
    rng_seed(74);
    for (trial = 0; trial < 200; ++trial) {
        ecg_rt_gelu_params p;
        int32_t q;
        uint32_t j;
        p.zp_in = rng_range(-128, 127);
        p.zp_out = rng_range(-128, 127);
        p.act_min = rng_range(-128, 0);
        p.act_max = rng_range(p.act_min, 127);
        p.b_int = (uint32_t)rng_range(0, 2048);
        p.c_int = (uint32_t)rng_range(1, 1 << 22);
        p.mult = (int32_t)(rng_u32() & 0x7FFFFFFFu);
        p.shift = (uint32_t)rng_range(20, 62);
        for (q = -128; q <= 127; ++q)
            CHECK_EQ_INT(ecg_rt_gelu_one_s8(&p, q),
                         ref_gelu(q, p.zp_in, p.b_int, p.c_int, p.mult, p.shift, p.zp_out, p.act_min, p.act_max));
        /* the table path (n > 256) and the direct path give the same bytes */
        random_s8(x, 1000, -128, 127);
        CHECK(ecg_rt_gelu_s8(&p, 1000, x, y) == ECG_RT_OK);
        for (j = 0; j < 1000; ++j) CHECK_EQ_INT(y[j], ecg_rt_gelu_one_s8(&p, x[j]));
        CHECK(ecg_rt_gelu_s8(&p, 100, x, y) == ECG_RT_OK);
        for (j = 0; j < 100; ++j) CHECK_EQ_INT(y[j], ecg_rt_gelu_one_s8(&p, x[j]));
    }
    { /* float sanity at realistic scales: within 0.025 + 1 output step of GELU */
        const double scales[3][2] = {{0.05, 0.03}, {0.02, 0.01}, {0.1, 0.06}};
        int s;
        for (s = 0; s < 3; ++s) {
            ecg_rt_gelu_params p;
            int32_t q;
            gelu_consts(scales[s][0], scales[s][1], &p);
            p.zp_in = 3; p.zp_out = -100; p.act_min = -128; p.act_max = 127;
            for (q = -128; q <= 127; ++q) {
                const double v = scales[s][0] * (q - 3);
                const double g = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
                const double got = scales[s][1] * (ecg_rt_gelu_one_s8(&p, q) + 100);
                double want = g < scales[s][1] * -28 ? scales[s][1] * -28 : g; /* clamp at -128 */
                if (want > scales[s][1] * 227) want = scales[s][1] * 227;
                CHECK(fabs(got - want) <= 0.025 + scales[s][1]);
            }
        }
    }
}

void test_lut(void)
{
    static const int32_t ranges[3][2] = {{-128, 127}, {-7, 127}, {-50, 20}};
    int8_t table[256], x[700], y[700];
    uint32_t r, n, j;
    rng_seed(131);
    for (r = 0; r < 3; ++r)
        for (n = 0; n <= 700; n += 233) {
            random_s8(table, 256, -128, 127);
            random_s8(x, n ? n : 1, -128, 127);
            CHECK_EQ_INT(ecg_rt_lut_s8(table, ranges[r][0], ranges[r][1], n, x, y), ECG_RT_OK);
            for (j = 0; j < n; ++j) CHECK_EQ_INT(y[j], ref_lut(table, x[j], ranges[r][0], ranges[r][1]));
        }
    for (j = 0; j < 256; ++j) x[j] = (int8_t)((int32_t)j - 128); /* every entry, in order */
    CHECK_EQ_INT(ecg_rt_lut_s8(table, -128, 127, 256, x, y), ECG_RT_OK);
    CHECK(memcmp(table, y, 256) == 0);
    CHECK_EQ_INT(ecg_rt_lut_s8(table, 5, 4, 10, x, y), ECG_RT_E_OP);
    CHECK_EQ_INT(ecg_rt_lut_s8(table, -129, 4, 10, x, y), ECG_RT_E_OP);
    CHECK_EQ_INT(ecg_rt_lut_s8(NULL, -128, 127, 10, x, y), ECG_RT_E_NULL);
    CHECK_EQ_INT(ecg_rt_lut_s8(table, -128, 127, 10, x, NULL), ECG_RT_E_NULL);
}

void test_softmax(void)
{
    static int8_t x[2048], y[2048], want[2048];
    int trial;
    rng_seed(75);
    for (trial = 0; trial < 100; ++trial) {
        ecg_rt_softmax_params p;
        const uint32_t seg = (uint32_t)rng_range(1, 64), nseg = (uint32_t)rng_range(1, 4);
        const uint32_t len = (uint32_t)rng_range(1, 8), ch = seg * nseg;
        p.seg = seg;
        p.q_ln2 = (uint32_t)rng_range(1, trial % 2 ? 40 : 1 << 20);
        p.q_b = (uint32_t)rng_range(0, trial % 2 ? 100 : 1 << 20);
        p.q_c = (uint32_t)rng_range(1, 1 << 30);
        p.pre_shift = (uint32_t)rng_range(0, 16);
        p.zp_out = -128; p.act_min = -128; p.act_max = 127;
        random_s8(x, len * ch, -128, 127);
        CHECK(ecg_rt_softmax_s8(&p, len, ch, x, y) == ECG_RT_OK);
        ref_softmax(x, len, ch, seg, p.q_ln2, p.q_b, p.q_c, p.pre_shift, -128, -128, 127, want);
        CHECK(memcmp(y, want, len * ch) == 0);
    }
    { /* float sanity at input scale 0.05, pre-shift 8: each probability within 1/256 + 0.003 */
        const double s = 0.05 / 256;
        ecg_rt_softmax_params p;
        uint32_t i, t;
        p.seg = 20; p.zp_out = -128; p.act_min = -128; p.act_max = 127; p.pre_shift = 8;
        p.q_ln2 = (uint32_t)floor(log(2.0) / s);
        p.q_b = (uint32_t)floor(1.353 / s);
        p.q_c = (uint32_t)floor(0.344 / (0.3585 * s * s));
        for (t = 0; t < 50; ++t) {
            double ex[20], sum = 0;
            random_s8(x, 20, -128, 127);
            CHECK(ecg_rt_softmax_s8(&p, 1, 20, x, y) == ECG_RT_OK);
            for (i = 0; i < 20; ++i) sum += (ex[i] = exp(0.05 * x[i]));
            for (i = 0; i < 20; ++i) CHECK(fabs((y[i] + 128) / 256.0 - ex[i] / sum) <= 0.003 + 1.0 / 256);
        }
    }
}

void test_matmul(void)
{
    static int8_t a[2048], b[2048], y[2048], want[2048];
    int trial;
    rng_seed(76);
    for (trial = 0; trial < 200; ++trial) {
        ecg_rt_matmul_params p;
        const uint32_t heads = (uint32_t)rng_range(1, 4), k = (uint32_t)rng_range(1, 24);
        const int tb = trial % 2;
        p.heads = heads; p.transpose_b = (uint32_t)tb;
        p.la = (uint32_t)rng_range(1, 20);
        p.ca = heads * k;
        if (tb) { p.lb = (uint32_t)rng_range(1, 20); p.cb = p.ca; }
        else { p.lb = k; p.cb = heads * (uint32_t)rng_range(1, 12); }
        p.zp_a = rng_range(-128, 127); p.zp_b = rng_range(-128, 127); p.zp_out = rng_range(-128, 127);
        p.act_min = -128; p.act_max = 127;
        p.mult = (int32_t)(0x40000000u + (rng_u32() & 0x3FFFFFFFu));
        p.shift = (uint32_t)rng_range(30, 45);
        random_s8(a, p.la * p.ca, -128, 127);
        random_s8(b, p.lb * p.cb, -128, 127);
        CHECK(ecg_rt_matmul_s8(&p, a, b, y) == ECG_RT_OK);
        ref_matmul(a, p.la, p.ca, p.zp_a, b, p.lb, p.cb, p.zp_b, heads, tb, p.mult, p.shift, p.zp_out,
                   -128, 127, want);
        CHECK(memcmp(y, want, p.la * (tb ? heads * p.lb : p.cb)) == 0);
    }
    { /* the worst-case sum 255 * 255 * 2^15 still fits int32 */
        ecg_rt_matmul_params p;
        memset(&p, 0, sizeof p);
        p.la = 1; p.ca = 3; p.lb = 4; p.cb = 3; p.heads = 1; p.transpose_b = 0; p.shift = 1;
        CHECK(ecg_rt_matmul_s8(&p, a, b, y) == ECG_RT_E_OP); /* lb != K */
    }
}

void test_conv1d_grouped(void)
{
    static int8_t x[512], y[512], want[512];
    uint32_t bits, enc;
    rng_seed(77);
    for (bits = 1; bits <= 8; ++bits)
        for (enc = 0; enc < 3; ++enc) {
            /* the positional conv's shape (K = 16, pad 8/7, 4 groups) and a strided dilated one */
            const uint32_t cfg[2][8] = {{16, 1, 8, 7, 1, 4, 16, 16}, {3, 2, 1, 1, 2, 2, 6, 8}};
            int v;
            for (v = 0; v < 2; ++v) {
                const uint32_t k = cfg[v][0], stride = cfg[v][1], pl = cfg[v][2], pr = cfg[v][3];
                const uint32_t dil = cfg[v][4], g = cfg[v][5], cin = cfg[v][6], cout = cfg[v][7];
                const uint32_t len = 23, out_len = (len + pl + pr - dil * (k - 1) - 1) / stride + 1;
                const int32_t zp_in = rng_range(-10, 10);
                ecg_rt_conv_params cp;
                test_block tb;
                make_block(&tb, cout, k * (cin / g), k, bits, enc, enc ? 0.6 : 0.0, zp_in);
                random_s8(x, len * cin, -128, 127);
                cp.in_len = len; cp.in_ch = cin; cp.out_len = out_len; cp.out_ch = cout;
                cp.kernel = k; cp.stride = stride; cp.pad_left = pl; cp.dilation = dil; cp.groups = g;
                cp.zp_in = zp_in; cp.zp_out = -5; cp.act_min = -128; cp.act_max = 127; cp.add = 0;
                CHECK(ecg_rt_conv1d_grouped_s8(&cp, &tb.wb, x, y) == ECG_RT_OK);
                ref_conv1d(x, len, cin, zp_in, tb.w, tb.bias, tb.mult, tb.shift, cout, k, stride, pl, dil,
                           g, out_len, -5, -128, 127, want);
                CHECK(memcmp(y, want, out_len * cout) == 0);
                free_block(&tb);
            }
        }
}

/* ---- the model ---- */

static void conv_(test_model *tm, uint16_t in0, uint16_t out, uint32_t k, uint32_t stride,
                  uint32_t pl, uint32_t pr, uint32_t g, uint32_t bits, uint32_t enc, double sp)
{
    tm_op *o = tm_add_op(tm, 0, in0, out);
    const tm_tensor *a = &tm->t[in0], *y = &tm->t[out];
    o->p[0] = k; o->p[1] = stride; o->p[2] = pl; o->p[3] = pr; o->p[4] = 1; o->p[5] = g;
    o->block = (int)tm->n_blocks;
    make_block(&tm->blk[tm->n_blocks++], y->ch, k * (a->ch / g), k, bits, enc, sp, a->zp);
}

static void norm_(test_model *tm, uint16_t type, uint16_t in0, uint16_t out, uint32_t groups)
{
    tm_op *o = tm_add_op(tm, type, in0, out);
    if (type == ECG_RT_OP_GROUPNORM) { o->p[0] = groups; o->p[1] = 37; }
    else o->p[0] = 37;
    o->block = (int)tm->n_blocks;
    make_norm_block(&tm->blk[tm->n_blocks++], tm->t[out].ch);
}

static void gelu_(test_model *tm, uint16_t in0, uint16_t out)
{
    tm_op *o = tm_add_op(tm, ECG_RT_OP_GELU, in0, out);
    ecg_rt_gelu_params p;
    gelu_consts(0.05, 0.05, &p);
    o->p[0] = p.b_int; o->p[1] = p.c_int; o->p[2] = (uint32_t)p.mult; o->p[3] = p.shift;
}

static void lut_(test_model *tm, uint16_t in0, uint16_t out)
{
    tm_op *o = tm_add_op(tm, ECG_RT_OP_LUT, in0, out);
    o->block = (int)tm->n_blocks;
    make_table_block(&tm->blk[tm->n_blocks++]);
}

static void add_(test_model *tm, uint16_t a, uint16_t b, uint16_t out)
{
    tm_op *o = tm_add_op(tm, ECG_RT_OP_ADD, a, out);
    o->in1 = b; o->p[0] = 0x30000000; o->p[1] = 0x28000000; o->p[2] = 30;
}

void tm_build_transformer(test_model *tm, uint32_t bits, uint32_t encoding, double sparsity)
{
    uint32_t at = 0;
    tm_op *o;
    memset(tm, 0, sizeof *tm);
    tm->version = 3;
    tm_add_tensor(tm, 64, 1, -3, &at);  /* 0 input */
    tm_add_tensor(tm, 14, 8, 2, &at);   /* 1 conv K=10 s=4 */
    tm_add_tensor(tm, 14, 8, -1, &at);  /* 2 groupnorm (G = C) */
    tm_add_tensor(tm, 14, 8, -100, &at);/* 3 gelu */
    tm_add_tensor(tm, 6, 8, 4, &at);    /* 4 conv K=3 s=2 */
    tm_add_tensor(tm, 6, 8, -90, &at);  /* 5 gelu as a LUT */
    tm_add_tensor(tm, 6, 8, 0, &at);    /* 6 layernorm */
    tm_add_tensor(tm, 6, 16, 3, &at);   /* 7 projection (pointwise) */
    tm_add_tensor(tm, 6, 16, -2, &at);  /* 8 positional conv, 4 groups, pad 2/1 */
    tm_add_tensor(tm, 6, 16, -95, &at); /* 9 gelu */
    tm_add_tensor(tm, 6, 16, 1, &at);   /* 10 add */
    tm_add_tensor(tm, 6, 16, 0, &at);   /* 11 layernorm */
    tm_add_tensor(tm, 6, 16, 5, &at);   /* 12 q */
    tm_add_tensor(tm, 6, 16, -4, &at);  /* 13 k */
    tm_add_tensor(tm, 6, 16, 2, &at);   /* 14 v */
    tm_add_tensor(tm, 6, 12, 0, &at);   /* 15 scores q.k^T, 2 heads */
    tm_add_tensor(tm, 6, 12, -128, &at);/* 16 softmax over 6 */
    tm_add_tensor(tm, 6, 16, 1, &at);   /* 17 p.v */
    tm_add_tensor(tm, 6, 16, -3, &at);  /* 18 out projection */
    tm_add_tensor(tm, 6, 16, 2, &at);   /* 19 add (aliases 18) */
    tm->t[19].arena_offset = tm->t[18].arena_offset;
    tm_add_tensor(tm, 6, 16, 0, &at);   /* 20 layernorm */
    tm_add_tensor(tm, 1, 16, 1, &at);   /* 21 gap */
    tm_add_tensor(tm, 1, 4, 0, &at);    /* 22 logits */
    tm->input = 0; tm->output = 22;
    tm->t[0].flags = 1; tm->t[22].flags = 2;

    conv_(tm, 0, 1, 10, 4, 0, 0, 1, bits, encoding, sparsity);
    norm_(tm, ECG_RT_OP_GROUPNORM, 1, 2, 8);
    gelu_(tm, 2, 3);
    conv_(tm, 3, 4, 3, 2, 0, 0, 1, bits, encoding, sparsity);
    lut_(tm, 4, 5);
    norm_(tm, ECG_RT_OP_LAYERNORM, 5, 6, 0);
    conv_(tm, 6, 7, 1, 1, 0, 0, 1, bits, encoding, sparsity);
    conv_(tm, 7, 8, 4, 1, 2, 1, 4, bits, encoding, sparsity);
    gelu_(tm, 8, 9);
    add_(tm, 7, 9, 10);
    norm_(tm, ECG_RT_OP_LAYERNORM, 10, 11, 0);
    conv_(tm, 11, 12, 1, 1, 0, 0, 1, bits, encoding, sparsity);
    conv_(tm, 11, 13, 1, 1, 0, 0, 1, bits, encoding, sparsity);
    conv_(tm, 11, 14, 1, 1, 0, 0, 1, bits, encoding, sparsity);
    o = tm_add_op(tm, ECG_RT_OP_MATMUL, 12, 15);
    o->in1 = 13; o->p[0] = 2; o->p[1] = 1; o->p[2] = 0x40000000; o->p[3] = 40;
    o = tm_add_op(tm, ECG_RT_OP_SOFTMAX, 15, 16);
    o->p[0] = 6; o->p[1] = 3548; o->p[2] = 6927; o->p[3] = 25150000; o->p[4] = 8; /* s = 0.05 */
    o = tm_add_op(tm, ECG_RT_OP_MATMUL, 16, 17);
    o->in1 = 14; o->p[0] = 2; o->p[1] = 0; o->p[2] = 0x40000000; o->p[3] = 38;
    conv_(tm, 17, 18, 1, 1, 0, 0, 1, bits, encoding, sparsity);
    add_(tm, 18, 11, 19);
    norm_(tm, ECG_RT_OP_LAYERNORM, 19, 20, 0);
    o = tm_add_op(tm, ECG_RT_OP_GLOBAL_AVGPOOL, 20, 21);
    o->p[0] = 0x40000000; o->p[1] = 33;
    o = tm_add_op(tm, ECG_RT_OP_LINEAR, 21, 22);
    o->block = (int)tm->n_blocks;
    make_block(&tm->blk[tm->n_blocks++], 4, 16, 1, bits, encoding, sparsity, 1);
}

void ref_transformer_op(const test_model *tm, const tm_op *o, int8_t (*buf)[4096])
{
    const tm_tensor *a = &tm->t[o->in0], *y = &tm->t[o->out];
    const test_block *b = o->block >= 0 ? &tm->blk[o->block] : NULL;
    uint32_t e;
    switch (o->type) {
    case ECG_RT_OP_LAYERNORM:
        ref_layernorm(buf[o->in0], a->len, a->ch, o->p[0], b, y->zp, o->act_min, o->act_max, buf[o->out]);
        break;
    case ECG_RT_OP_GROUPNORM:
        ref_groupnorm(buf[o->in0], a->len, a->ch, o->p[0], o->p[1], b, y->zp, o->act_min, o->act_max,
                      buf[o->out]);
        break;
    case ECG_RT_OP_GELU:
        for (e = 0; e < y->size_bytes; ++e)
            buf[o->out][e] = ref_gelu(buf[o->in0][e], a->zp, o->p[0], o->p[1], (int32_t)o->p[2], o->p[3],
                                      y->zp, o->act_min, o->act_max);
        break;
    case ECG_RT_OP_SOFTMAX:
        ref_softmax(buf[o->in0], a->len, a->ch, o->p[0], o->p[1], o->p[2], o->p[3], o->p[4], y->zp, o->act_min,
                    o->act_max, buf[o->out]);
        break;
    case ECG_RT_OP_LUT:
        for (e = 0; e < y->size_bytes; ++e)
            buf[o->out][e] = ref_lut(b->w, buf[o->in0][e], o->act_min, o->act_max);
        break;
    case ECG_RT_OP_MATMUL: {
        const tm_tensor *bt = &tm->t[o->in1];
        ref_matmul(buf[o->in0], a->len, a->ch, a->zp, buf[o->in1], bt->len, bt->ch, bt->zp, o->p[0],
                   (int)o->p[1], (int32_t)o->p[2], o->p[3], y->zp, o->act_min, o->act_max, buf[o->out]);
        break;
    }
    default:
        break;
    }
}

void test_model_transformer(void)
{
    static uint8_t arena[1 << 13];
    uint8_t *file = g_file;
    uint32_t bits, enc;
    for (bits = 1; bits <= 8; ++bits)
        for (enc = 0; enc < 3; ++enc) {
            test_model tm;
            ecg_rt_model m;
            int8_t in[64], got[4], want[4];
            size_t len;
            int rep;
            rng_seed(2000u + bits * 3u + enc);
            tm_build_transformer(&tm, bits, enc, enc ? 0.6 : 0.0);
            len = tm_write(&tm, file, sizeof g_file);
            CHECK(len > 0);
            CHECK_EQ_INT(ecg_rt_load(&m, file, len), ECG_RT_OK);
            for (rep = 0; rep < 8; ++rep) {
                random_s8(in, 64, -128, 127);
                CHECK_EQ_INT(ecg_rt_invoke(&m, arena, sizeof arena, in, 64, got, 4), ECG_RT_OK);
                tm_reference_run(&tm, in, want);
                CHECK(memcmp(got, want, 4) == 0);
            }
            tm_free(&tm);
        }
}

/* Load after one mutation of op j's record (field at byte off, 32-bit value v); CRC fixed. */
static ecg_rt_status load_mutated(test_model *tm, uint32_t j, uint32_t off, uint32_t v, int wide)
{
    uint8_t *file = g_file;
    ecg_rt_model m;
    size_t len = tm_write(tm, file, sizeof g_file);
    const uint32_t ops_off = ecg_rt_rd32(file + 64 + 2 * 16 + 4);
    if (wide) wr32(file + ops_off + 64 * j + off, v);
    else wr16(file + ops_off + 64 * j + off, (uint16_t)v);
    tm_fix_crc(file, len);
    return ecg_rt_load(&m, file, len);
}

void test_loader_rejects_v2(void)
{
    uint8_t *file = g_file;
    test_model tm;
    ecg_rt_model m;
    size_t len;
    /* op indices in tm_build_transformer: 1 groupnorm, 2 gelu, 4 lut, 5 layernorm, 7 grouped
     * conv, 14 matmul q.k^T, 15 softmax, 16 matmul p.v */
    rng_seed(78);
    tm_build_transformer(&tm, 8, 0, 0.0);
    CHECK_EQ_INT(load_mutated(&tm, 0, 28, 0, 1), ECG_RT_E_OP); /* sanity: K = 0 */
    CHECK_EQ_INT(load_mutated(&tm, 2, 0, 0, 0), ECG_RT_E_OP); /* GELU -> CONV1D: params checked before the (missing) block */
    tm.version = 1; /* a version-1 file may hold none of the new ops */
    len = tm_write(&tm, file, sizeof g_file);
    CHECK_EQ_INT(ecg_rt_load(&m, file, len), ECG_RT_E_UNSUPPORTED_OP);
    tm.version = 2; /* LUT needs version 3 */
    len = tm_write(&tm, file, sizeof g_file);
    CHECK_EQ_INT(ecg_rt_load(&m, file, len), ECG_RT_E_UNSUPPORTED_OP);
    tm.version = 4;
    len = tm_write(&tm, file, sizeof g_file);
    CHECK_EQ_INT(ecg_rt_load(&m, file, len), ECG_RT_E_VERSION);
    tm.version = 3;
    CHECK_EQ_INT(load_mutated(&tm, 2, 0, ECG_RT_OP_RESERVED_9, 0), ECG_RT_E_UNSUPPORTED_OP);
    CHECK_EQ_INT(load_mutated(&tm, 2, 0, 14, 0), ECG_RT_E_UNSUPPORTED_OP);
    CHECK_EQ_INT(load_mutated(&tm, 4, 28, 1, 1), ECG_RT_E_OP);           /* LUT: a parameter */
    CHECK_EQ_INT(load_mutated(&tm, 4, 2, 1, 0), ECG_RT_E_OP);            /* LUT: fused-relu flag */
    CHECK_EQ_INT(load_mutated(&tm, 4, 8, 6, 0), ECG_RT_E_OP);            /* LUT: other shape */
    CHECK_EQ_INT(load_mutated(&tm, 4, 20, 0xFFFFFFFFu, 1), ECG_RT_E_WEIGHTS); /* LUT without table */
    CHECK_EQ_INT(load_mutated(&tm, 2, 0, ECG_RT_OP_LUT, 0), ECG_RT_E_OP); /* GELU params on a LUT */
    CHECK_EQ_INT(load_mutated(&tm, 2, 28, 2049, 1), ECG_RT_E_OP);        /* b_int */
    CHECK_EQ_INT(load_mutated(&tm, 2, 32, 0, 1), ECG_RT_E_OP);           /* c_int */
    CHECK_EQ_INT(load_mutated(&tm, 2, 40, 63, 1), ECG_RT_E_OP);          /* shift */
    CHECK_EQ_INT(load_mutated(&tm, 2, 44, 1, 1), ECG_RT_E_OP);           /* unused param */
    CHECK_EQ_INT(load_mutated(&tm, 2, 2, 1, 0), ECG_RT_E_OP);            /* fused-relu flag */
    CHECK_EQ_INT(load_mutated(&tm, 1, 28, 3, 1), ECG_RT_E_OP);           /* groups not dividing C */
    CHECK_EQ_INT(load_mutated(&tm, 1, 32, 0, 1), ECG_RT_E_OP);           /* eps 0 */
    CHECK_EQ_INT(load_mutated(&tm, 5, 28, 0, 1), ECG_RT_E_OP);           /* eps 0 */
    CHECK_EQ_INT(load_mutated(&tm, 5, 20, 0xFFFFFFFFu, 1), ECG_RT_E_WEIGHTS); /* no block */
    CHECK_EQ_INT(load_mutated(&tm, 7, 48, 3, 1), ECG_RT_E_OP);           /* groups 3 of 16 */
    CHECK_EQ_INT(load_mutated(&tm, 14, 28, 3, 1), ECG_RT_E_OP);          /* heads 3 of 16 */
    CHECK_EQ_INT(load_mutated(&tm, 14, 32, 0, 1), ECG_RT_E_OP);          /* not transposed: shapes */
    CHECK_EQ_INT(load_mutated(&tm, 14, 32, 2, 1), ECG_RT_E_OP);          /* transpose flag 2 */
    CHECK_EQ_INT(load_mutated(&tm, 16, 6, 15, 0), ECG_RT_E_OP);          /* B of the wrong shape */
    CHECK_EQ_INT(load_mutated(&tm, 14, 6, 0xFFFF, 0), ECG_RT_E_OP);      /* MATMUL without in1 */
    CHECK_EQ_INT(load_mutated(&tm, 15, 28, 5, 1), ECG_RT_E_OP);          /* segment not dividing C */
    CHECK_EQ_INT(load_mutated(&tm, 15, 32, 0, 1), ECG_RT_E_OP);          /* q_ln2 0 */
    CHECK_EQ_INT(load_mutated(&tm, 15, 40, (1u << 30) + 1u, 1), ECG_RT_E_OP); /* q_c */
    CHECK_EQ_INT(load_mutated(&tm, 15, 44, 17, 1), ECG_RT_E_OP);         /* pre-shift */
    CHECK_EQ_INT(load_mutated(&tm, 15, 48, 1, 1), ECG_RT_E_OP);          /* unused param */
    {   /* table blocks that are not 8-bit DENSE 1 x 256 with bias 0, M 0, n 1 */
        test_block *tb = &tm.blk[3];
        static const int bad[4] = {0, 1, 2, 3};
        int k;
        for (k = 0; k < 4; ++k) {
            uint32_t c_out = 1, span = 256, bits = 8;
            int32_t b0 = 0, m0 = 0;
            uint8_t s0 = 1;
            if (bad[k] == 0) bits = 7;
            if (bad[k] == 1) b0 = 1;
            if (bad[k] == 2) m0 = 5;
            if (bad[k] == 3) s0 = 2;
            tb->bias[0] = b0; tb->mult[0] = m0; tb->shift[0] = s0;
            tb->size = pack_block(tb->blk, 512, tb->w, c_out, span, 1, bits, 0, tb->bias, tb->mult, tb->shift);
            len = tm_write(&tm, file, sizeof g_file);
            CHECK_EQ_INT(ecg_rt_load(&m, file, len), ECG_RT_E_WEIGHTS);
        }
        tb->bias[0] = 0; tb->mult[0] = 0; tb->shift[0] = 1;
        tb->size = pack_block(tb->blk, 512, tb->w, 1, 128, 1, 8, 0, tb->bias, tb->mult, tb->shift); /* span 128 */
        len = tm_write(&tm, file, sizeof g_file);
        CHECK_EQ_INT(ecg_rt_load(&m, file, len), ECG_RT_E_WEIGHTS);
        tb->size = pack_block(tb->blk, 512, tb->w, 1, 256, 1, 8, 0, tb->bias, tb->mult, tb->shift);
        len = tm_write(&tm, file, sizeof g_file);
        CHECK_EQ_INT(ecg_rt_load(&m, file, len), ECG_RT_OK);
    }
    {   /* a norm block with a too-large bias */
        tm.blk[1].bias[0] = (1 << 30) + 1;
        tm.blk[1].size = pack_block(tm.blk[1].blk, 128 + 16 * 8, tm.blk[1].w, 8, 1, 1, 8, 0, tm.blk[1].bias,
                                    tm.blk[1].mult, tm.blk[1].shift);
        len = tm_write(&tm, file, sizeof g_file);
        CHECK_EQ_INT(ecg_rt_load(&m, file, len), ECG_RT_E_WEIGHTS);
    }
    tm_free(&tm);
}
