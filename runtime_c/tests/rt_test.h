/* A tiny test runner and the test-side helpers: a seeded RNG, naive reference arithmetic
 * written independently of the runtime (plain floor division, dense weights), a weight-block
 * packer and a model.bin writer following export/FORMAT.md. Hosted code (stdio, malloc). */
#ifndef RT_TEST_H
#define RT_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/ecg_rt_internal.h"

extern int rt_failed_checks;
#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            ++rt_failed_checks;                                                            \
            fprintf(stderr, "  CHECK failed %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
            return;                                                                        \
        }                                                                                  \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                 \
    do {                                                                                   \
        long long va_ = (long long)(a), vb_ = (long long)(b);                              \
        if (va_ != vb_) {                                                                  \
            ++rt_failed_checks;                                                            \
            fprintf(stderr, "  CHECK failed %s:%d: %s == %s (%lld != %lld)\n", __FILE__,   \
                    __LINE__, #a, #b, va_, vb_);                                           \
            return;                                                                        \
        }                                                                                  \
    } while (0)

/* RNG (xorshift64*), deterministic per test. */
void rng_seed(uint64_t s);
uint32_t rng_u32(void);
int32_t rng_range(int32_t lo, int32_t hi); /* inclusive */

/* Reference arithmetic (FORMAT.md section 7), independent of requant_s8.c. */
int64_t ref_floor_div_pow2(int64_t s, uint32_t n);
int8_t ref_requant(int64_t acc, int32_t m, uint32_t n, int32_t zp, int32_t lo, int32_t hi);

/* Random levels for a b-bit layer: full two's-complement range for b >= 2, +-1 for b = 1;
 * a fraction `sparsity` (0..1) set to 0 (b = 1 only with a sparse encoding). */
void random_levels(int8_t *w, size_t n, uint32_t bits, double sparsity);
/* A shift that keeps requantized outputs mostly inside int8 for this channel's weights. */
uint32_t pick_shift(const int8_t *w, uint32_t span);

/* Pack a weight block (48-byte header + arrays) into out (capacity cap). Returns its size. */
size_t pack_block(uint8_t *out, size_t cap, const int8_t *levels, uint32_t c_out, uint32_t span,
                  uint32_t kernel, uint32_t bits, uint32_t encoding, const int32_t *bias,
                  const int32_t *mult, const uint8_t *shift);
/* Build a block with random levels/bias/mult/shift; returns dense levels and params. */
typedef struct {
    uint8_t *blk;
    size_t size;
    int8_t *w;       /* dense levels [c_out][span] */
    int32_t *bias, *mult;
    uint8_t *shift;
    ecg_rt_wblock wb;
} test_block;
void make_block(test_block *tb, uint32_t c_out, uint32_t span, uint32_t kernel, uint32_t bits,
                uint32_t encoding, double sparsity, int32_t zp_in);
void free_block(test_block *tb);

/* ---- model.bin writer ---- */
#define TM_MAX 32
typedef struct {
    uint32_t len, ch;
    float scale;
    int32_t zp;
    uint32_t arena_offset, size_bytes, flags;
} tm_tensor;
typedef struct {
    uint16_t type, flags, in0, in1, out;
    int32_t act_min, act_max;
    uint32_t weight_block, weight_size;
    uint32_t p[9];
    int block; /* index into blocks, -1 if none */
} tm_op;
typedef struct {
    tm_tensor t[TM_MAX];
    tm_op op[TM_MAX];
    test_block blk[TM_MAX];
    uint32_t n_tensors, n_ops, n_blocks;
    uint16_t input, output;
    uint32_t arena_size;
    uint16_t version; /* 0: 1 */
} test_model;
/* Serialize (fills weight_block offsets, arena_size if 0, CRC). Returns bytes written. */
size_t tm_write(test_model *tm, uint8_t *out, size_t cap);
/* Recompute the CRC of a serialized file after a mutation. */
void tm_fix_crc(uint8_t *buf, size_t len);
uint32_t ref_crc32(const uint8_t *p, size_t n);
void wr16(uint8_t *p, uint16_t v);
void wr32(uint8_t *p, uint32_t v);

/* A small model using every op (conv stem, relu, maxpool, depthwise conv, pointwise conv,
 * add, avgpool, global avgpool, linear). */
void tm_build_demo(test_model *tm, uint32_t bits, uint32_t encoding, double sparsity);
/* A residual block with a 1x1 stride-2 shortcut CONV1D before its ADD (test_conv1d_pointwise_add.c);
 * variants 0 and 1 are fused by the loader, 2..4 not (a second reader, output over the block input,
 * shortcut not next to the ADD). */
void tm_build_residual(test_model *tm, int variant, uint32_t bits, uint32_t enc);
void tm_free(test_model *tm);
/* Run it op by op with the reference kernels (test_reference.c). */
void tm_reference_run(const test_model *tm, const int8_t *input, int8_t *logits);

/* Builders of the test models: a tensor packed after the previous one (16-aligned), an op with
 * no second input, full clamp range and no block. */
void tm_add_tensor(test_model *tm, uint32_t len, uint32_t ch, int32_t zp, uint32_t *arena_at);
tm_op *tm_add_op(test_model *tm, uint16_t type, uint16_t in0, uint16_t out);

/* A small transformer (test_transformer.c): GROUPNORM, GELU, LAYERNORM, grouped CONV1D,
 * MATMUL (both forms), SOFTMAX, with conv/add/gap/linear around them; version 2. */
void tm_build_transformer(test_model *tm, uint32_t bits, uint32_t encoding, double sparsity);
/* Reference of one version-2 op (naive, test_transformer.c); bufs as tm_reference_run's. */
void ref_transformer_op(const test_model *tm, const tm_op *o, int8_t (*buf)[4096]);

/* Reference kernels (dense weights). */
void ref_conv1d(const int8_t *x, uint32_t in_len, uint32_t in_ch, int32_t zp_in, const int8_t *w,
                const int32_t *bias, const int32_t *mult, const uint8_t *shift, uint32_t out_ch,
                uint32_t k, uint32_t stride, uint32_t pad_left, uint32_t dil, uint32_t groups,
                uint32_t out_len, int32_t zp_out, int32_t lo, int32_t hi, int8_t *y);

#endif
