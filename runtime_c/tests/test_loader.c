/* The whole runtime on a model using every op, against the reference chain; and the loader's
 * refusals (FORMAT.md section 10): each mutation is refused with the right status, never a crash. */
#include "rt_test.h"

void test_model_every_op(void);
void test_loader_rejects(void);
void test_loader_rule_ids(void);
void test_invoke_rejects(void);
void test_trace(void);
void test_pointwise_dilation_ignored(void);
void test_loader_host_trailer(void);

static uint8_t file_buf[1 << 16];
static uint8_t arena_mem[1 << 16] __attribute__((aligned(16)));

void test_model_every_op(void)
{
    uint32_t bits, enc;
    int sp;
    const double sps[3] = {0.0, 0.5, 0.85};
    rng_seed(100);
    for (bits = 1; bits <= 8; ++bits)
        for (enc = 0; enc < 3; ++enc)
            for (sp = 0; sp < 3; ++sp) {
                test_model tm;
                ecg_rt_model m;
                size_t len, arena;
                int8_t in[128], out[4], want[4];
                int rep;
                if (bits == 1 && enc == 0 && sp > 0) continue;
                tm_build_demo(&tm, bits, enc, sps[sp]);
                len = tm_write(&tm, file_buf, sizeof file_buf);
                CHECK(len > 0);
                CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len), ECG_RT_OK);
                CHECK(ecg_rt_arena_size(&m, &arena) == ECG_RT_OK && arena == tm.arena_size);
                for (rep = 0; rep < 5; ++rep) {
                    int j;
                    for (j = 0; j < 128; ++j) in[j] = (int8_t)rng_range(-128, 127);
                    CHECK_EQ_INT(ecg_rt_invoke(&m, arena_mem, arena, in, 128, out, 4), ECG_RT_OK);
                    tm_reference_run(&tm, in, want);
                    CHECK(memcmp(out, want, 4) == 0);
                }
                tm_free(&tm);
            }
}

/* Mutate one field of a valid file, fix the CRC, expect `want`; *why says what load_ex
 * reported (may be NULL). */
typedef void (*mutate_fn)(uint8_t *buf, size_t *len, const test_model *tm);
static int expect_why(mutate_fn f, ecg_rt_status want, const char *what, ecg_rt_refusal *why)
{
    test_model tm;
    ecg_rt_model m;
    size_t len;
    ecg_rt_status got;
    rng_seed(7);
    tm_build_demo(&tm, 4, 1, 0.5);
    len = tm_write(&tm, file_buf, sizeof file_buf);
    f(file_buf, &len, &tm);
    if (len >= 64 && len <= sizeof file_buf) tm_fix_crc(file_buf, len);
    got = ecg_rt_load_ex(&m, file_buf, len, why);
    tm_free(&tm);
    if (got != want) {
        fprintf(stderr, "  %s: got %d (%s), want %d\n", what, got, ecg_rt_status_str(got), want);
        return 0;
    }
    if (m.base != 0) return 0; /* a refused load leaves no usable model */
    return 1;
}

static int expect(mutate_fn f, ecg_rt_status want, const char *what)
{
    return expect_why(f, want, what, 0);
}

/* The refusal names its FORMAT.md rule and the index it concerns (the ids the Python reader
 * reports too: ecg_edge/modelbin/rules.py). */
static int expect_rule(mutate_fn f, ecg_rt_status want, const char *rule, uint32_t index)
{
    ecg_rt_refusal why;
    if (!expect_why(f, want, rule, &why)) return 0;
    if (why.status != want || strcmp(ecg_rt_rule_name(why.rule), rule) != 0 || why.index != index) {
        fprintf(stderr, "  %s: reported rule %s index %u\n", rule, ecg_rt_rule_name(why.rule), why.index);
        return 0;
    }
    return 1;
}

static uint32_t sec_off(const uint8_t *b, uint32_t type)
{
    uint32_t j;
    for (j = 0; j < 4; ++j)
        if (b[64 + 16 * j] == type) return b[64 + 16 * j + 4] | (b[64 + 16 * j + 5] << 8) | ((uint32_t)b[64 + 16 * j + 6] << 16);
    return 0;
}
static uint8_t *tensor_rec(uint8_t *b, uint32_t id) { return b + sec_off(b, 2) + 32 * id; }
static uint8_t *op_rec(uint8_t *b, uint32_t id) { return b + sec_off(b, 3) + 64 * id; }
static uint8_t *block0(uint8_t *b) { return b + sec_off(b, 4); }
static uint8_t *block_of(uint8_t *b, uint32_t op)
{
    uint8_t *r = op_rec(b, op);
    return block0(b) + (r[20] | (r[21] << 8) | ((uint32_t)r[22] << 16));
}

