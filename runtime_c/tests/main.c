/* Runs every C test; prints one line per test and a final "N passed, N failed". */
#include "rt_test.h"

#define TESTS(X) X(test_requant) X(test_bitreader) X(test_wcursor) X(test_conv1d) X(test_conv1d_dsp_shapes) \
    X(test_conv1d_pointwise) X(test_depthwise_conv1d) X(test_linear) X(test_add)    \
    X(test_maxpool1d) X(test_avgpool1d) X(test_global_avgpool) X(test_relu)         \
    X(test_argmax) X(test_model_every_op) X(test_loader_rejects) X(test_loader_rule_ids) X(test_invoke_rejects) \
    X(test_trace) X(test_pointwise_dilation_ignored) X(test_isqrt) X(test_layernorm)      \
    X(test_groupnorm) X(test_gelu) X(test_lut) X(test_softmax) X(test_matmul) X(test_conv1d_grouped)  \
    X(test_model_transformer) X(test_loader_rejects_v2) X(test_loader_host_trailer) \
    X(test_conv1d_pointwise_add) X(test_add_split) X(test_fused_shortcut_model)
#define DECL(f) void f(void);
TESTS(DECL)

typedef struct { const char *name; void (*fn)(void); } test_case;
#define ENTRY(f) {#f, f},
static const test_case cases[] = {TESTS(ENTRY)};

/* One fuzz seed: [ctrl=1][tm's model.bin][`tail` random input bytes]; frees tm. */
static int write_seed(const char *path, test_model *tm, size_t tail)
{
    static uint8_t buf[1 << 16];
    size_t len, j;
    FILE *f;
    len = tm_write(tm, buf + 1, sizeof buf - 1 - tail);
    buf[0] = 1;
    for (j = 0; j < tail; ++j) buf[1 + len + j] = (uint8_t)rng_u32();
    tm_free(tm);
    f = fopen(path, "wb");
    if (!f) return 1;
    fwrite(buf, 1, len + 1 + tail, f);
    fclose(f);
    return 0;
}

/* `ecgrt_test --write-seeds DIR`: write the demo models (every op of both format versions,
 * every bit-width/encoding) and the residual blocks as fuzz seeds. */
static int write_seeds(const char *dir)
{
    uint32_t bits, enc;
    int n = 0;
    int kind;
    char path[512];
    for (kind = 0; kind < 2; ++kind) /* the demo CNN (version 1) and the transformer (version 2) */
    for (bits = 1; bits <= 8; ++bits)
        for (enc = 0; enc < 3; ++enc) {
            test_model tm;
            rng_seed(1000u + bits * 3u + enc + 100u * (uint32_t)kind);
            if (kind) tm_build_transformer(&tm, bits, enc, enc ? 0.6 : 0.0);
            else tm_build_demo(&tm, bits, enc, enc ? 0.6 : 0.0);
            snprintf(path, sizeof path, "%s/%s_b%u_e%u.seed", dir, kind ? "transformer" : "demo", bits, enc);
            if (write_seed(path, &tm, 128u)) return 1;
            ++n;
        }
    for (bits = 0; bits < 5; ++bits) { /* the residual blocks (fused 1x1 shortcut + ADD and not) */
        test_model tm;
        rng_seed(2000u + bits);
        tm_build_residual(&tm, (int)bits, 8u - bits, bits % 3u);
        snprintf(path, sizeof path, "%s/residual_v%u.seed", dir, bits);
        if (write_seed(path, &tm, 192u)) return 1;
        ++n;
    }
    printf("wrote %d seeds to %s\n", n, dir);
    return 0;
}

int main(int argc, char **argv)
{
    size_t j, n = sizeof cases / sizeof cases[0];
    int passed = 0, failed = 0;
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) return write_seeds(argv[2]);
    for (j = 0; j < n; ++j) {
        int before = rt_failed_checks;
        cases[j].fn();
        if (rt_failed_checks == before) { ++passed; printf("PASS %s\n", cases[j].name); }
        else { ++failed; printf("FAIL %s\n", cases[j].name); }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