#define MUT(name, body) static void name(uint8_t *b, size_t *len, const test_model *tm) { (void)b; (void)len; (void)tm; body; }
MUT(m_magic, b[0] = 'X')
MUT(m_version, wr16(b + 4, ECG_RT_FORMAT_VERSION + 1))
MUT(m_version0, wr16(b + 4, 0))
MUT(m_hsize, wr16(b + 6, 60))
MUT(m_fsize_big, wr32(b + 8, (uint32_t)*len + 16))
MUT(m_fsize_small, wr32(b + 8, (uint32_t)*len - 16))
MUT(m_truncated, *len = 40)
MUT(m_flags, wr32(b + 16, 2))
MUT(m_nsec0, wr32(b + 20, 0))
MUT(m_nsec17, wr32(b + 20, 17))
MUT(m_nsec3, wr32(b + 20, 3))
MUT(m_tableoff, wr32(b + 24, 80))
MUT(m_arena16, wr32(b + 28, tm->arena_size - 8))
MUT(m_arena_small, wr32(b + 28, tm->arena_size - 16))
MUT(m_in_id, wr16(b + 32, 200))
MUT(m_ntensors, wr16(b + 36, (uint16_t)(tm->n_tensors + 1)))
MUT(m_nops, wr16(b + 38, (uint16_t)(tm->n_ops - 1)))
/* 300 ops, counted consistently (a zeroed OPS section of 300 records appended): over the
 * runtime's capacity, refused once the counts agree. */
static void m_limit(uint8_t *b, size_t *len, const test_model *tm)
{
    uint32_t j, off = (uint32_t)((*len + 15u) & ~(size_t)15u), size = 300u * 64u;
    (void)tm;
    for (j = 0; j < 4; ++j)
        if (b[64 + 16 * j] == 3) {
            wr32(b + 64 + 16 * j + 4, off);
            wr32(b + 64 + 16 * j + 8, size);
            wr32(b + 64 + 16 * j + 12, 300u);
        }
    memset(b + *len, 0, off + size - *len);
    *len = off + size;
    wr16(b + 38, 300);
    wr32(b + 8, (uint32_t)*len);
}
MUT(m_nclasses, wr32(b + 40, 5))
MUT(m_sec_unaligned, wr32(b + 64 + 4, 136))
MUT(m_sec_past_end, wr32(b + 64 + 8, (uint32_t)*len))
MUT(m_sec_overlap, wr32(b + 64 + 8, sec_off(b, 2) - 128 + 16))
MUT(m_sec_dup, wr32(b + 64 + 16, 1))
MUT(m_sec_unknown, wr32(b + 64 + 48, 5))
MUT(m_sec_count, wr32(b + 64 + 16 + 12, tm->n_tensors - 1))
MUT(m_wsec_count, wr32(b + 64 + 48 + 12, 3))
MUT(m_meta_key, b[128 + 2] = 'A')
MUT(m_meta_len, wr32(b + 128 + 7, 10000))
MUT(m_meta_type, b[128 + 6] = 9)
MUT(m_t_len0, wr32(tensor_rec(b, 3), 0))
MUT(m_t_overflow, wr32(tensor_rec(b, 3), 1u << 22); wr32(tensor_rec(b, 3) + 20, (1u << 22) * 8u))
MUT(m_t_size, wr32(tensor_rec(b, 3) + 20, 127))
MUT(m_t_zp, wr32(tensor_rec(b, 3) + 12, 128))
MUT(m_t_align, wr32(tensor_rec(b, 3) + 16, tm->t[3].arena_offset + 2))
MUT(m_t_arena, wr32(tensor_rec(b, 3) + 16, tm->arena_size - 16))
MUT(m_t_flags, wr32(tensor_rec(b, 3) + 24, 1))
MUT(m_op_tid, wr16(op_rec(b, 1) + 4, 99))
MUT(m_op_in1, wr16(op_rec(b, 1) + 6, 3))
MUT(m_op_flags, wr16(op_rec(b, 1) + 2, 2))
MUT(m_op_act, wr32(op_rec(b, 1) + 12, 50); wr32(op_rec(b, 1) + 16, 40))
MUT(m_op_act_lo, wr32(op_rec(b, 1) + 12, (uint32_t)-129))
MUT(m_op_unsup7, wr16(op_rec(b, 6), 7))
MUT(m_op_unsup12, wr16(op_rec(b, 6), 12))
MUT(m_op_unknown, wr16(op_rec(b, 6), 40))
MUT(m_op_shape, wr32(op_rec(b, 0) + 28 + 4, 3)) /* stem stride 3: L_out disagrees */
MUT(m_op_kernel0, wr32(op_rec(b, 0) + 28, 0))
MUT(m_op_groups, wr32(op_rec(b, 0) + 28 + 20, 2))
MUT(m_op_pool_pad, wr32(op_rec(b, 1) + 28 + 8, 3))
MUT(m_op_add_shift, wr32(op_rec(b, 5) + 28 + 8, 63))
MUT(m_op_add_mult, wr32(op_rec(b, 5) + 28, 0x80000000u))
MUT(m_op_gap_shift, wr32(op_rec(b, 8) + 28 + 4, 0))
MUT(m_op_overlap, wr32(tensor_rec(b, 2) + 16, tm->t[1].arena_offset + 16))
MUT(m_op_alias_bad, wr32(tensor_rec(b, 6) + 16, tm->t[4].arena_offset + 16))
MUT(m_op_undefined, wr16(op_rec(b, 6) + 4, 9))
MUT(m_op_noweights, wr32(op_rec(b, 0) + 20, 0xFFFFFFFFu))
MUT(m_op_weights_on_relu, wr32(op_rec(b, 6) + 20, 0))
MUT(m_w_unaligned, wr32(op_rec(b, 2) + 20, 8))
MUT(m_w_past, wr32(op_rec(b, 9) + 24, 100000))
MUT(m_w_bits0, block_of(b, 0)[0] = 0)
MUT(m_w_bits9, block_of(b, 0)[0] = 9)
MUT(m_w_enc, block_of(b, 0)[1] = 3)
MUT(m_w_cout, wr32(block_of(b, 0) + 4, 9))
MUT(m_w_span, wr32(block_of(b, 0) + 8, 11))
MUT(m_w_kernel, wr32(block_of(b, 0) + 12, 4))
MUT(m_w_nnz, wr32(block_of(b, 0) + 16, tm->blk[0].wb.nnz + 1))
MUT(m_w_mask, block_of(b, 0)[block_of(b, 0)[32] | (block_of(b, 0)[33] << 8)] ^= 1)
MUT(m_w_shift0, block_of(b, 0)[48 + 64] = 0)
MUT(m_w_shift63, block_of(b, 0)[48 + 64] = 63)
MUT(m_w_mult, wr32(block_of(b, 0) + 48 + 32, 0x80000001u))
MUT(m_w_bias_bound, wr32(block_of(b, 0) + 48, 0x7FFFFFF0u))
MUT(m_w_offbias, wr32(block_of(b, 0) + 20, 45))
MUT(m_w_offvalues, wr32(block_of(b, 0) + 40, 100000))
MUT(m_w_values_bytes, wr32(block_of(b, 0) + 44, 4))
MUT(m_w_index_bytes, wr32(block_of(b, 0) + 36, 4))
MUT(m_hdr_reserved, b[50] = 1)
MUT(m_t_reserved, wr32(tensor_rec(b, 3) + 28, 1))
MUT(m_op_reserved, wr16(op_rec(b, 1) + 10, 1))
MUT(m_w_reserved, block_of(b, 0)[2] = 1)
MUT(m_op_wsize_on_relu, wr32(op_rec(b, 6) + 24, 16))
MUT(m_op_twice, wr16(op_rec(b, 6) + 8, 4); wr16(op_rec(b, 7) + 4, 4))
MUT(m_in_is_out, wr16(b + 34, 0))
MUT(m_w_overlap, wr32(op_rec(b, 3) + 20, (uint32_t)(block_of(b, 2) - block0(b))); wr32(op_rec(b, 3) + 24, 16))
MUT(m_plan_live, wr32(tensor_rec(b, 4) + 16, tm->t[2].arena_offset - 64); wr32(tensor_rec(b, 6) + 16, tm->t[2].arena_offset - 64))
MUT(m_meta_trailing, wr32(b + 64 + 8, (uint32_t)(b[64 + 8] | (b[64 + 9] << 8)) + 1u))

/* A dense 1-bit block with nnz < count, and a run-length walk past span (separate models). */
static int expect_block(uint32_t bits, uint32_t enc, int which, ecg_rt_status want)
{
    uint32_t rule;
    test_block tb;
    ecg_rt_wblock wb;
    ecg_rt_status got;
    rng_seed(9);
    make_block(&tb, 3, 40, 1, bits, enc, 0.8, 0);
    if (which == 0) wr32(tb.blk + 16, tb.wb.nnz - 1);
    if (which == 1) { /* run-length: first run byte made huge (still a value, past span) */
        uint32_t off = tb.blk[32] | (tb.blk[33] << 8);
        tb.blk[off + 12] = 200;
    }
    if (which == 2) { /* run-length: a channel's entry count larger than its runs */
        uint32_t off = tb.blk[32] | (tb.blk[33] << 8);
        wr32(tb.blk + off, tb.blk[off] + 1u);
    }
    got = ecg_rt_wblock_check(tb.blk, (uint32_t)tb.size, 0, &wb, &rule);
    free_block(&tb);
    if (got != want) fprintf(stderr, "  block case %d: got %d want %d\n", which, got, want);
    return got == want;
}

void test_loader_rule_ids(void)
{
    ecg_rt_model m;
    ecg_rt_refusal why;
    uint32_t r;
    CHECK(expect_rule(m_magic, ECG_RT_E_MAGIC, "header.magic", ECG_RT_NO_INDEX));
    CHECK(expect_rule(m_hdr_reserved, ECG_RT_E_HEADER, "header.reserved", ECG_RT_NO_INDEX));
    CHECK(expect_rule(m_t_reserved, ECG_RT_E_TENSOR, "tensor.reserved", 3));
    CHECK(expect_rule(m_op_reserved, ECG_RT_E_OP, "op.reserved", 1));
    CHECK(expect_rule(m_w_shift0, ECG_RT_E_WEIGHTS, "block.shift", 0));
    CHECK(expect_rule(m_w_mask, ECG_RT_E_WEIGHTS, "block.mask", 0));
    CHECK(expect_rule(m_meta_trailing, ECG_RT_E_SECTION, "meta.entry", ECG_RT_NO_INDEX));
    CHECK(expect_rule(m_plan_live, ECG_RT_E_TENSOR, "plan.overlap", ECG_RT_NO_INDEX));
    /* a load that succeeds reports no rule; names are distinct and out-of-range ids named */
    CHECK_EQ_INT(ecg_rt_load_ex(&m, 0, 0, &why), ECG_RT_E_NULL);
    CHECK(why.status == ECG_RT_E_NULL && why.rule == ECG_RT_RULE_NONE);
    for (r = 1; r < (uint32_t)ECG_RT_RULE_COUNT; ++r)
        CHECK(strcmp(ecg_rt_rule_name(r), ecg_rt_rule_name(r - 1u)) != 0);
    CHECK(strcmp(ecg_rt_rule_name(ECG_RT_RULE_COUNT), "unknown rule") == 0);
}

void test_loader_rejects(void)
{
    ecg_rt_model m;
    CHECK(expect(m_magic, ECG_RT_E_MAGIC, "magic"));
    CHECK(expect(m_version, ECG_RT_E_VERSION, "version"));
    CHECK(expect(m_version0, ECG_RT_E_VERSION, "version 0"));
    CHECK(expect(m_hsize, ECG_RT_E_HEADER, "header_size"));
    CHECK(expect(m_fsize_big, ECG_RT_E_TRUNCATED, "file_size > len"));
    CHECK(expect(m_fsize_small, ECG_RT_E_HEADER, "file_size < len"));
    CHECK(expect(m_truncated, ECG_RT_E_TRUNCATED, "truncated"));
    CHECK(expect(m_flags, ECG_RT_E_HEADER, "flags"));
    CHECK(expect(m_nsec0, ECG_RT_E_HEADER, "n_sections 0"));
    CHECK(expect(m_nsec17, ECG_RT_E_HEADER, "n_sections 17"));
    CHECK(expect(m_nsec3, ECG_RT_E_SECTION, "n_sections 3 (missing type)"));
    CHECK(expect(m_tableoff, ECG_RT_E_HEADER, "section_table_offset"));
    CHECK(expect(m_arena16, ECG_RT_E_HEADER, "arena_size not multiple of 16"));
    CHECK(expect(m_arena_small, ECG_RT_E_TENSOR, "arena_size below a tensor end"));
    CHECK(expect(m_in_id, ECG_RT_E_HEADER, "input tensor id"));
    CHECK(expect(m_ntensors, ECG_RT_E_SECTION, "n_tensors vs section"));
    CHECK(expect(m_nops, ECG_RT_E_SECTION, "n_ops vs section"));
    CHECK(expect(m_limit, ECG_RT_E_LIMIT, "n_ops > max"));
    CHECK(expect(m_nclasses, ECG_RT_E_HEADER, "n_classes"));
    CHECK(expect(m_sec_unaligned, ECG_RT_E_SECTION, "section unaligned"));
    CHECK(expect(m_sec_past_end, ECG_RT_E_SECTION, "section past end"));
    CHECK(expect(m_sec_overlap, ECG_RT_E_SECTION, "sections overlap"));
    CHECK(expect(m_sec_dup, ECG_RT_E_SECTION, "duplicate section"));
    CHECK(expect(m_sec_unknown, ECG_RT_E_SECTION, "unknown section type"));
    CHECK(expect(m_sec_count, ECG_RT_E_SECTION, "tensor count"));
    CHECK(expect(m_wsec_count, ECG_RT_E_SECTION, "weight block count"));
    CHECK(expect(m_meta_key, ECG_RT_E_SECTION, "meta key chars"));
    CHECK(expect(m_meta_len, ECG_RT_E_SECTION, "meta string length"));
    CHECK(expect(m_meta_type, ECG_RT_E_SECTION, "meta value type"));
    CHECK(expect(m_t_len0, ECG_RT_E_TENSOR, "tensor L=0"));
    CHECK(expect(m_t_overflow, ECG_RT_E_TENSOR, "tensor L*C > 2^24"));
    CHECK(expect(m_t_size, ECG_RT_E_TENSOR, "tensor size_bytes"));
    CHECK(expect(m_t_zp, ECG_RT_E_TENSOR, "tensor zero point"));
    CHECK(expect(m_t_align, ECG_RT_E_TENSOR, "tensor offset alignment"));
    CHECK(expect(m_t_arena, ECG_RT_E_TENSOR, "tensor past arena"));
    CHECK(expect(m_t_flags, ECG_RT_E_TENSOR, "tensor flags"));
    CHECK(expect(m_op_tid, ECG_RT_E_OP, "op tensor id"));
    CHECK(expect(m_op_in1, ECG_RT_E_OP, "op in1 on unary op"));
    CHECK(expect(m_op_flags, ECG_RT_E_OP, "op flags"));
    CHECK(expect(m_op_act, ECG_RT_E_OP, "act_min > act_max"));
    CHECK(expect(m_op_act_lo, ECG_RT_E_OP, "act_min < -128"));
    CHECK(expect(m_op_unsup7, ECG_RT_E_UNSUPPORTED_OP, "op 7"));
    CHECK(expect(m_op_unsup12, ECG_RT_E_UNSUPPORTED_OP, "op 12"));
    CHECK(expect(m_op_unknown, ECG_RT_E_UNSUPPORTED_OP, "op 40"));
    CHECK(expect(m_op_shape, ECG_RT_E_OP, "conv L_out"));
    CHECK(expect(m_op_kernel0, ECG_RT_E_OP, "conv K=0"));
    CHECK(expect(m_op_groups, ECG_RT_E_OP, "conv groups"));
    CHECK(expect(m_op_pool_pad, ECG_RT_E_OP, "pool pad >= K"));
    CHECK(expect(m_op_add_shift, ECG_RT_E_OP, "add shift 63"));
    CHECK(expect(m_op_add_mult, ECG_RT_E_OP, "add negative multiplier"));
    CHECK(expect(m_op_gap_shift, ECG_RT_E_OP, "gap shift 0"));
    /* GLOBAL_AVGPOOL: L <= 2^23 keeps the sum below 2^31 (FORMAT.md section 6). */
    {
        test_model tm;
        size_t len;
        memset(&tm, 0, sizeof tm);
        tm.n_tensors = 2; tm.n_ops = 1; tm.input = 0; tm.output = 1;
        tm.t[0].len = (1u << 23) + 4u; tm.t[0].ch = 1; tm.t[0].size_bytes = (1u << 23) + 4u; tm.t[0].flags = 1;
        tm.t[1].len = 1; tm.t[1].ch = 1; tm.t[1].size_bytes = 1; tm.t[1].flags = 2;
        tm.t[1].arena_offset = 1u << 24;
        tm.op[0].type = 5; tm.op[0].in1 = 0xFFFF; tm.op[0].out = 1; tm.op[0].block = -1;
        tm.op[0].act_min = -128; tm.op[0].act_max = 127;
        tm.op[0].p[0] = 0x7FFFFFFFu; tm.op[0].p[1] = 62;
        len = tm_write(&tm, file_buf, sizeof file_buf);
        CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len), ECG_RT_E_OP);
        tm.t[0].len = tm.t[0].size_bytes = 1u << 23;
        len = tm_write(&tm, file_buf, sizeof file_buf);
        CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len), ECG_RT_OK);
    }
    CHECK(expect(m_op_overlap, ECG_RT_E_OP, "output overlaps input"));
    CHECK(expect(m_op_alias_bad, ECG_RT_E_OP, "add partial alias"));
    CHECK(expect(m_op_undefined, ECG_RT_E_OP, "reads a tensor not yet produced"));
    CHECK(expect(m_op_noweights, ECG_RT_E_WEIGHTS, "conv without weights"));
    CHECK(expect(m_op_weights_on_relu, ECG_RT_E_OP, "relu with weights"));
    CHECK(expect(m_w_unaligned, ECG_RT_E_WEIGHTS, "block unaligned"));
    CHECK(expect(m_w_past, ECG_RT_E_WEIGHTS, "block past section"));
    CHECK(expect(m_w_bits0, ECG_RT_E_WEIGHTS, "bits 0"));
    CHECK(expect(m_w_bits9, ECG_RT_E_WEIGHTS, "bits 9"));
    CHECK(expect(m_w_enc, ECG_RT_E_WEIGHTS, "encoding 3"));
    CHECK(expect(m_w_cout, ECG_RT_E_WEIGHTS, "block c_out"));
    CHECK(expect(m_w_span, ECG_RT_E_WEIGHTS, "block span"));
    CHECK(expect(m_w_kernel, ECG_RT_E_WEIGHTS, "block kernel"));
    CHECK(expect(m_w_nnz, ECG_RT_E_WEIGHTS, "block nnz"));
    CHECK(expect(m_w_mask, ECG_RT_E_WEIGHTS, "mask popcount"));
    CHECK(expect(m_w_shift0, ECG_RT_E_WEIGHTS, "shift 0"));
    CHECK(expect(m_w_shift63, ECG_RT_E_WEIGHTS, "shift 63"));
    CHECK(expect(m_w_mult, ECG_RT_E_WEIGHTS, "negative multiplier"));
    CHECK(expect(m_w_bias_bound, ECG_RT_E_WEIGHTS, "accumulator bound"));
    CHECK(expect(m_w_offbias, ECG_RT_E_WEIGHTS, "bias offset"));
    CHECK(expect(m_w_offvalues, ECG_RT_E_WEIGHTS, "values offset"));
    CHECK(expect(m_w_values_bytes, ECG_RT_E_WEIGHTS, "values bytes"));
    CHECK(expect(m_w_index_bytes, ECG_RT_E_WEIGHTS, "index bytes"));
    CHECK(expect(m_hdr_reserved, ECG_RT_E_HEADER, "header reserved"));
    CHECK(expect(m_t_reserved, ECG_RT_E_TENSOR, "tensor reserved"));
    CHECK(expect(m_op_reserved, ECG_RT_E_OP, "op reserved"));
    CHECK(expect(m_w_reserved, ECG_RT_E_WEIGHTS, "block reserved"));
    CHECK(expect(m_op_wsize_on_relu, ECG_RT_E_OP, "weight_size on relu"));
    CHECK(expect(m_op_twice, ECG_RT_E_OP, "tensor produced twice"));
    CHECK(expect(m_in_is_out, ECG_RT_E_HEADER, "input tensor is the output tensor"));
    CHECK(expect(m_w_overlap, ECG_RT_E_WEIGHTS, "weight blocks overlap"));
    CHECK(expect(m_plan_live, ECG_RT_E_TENSOR, "live tensors share arena bytes"));
    CHECK(expect(m_meta_trailing, ECG_RT_E_SECTION, "bytes after the last META entry"));
    CHECK(expect_block(1, 0, 0, ECG_RT_E_WEIGHTS));  /* dense 1-bit nnz < count */
    CHECK(expect_block(4, 2, 1, ECG_RT_E_WEIGHTS));  /* run walks past span */
    CHECK(expect_block(4, 2, 2, ECG_RT_E_WEIGHTS));  /* run entries disagree */
    CHECK(expect_block(8, 1, 0, ECG_RT_E_WEIGHTS));  /* popcount vs nnz */
    /* CRC: flip a byte without fixing the CRC */
    {
        test_model tm;
        size_t len;
        rng_seed(7);
        tm_build_demo(&tm, 4, 1, 0.5);
        len = tm_write(&tm, file_buf, sizeof file_buf);
        tm_free(&tm);
        file_buf[len - 1] ^= 0x40;
        CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len), ECG_RT_E_CRC);
        CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len + 16), ECG_RT_E_HEADER);
    }
    CHECK_EQ_INT(ecg_rt_load(0, file_buf, 100), ECG_RT_E_NULL);
    CHECK_EQ_INT(ecg_rt_load(&m, 0, 100), ECG_RT_E_NULL);
}

void test_invoke_rejects(void)
{
    test_model tm;
    ecg_rt_model m, empty;
    size_t len;
    int8_t in[128] = {0}, out[4];
    rng_seed(11);
    tm_build_demo(&tm, 3, 0, 0.3);
    len = tm_write(&tm, file_buf, sizeof file_buf);
    CHECK(ecg_rt_load(&m, file_buf, len) == ECG_RT_OK);
    CHECK_EQ_INT(ecg_rt_invoke(&m, arena_mem, tm.arena_size - 1, in, 128, out, 4), ECG_RT_E_ARENA_TOO_SMALL);
    CHECK_EQ_INT(ecg_rt_invoke(&m, arena_mem + 2, tm.arena_size, in, 128, out, 4), ECG_RT_E_ALIGNMENT);
    CHECK_EQ_INT(ecg_rt_invoke(&m, arena_mem, tm.arena_size, in, 127, out, 4), ECG_RT_E_SIZE);
    CHECK_EQ_INT(ecg_rt_invoke(&m, arena_mem, tm.arena_size, in, 128, out, 3), ECG_RT_E_SIZE);
    CHECK_EQ_INT(ecg_rt_invoke(&m, 0, tm.arena_size, in, 128, out, 4), ECG_RT_E_NULL);
    CHECK_EQ_INT(ecg_rt_invoke(0, arena_mem, tm.arena_size, in, 128, out, 4), ECG_RT_E_NULL);
    memset(&empty, 0, sizeof empty);
    CHECK_EQ_INT(ecg_rt_invoke(&empty, arena_mem, tm.arena_size, in, 128, out, 4), ECG_RT_E_NULL);
    CHECK_EQ_INT(ecg_rt_invoke(&m, arena_mem, tm.arena_size, in, 128, out, 4), ECG_RT_OK);
    {
        size_t s;
        CHECK_EQ_INT(ecg_rt_arena_size(&empty, &s), ECG_RT_E_NULL);
    }
    {
        int code;
        for (code = 0; code <= 16; ++code) CHECK(ecg_rt_status_str((ecg_rt_status)code)[0] != 0);
    }
    tm_free(&tm);
}

typedef struct { uint32_t calls, last_op; uint16_t last_tensor; int8_t first0; } trace_rec;
static void on_trace(void *user, uint32_t op_index, uint16_t tensor_id, const int8_t *data, uint32_t size)
{
    trace_rec *r = (trace_rec *)user;
    if (r->calls == 0 && size) r->first0 = data[0];
    r->calls++;
    r->last_op = op_index;
    r->last_tensor = tensor_id;
}

/* Found by the fuzzer: a K = 1 conv with a dilation other than 1 (legal, dilation has no effect)
 * loaded but was refused at invoke by the dense-row path. Now it runs and matches the reference. */
void test_pointwise_dilation_ignored(void)
{
    test_model tm;
    ecg_rt_model m;
    size_t len;
    int8_t in[128], out[4], want[4];
    int j;
    rng_seed(13);
    tm_build_demo(&tm, 8, 0, 0.0);
    tm.op[3].p[4] = 3866625u; /* the pointwise conv */
    len = tm_write(&tm, file_buf, sizeof file_buf);
    for (j = 0; j < 128; ++j) in[j] = (int8_t)rng_range(-128, 127);
    CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len), ECG_RT_OK);
    CHECK_EQ_INT(ecg_rt_invoke(&m, arena_mem, tm.arena_size, in, 128, out, 4), ECG_RT_OK);
    tm_reference_run(&tm, in, want);
    CHECK(memcmp(out, want, 4) == 0);
    tm_free(&tm);
}

void test_trace(void)
{
    test_model tm;
    ecg_rt_model m;
    size_t len;
    int8_t in[128], out[4];
    trace_rec r;
    int j;
    rng_seed(12);
    tm_build_demo(&tm, 6, 2, 0.4);
    len = tm_write(&tm, file_buf, sizeof file_buf);
    for (j = 0; j < 128; ++j) in[j] = (int8_t)rng_range(-128, 127);
    memset(&r, 0, sizeof r);
    CHECK(ecg_rt_load(&m, file_buf, len) == ECG_RT_OK);
    CHECK(ecg_rt_invoke_traced(&m, arena_mem, tm.arena_size, in, 128, out, 4, on_trace, &r) == ECG_RT_OK);
    CHECK_EQ_INT(r.calls, tm.n_ops);
    CHECK_EQ_INT(r.last_op, tm.n_ops - 1);
    CHECK_EQ_INT(r.last_tensor, tm.output);
    tm_free(&tm);
}

/* FORMAT.md section 4: a host trailer after file_size ("ECGH", trailer_size, crc, count,
 * entries) is accepted and never read; the model computes what the device image alone does.
 * A tail that is not a trailer, or whose trailer_size disagrees with the buffer, is refused. */
void test_loader_host_trailer(void)
{
    test_model tm;
    ecg_rt_model m;
    size_t len, arena;
    int8_t in[128], out[4], out2[4];
    int j;
    rng_seed(11);
    tm_build_demo(&tm, 4, 1, 0.5);
    len = tm_write(&tm, file_buf, sizeof file_buf);
    CHECK(len > 0 && len + 24 <= sizeof file_buf);
    for (j = 0; j < 128; ++j) in[j] = (int8_t)rng_range(-128, 127);
    CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len), ECG_RT_OK);
    CHECK(ecg_rt_arena_size(&m, &arena) == ECG_RT_OK);
    CHECK_EQ_INT(ecg_rt_invoke(&m, arena_mem, arena, in, 128, out, 4), ECG_RT_OK);
    memcpy(file_buf + len, "ECGH", 4);
    wr32(file_buf + len + 4, 24);
    wr32(file_buf + len + 8, 0xDEADBEEFu); /* the trailer's own CRC: the device never checks it */
    wr32(file_buf + len + 12, 1);
    memset(file_buf + len + 16, 0xAB, 8);
    CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len + 24), ECG_RT_OK);
    CHECK(m.size == len);
    CHECK_EQ_INT(ecg_rt_invoke(&m, arena_mem, arena, in, 128, out2, 4), ECG_RT_OK);
    CHECK(memcmp(out, out2, 4) == 0);
    CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len + 20), ECG_RT_E_HEADER); /* trailer_size != tail */
    wr32(file_buf + len + 4, 20);
    CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len + 20), ECG_RT_OK);
    CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len + 12), ECG_RT_E_HEADER); /* shorter than a trailer header */
    file_buf[len + 3] = 'X';
    CHECK_EQ_INT(ecg_rt_load(&m, file_buf, len + 20), ECG_RT_E_HEADER); /* not a trailer */
    tm_free(&tm);
}
