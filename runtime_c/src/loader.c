/* ecg_rt_load: validate a model.bin completely before anything runs (FORMAT.md section 10).
 * After a successful load, invoke trusts the bytes: every offset, size, shape, parameter and
 * weight stream a kernel will touch has been checked here, so no input can make a kernel read
 * or write outside the model, the arena or the caller's buffers, or overflow an accumulator. */
#include "ecg_rt_internal.h"
#include "ecg_rt_transformer.h"

typedef struct {
    uint32_t offset, size, count, present, entry;
} section;

/* 1 when p[0..n) is well-formed UTF-8 (RFC 3629: no overlong form, surrogate or code point
 * past U+10FFFF), what the host's strict decoder accepts. */
static int utf8_ok(const uint8_t *p, uint32_t n)
{
    uint32_t i = 0;
    while (i < n) {
        const uint8_t c = p[i];
        uint32_t len, cp, j;
        if (c < 0x80u) {
            ++i;
            continue;
        }
        if (c >= 0xC2u && c <= 0xDFu) {
            len = 2u;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0u && c <= 0xEFu) {
            len = 3u;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0u && c <= 0xF4u) {
            len = 4u;
            cp = c & 0x07u;
        } else {
            return 0;
        }
        if (n - i < len) return 0;
        for (j = 1u; j < len; ++j) {
            if ((p[i + j] & 0xC0u) != 0x80u) return 0;
            cp = (cp << 6) | (p[i + j] & 0x3Fu);
        }
        if (len == 3u && (cp < 0x800u || (cp >= 0xD800u && cp <= 0xDFFFu))) return 0;
        if (len == 4u && (cp < 0x10000u || cp > 0x10FFFFu)) return 0;
        i += len;
    }
    return 1;
}

/* A META string at p + *at: u32 length, then UTF-8 bytes inside the section. */
static ecg_rt_status check_string(const uint8_t *p, uint32_t size, uint64_t *at, uint32_t *rule)
{
    uint32_t n;
    if (*at + 4u > size) return ECG_RT_REFUSE(E_SECTION, META_ENTRY);
    n = ecg_rt_rd32(p + *at);
    *at += 4u;
    if (*at + n > size) return ECG_RT_REFUSE(E_SECTION, META_ENTRY);
    if (!utf8_ok(p + *at, n)) return ECG_RT_REFUSE(E_SECTION, META_UTF8);
    *at += n;
    return ECG_RT_OK;
}

static ecg_rt_status check_meta(const uint8_t *p, uint32_t size, uint32_t count, uint32_t *rule)
{
    uint64_t at = 0;
    uint32_t e;
    ecg_rt_status st;
    for (e = 0; e < count; ++e) {
        uint32_t klen, j, type;
        if (at + 2u > size) return ECG_RT_REFUSE(E_SECTION, META_ENTRY);
        klen = ecg_rt_rd16(p + at);
        at += 2u;
        if (klen < 1u || klen > 255u) return ECG_RT_REFUSE(E_SECTION, META_KEY);
        if (at + klen > size) return ECG_RT_REFUSE(E_SECTION, META_ENTRY);
        for (j = 0; j < klen; ++j) {
            uint8_t ch = p[at + j];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.'))
                return ECG_RT_REFUSE(E_SECTION, META_KEY);
        }
        at += klen;
        if (at + 1u > size) return ECG_RT_REFUSE(E_SECTION, META_ENTRY);
        type = p[at++];
        if (type <= 2u) {
            at += 4u;
        } else if (type == 3u) {
            if ((st = check_string(p, size, &at, rule)) != ECG_RT_OK) return st;
        } else if (type == 4u) {
            uint32_t n;
            if (at + 4u > size) return ECG_RT_REFUSE(E_SECTION, META_ENTRY);
            n = ecg_rt_rd32(p + at);
            at += 4u;
            if (n > size) return ECG_RT_REFUSE(E_SECTION, META_ENTRY); /* more strings than bytes */
            for (j = 0; j < n; ++j)
                if ((st = check_string(p, size, &at, rule)) != ECG_RT_OK) return st;
        } else if (type <= 6u) {
            if (at + 4u > size) return ECG_RT_REFUSE(E_SECTION, META_ENTRY);
            at += 4u + 4u * (uint64_t)ecg_rt_rd32(p + at);
        } else {
            return ECG_RT_REFUSE(E_SECTION, META_VALUE_TYPE);
        }
        if (at > size) return ECG_RT_REFUSE(E_SECTION, META_ENTRY);
    }
    /* no bytes after the last entry */
    return at == size ? ECG_RT_OK : ECG_RT_REFUSE(E_SECTION, META_ENTRY);
}

static int overlap(const ecg_rt_tensor *a, const ecg_rt_tensor *b)
{
    return a->arena_offset < b->arena_offset + b->size_bytes &&
           b->arena_offset < a->arena_offset + a->size_bytes;
}

static int same_place(const ecg_rt_tensor *a, const ecg_rt_tensor *b)
{
    return a->arena_offset == b->arena_offset && a->size_bytes == b->size_bytes;
}

static int valid_shift(uint32_t n) { return n >= 1u && n <= 62u; }

/* |acc| <= 255 * terms: the int64 rounding sum acc * M + 2^(n-1) must not overflow. */
static int pool_bound_ok(uint64_t terms, uint32_t mult, uint32_t n)
{
    const uint64_t limit = (uint64_t)1 << 63; /* exclusive */
    uint64_t amax = 255u * terms, prod;
    if (mult == 0) return 1;
    if (amax > (limit - 1u) / mult) return 0;
    prod = amax * mult;
    return prod + ((uint64_t)1 << (n - 1u)) < limit;
}

/* L_out of a conv/pool window; 0 when the window does not fit. */
static uint32_t window_out_len(uint32_t in_len, uint32_t k, uint32_t stride, uint32_t pl,
                               uint32_t pr, uint32_t dil)
{
    uint64_t span = (uint64_t)in_len + pl + pr;
    uint64_t reach = (uint64_t)dil * (k - 1u) + 1u;
    if (reach > span) return 0;
    return (uint32_t)((span - reach) / stride + 1u);
}

/* CONV1D / LINEAR: params, shapes, then the weight block against them. */
static ecg_rt_status check_weighted(const ecg_rt_model *m, const ecg_rt_op *op, uint32_t version,
                                    const ecg_rt_tensor *in0, const ecg_rt_tensor *out,
                                    uint32_t *n_blocks, uint32_t *rule)
{
    ecg_rt_wblock wb;
    ecg_rt_wblock_shape want;
    ecg_rt_status st;
    const uint32_t *p = op->p;
    want.c_out = out->channels;
    if (op->type == ECG_RT_OP_LINEAR) {
        if (out->len != 1u) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        want.kernel = 1u;
        want.span = in0->len * in0->channels;
    } else {
        const uint32_t k = p[0], stride = p[1], pl = p[2], pr = p[3], dil = p[4], g = p[5];
        uint32_t l_out;
        if (k < 1u || stride < 1u || dil < 1u) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        if (k > ECG_RT_MAX_PARAM || stride > ECG_RT_MAX_PARAM || pl > ECG_RT_MAX_PARAM ||
            pr > ECG_RT_MAX_PARAM || dil > ECG_RT_MAX_PARAM)
            return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        /* The window's reach, and its span in input elements, fit int32 offsets. */
        if ((uint64_t)dil * (k - 1u) > ECG_RT_MAX_PARAM) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        if (((uint64_t)dil * (k - 1u) + 1u) * in0->channels > 0x7FFFFFFFu)
            return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        l_out = window_out_len(in0->len, k, stride, pl, pr, dil);
        if (l_out == 0u || l_out != out->len) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (g < 1u || in0->channels % g || out->channels % g) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        /* version 1: groups 1 or depthwise; version 2: any count dividing C_in and C_out */
        if (version < 2u && g != 1u && !(g == in0->channels && g == out->channels))
            return ECG_RT_REFUSE(E_OP, OP_VERSION);
        want.kernel = k;
        want.span = k * (in0->channels / g); /* < 2^31: the window span check above */
    }
    st = ecg_rt_op_block_check(m, op, &want, &wb, rule);
    if (st != ECG_RT_OK) return st;
    ++*n_blocks;
    return ECG_RT_OK;
}

/* A version-1 op without weights (ADD, pools, RELU). */
static ecg_rt_status check_plain(const ecg_rt_op *op, const ecg_rt_tensor *in0,
                                 const ecg_rt_tensor *in1, const ecg_rt_tensor *out, uint32_t *rule)
{
    const uint32_t *p = op->p;
    switch (op->type) {
    case ECG_RT_OP_ADD:
        if (in0->len != out->len || in0->channels != out->channels || in1->len != out->len ||
            in1->channels != out->channels)
            return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (p[0] > 0x7FFFFFFFu || p[1] > 0x7FFFFFFFu || !valid_shift(p[2]))
            return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        break;
    case ECG_RT_OP_MAXPOOL1D:
    case ECG_RT_OP_AVGPOOL1D: {
        uint32_t l_out;
        if (p[0] < 1u || p[1] < 1u || p[0] > ECG_RT_MAX_PARAM || p[1] > ECG_RT_MAX_PARAM ||
            p[2] > ECG_RT_MAX_PARAM || p[3] > ECG_RT_MAX_PARAM)
            return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        if (op->type == ECG_RT_OP_AVGPOOL1D && p[0] > ECG_RT_MAX_POOL_SUM)
            return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        /* Every window must hold at least one real position. */
        if (p[2] >= p[0] || p[3] >= p[0]) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        l_out = window_out_len(in0->len, p[0], p[1], p[2], p[3], 1u);
        if (l_out == 0u || l_out != out->len) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (in0->channels != out->channels) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (op->type == ECG_RT_OP_AVGPOOL1D &&
            (p[4] > 0x7FFFFFFFu || !valid_shift(p[5]) || !pool_bound_ok(p[0], p[4], p[5])))
            return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        break;
    }
    case ECG_RT_OP_GLOBAL_AVGPOOL:
        if (out->len != 1u || out->channels != in0->channels) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (in0->len > ECG_RT_MAX_POOL_SUM) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (p[0] > 0x7FFFFFFFu || !valid_shift(p[1]) || !pool_bound_ok(in0->len, p[0], p[1]))
            return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        break;
    default: /* RELU */
        if (in0->len != out->len || in0->channels != out->channels)
            return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        break;
    }
    if (op->weight_block != ECG_RT_NONE32 || op->weight_size != 0)
        return ECG_RT_REFUSE(E_OP, OP_NO_WEIGHTS);
    return ECG_RT_OK;
}

static int is_set(const uint8_t *bits, uint32_t i) { return (bits[i >> 3] >> (i & 7u)) & 1u; }

/* One op record, in the Python reader's order: record fields, tensor ids, graph order (inputs
 * produced before, output produced once), the op's own rules, the output's overlap. */
static ecg_rt_status check_op(const ecg_rt_model *m, const ecg_rt_op *op, uint32_t version,
                              const uint8_t *defined, uint32_t *n_blocks, uint32_t *rule)
{
    ecg_rt_tensor in0, in1, out;
    ecg_rt_status st;
    const int two = ecg_rt_op_two_inputs(op->type);

    if (!ecg_rt_op_known(op->type, version)) return ECG_RT_REFUSE(E_UNSUPPORTED_OP, OP_TYPE);
    if (op->reserved != 0) return ECG_RT_REFUSE(E_OP, OP_RESERVED);
    if (op->flags & ~1u) return ECG_RT_REFUSE(E_OP, OP_FLAGS);
    if (op->act_min < -128 || op->act_min > op->act_max || op->act_max > 127)
        return ECG_RT_REFUSE(E_OP, OP_ACT_RANGE);
    if (op->in0 >= m->n_tensors || op->out >= m->n_tensors) return ECG_RT_REFUSE(E_OP, OP_TENSOR_ID);
    if (two && op->in1 >= m->n_tensors) return ECG_RT_REFUSE(E_OP, OP_TENSOR_ID);
    if (!two && op->in1 != ECG_RT_NONE16) return ECG_RT_REFUSE(E_OP, OP_IN1);
    if (!is_set(defined, op->in0) || (two && !is_set(defined, op->in1)))
        return ECG_RT_REFUSE(E_OP, OP_READ_BEFORE_WRITE);
    if (is_set(defined, op->out)) return ECG_RT_REFUSE(E_OP, OP_WRITTEN_TWICE);
    ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)op->in0, &in0);
    ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)op->out, &out);
    in1 = in0; /* unused by one-input ops */
    if (two) ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)op->in1, &in1);
    if (op->type >= ECG_RT_OP_FIRST_V2)
        st = ecg_rt_check_transformer_op(m, op, &in0, &in1, &out, n_blocks, rule);
    else if (op->type == ECG_RT_OP_CONV1D || op->type == ECG_RT_OP_LINEAR)
        st = check_weighted(m, op, version, &in0, &out, n_blocks, rule);
    else
        st = check_plain(op, &in0, &in1, &out, rule);
    return st;
}

/* Memory plan, per op (after every op record is valid): the output may not overlap an input,
 * except an ADD writing exactly over an input (check_plan then needs that input to die there). */
static ecg_rt_status check_outputs(const ecg_rt_model *m, uint32_t *rule)
{
    uint32_t k;
    for (k = 0; k < m->n_ops; ++k) {
        ecg_rt_op op;
        ecg_rt_tensor in0, in1, out;
        ecg_rt_op_decode(m->ops + ECG_RT_OP_RECORD * (size_t)k, &op);
        ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)op.in0, &in0);
        ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)op.out, &out);
        if (overlap(&out, &in0) && !(op.type == ECG_RT_OP_ADD && same_place(&out, &in0)))
            return ECG_RT_REFUSE(E_OP, PLAN_OVERLAP);
        if (ecg_rt_op_two_inputs(op.type)) {
            ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)op.in1, &in1);
            if (overlap(&out, &in1) && !(op.type == ECG_RT_OP_ADD && same_place(&out, &in1)))
                return ECG_RT_REFUSE(E_OP, PLAN_OVERLAP);
        }
    }
    return ECG_RT_OK;
}

/* Weight blocks of different ops must not overlap inside the WEIGHTS section. */
static ecg_rt_status check_blocks_disjoint(const ecg_rt_model *m, uint32_t *rule)
{
    uint32_t a, b;
    for (a = 0; a < m->n_ops; ++a) {
        ecg_rt_op oa;
        ecg_rt_op_decode(m->ops + ECG_RT_OP_RECORD * (size_t)a, &oa);
        if (oa.weight_block == ECG_RT_NONE32) continue;
        for (b = a + 1u; b < m->n_ops; ++b) {
            ecg_rt_op ob;
            ecg_rt_op_decode(m->ops + ECG_RT_OP_RECORD * (size_t)b, &ob);
            if (ob.weight_block == ECG_RT_NONE32) continue;
            if ((uint64_t)oa.weight_block < (uint64_t)ob.weight_block + ob.weight_size &&
                (uint64_t)ob.weight_block < (uint64_t)oa.weight_block + oa.weight_size)
                return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_OVERLAP);
        }
    }
    return ECG_RT_OK;
}

/* The memory plan (FORMAT.md section 9): tensors alive at the same time (from the op producing
 * them to the last op reading them; the input from before op 0, the output to the end) must not
 * share arena bytes, except an ADD output stored exactly over an input whose last reader is that
 * ADD. Each tensor is produced once (checked before), so its producer is op first[t]. */
static ecg_rt_status check_plan(const ecg_rt_model *m, uint32_t *rule)
{
    int16_t first[ECG_RT_MAX_TENSORS], last[ECG_RT_MAX_TENSORS];
    uint32_t i, j, k;
    for (i = 0; i < m->n_tensors; ++i) {
        first[i] = (int16_t)m->n_ops;
        last[i] = -1;
    }
    first[m->input_tensor] = -1;
    for (k = 0; k < m->n_ops; ++k) {
        ecg_rt_op op;
        ecg_rt_op_decode(m->ops + ECG_RT_OP_RECORD * (size_t)k, &op);
        first[op.out] = (int16_t)k;
        if ((int16_t)k > last[op.out]) last[op.out] = (int16_t)k;
        last[op.in0] = (int16_t)k;
        if (ecg_rt_op_two_inputs(op.type)) last[op.in1] = (int16_t)k;
    }
    last[m->output_tensor] = (int16_t)m->n_ops;
    for (i = 0; i < m->n_tensors; ++i) {
        ecg_rt_tensor ti;
        if (first[i] > last[i]) continue;
        ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)i, &ti);
        for (j = i + 1u; j < m->n_tensors; ++j) {
            ecg_rt_tensor tj;
            uint32_t pair;
            int ok = 0;
            if (first[j] > last[j] || last[i] < first[j] || last[j] < first[i]) continue;
            ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)j, &tj);
            if (!overlap(&ti, &tj)) continue;
            /* ADD alias: one is produced by an ADD that is the other's last reader. */
            for (pair = 0; pair < 2u && !ok; ++pair) {
                const uint32_t o = pair ? i : j, in = pair ? j : i;
                ecg_rt_op op;
                if (first[o] < 0 || !same_place(&ti, &tj) || last[in] != first[o]) continue;
                ecg_rt_op_decode(m->ops + ECG_RT_OP_RECORD * (size_t)first[o], &op);
                ok = op.type == ECG_RT_OP_ADD && (op.in0 == in || op.in1 == in);
            }
            if (!ok) return ECG_RT_REFUSE(E_TENSOR, PLAN_OVERLAP);
        }
    }
    return ECG_RT_OK;
}

#if ECG_RT_FUSE
/* Where a 1x1 CONV1D (op k) and the residual ADD after it (op k + 1) run as one pass: the ADD reads
 * the conv's output as exactly one of its inputs, nothing else reads it (not the graph output, no
 * later op), the ADD's output does not overlap the conv's input (read for every output channel
 * group while outputs are written; nothing runs between the two, so that input is still intact),
 * and the fused kernel runs this conv (ecg_rt_conv1d_pointwise_add_ok). The arena plan is the
 * file's: the conv's output keeps its bytes, simply never written. */
static void plan_fusion(ecg_rt_model *mm)
{
    uint32_t k, j;
    for (k = 0; k + 1u < mm->n_ops; ++k) {
        ecg_rt_op s, a;
        ecg_rt_tensor x, y, out;
        ecg_rt_conv_params cp;
        ecg_rt_wblock wb;
        int ok;
        ecg_rt_op_decode(mm->ops + ECG_RT_OP_RECORD * (size_t)k, &s);
        ecg_rt_op_decode(mm->ops + ECG_RT_OP_RECORD * (size_t)(k + 1u), &a);
        if (s.type != ECG_RT_OP_CONV1D || a.type != ECG_RT_OP_ADD || s.out == mm->output_tensor) continue;
        if ((a.in0 == s.out) == (a.in1 == s.out)) continue;
        ok = 1;
        for (j = k + 2u; j < mm->n_ops && ok; ++j) {
            ecg_rt_op o;
            ecg_rt_op_decode(mm->ops + ECG_RT_OP_RECORD * (size_t)j, &o);
            ok = o.in0 != s.out && !(ecg_rt_op_two_inputs(o.type) && o.in1 == s.out);
        }
        if (!ok) continue;
        ecg_rt_tensor_decode(mm->tensors + ECG_RT_TENSOR_RECORD * (size_t)s.in0, &x);
        ecg_rt_tensor_decode(mm->tensors + ECG_RT_TENSOR_RECORD * (size_t)s.out, &out);
        ecg_rt_tensor_decode(mm->tensors + ECG_RT_TENSOR_RECORD * (size_t)a.out, &y);
        if (overlap(&x, &y)) continue;
        memset(&cp, 0, sizeof cp);
        cp.kernel = s.p[0];
        cp.pad_left = s.p[2] | s.p[3]; /* no padding on either side */
        cp.groups = s.p[5];
        cp.in_ch = x.channels;
        cp.out_ch = out.channels;
        ecg_rt_wblock_decode(mm->weights + s.weight_block, &wb);
        if (!ecg_rt_conv1d_pointwise_add_ok(&cp, &wb)) continue;
        mm->fused[k >> 3] |= (uint8_t)(1u << (k & 7u));
        ++k; /* the ADD is taken */
    }
}
#endif

/* Header and section table (FORMAT.md sections 2 and 3). */
static ecg_rt_status check_header(ecg_rt_model *mm, const uint8_t *buf, size_t len,
                                  uint32_t *version, section *sec, uint32_t *rule, uint32_t *where)
{
    uint32_t file_size, n_sections, table_end, j, k;
    if (len < ECG_RT_HEADER_SIZE) return ECG_RT_REFUSE(E_TRUNCATED, FILE_TRUNCATED);
    if (buf[0] != 0x45 || buf[1] != 0x43 || buf[2] != 0x47 || buf[3] != 0x42)
        return ECG_RT_REFUSE(E_MAGIC, HEADER_MAGIC);
    *version = ecg_rt_rd16(buf + 4);
    if (*version < 1u || *version > ECG_RT_FORMAT_VERSION)
        return ECG_RT_REFUSE(E_VERSION, HEADER_VERSION);
    if (ecg_rt_rd16(buf + 6) != ECG_RT_HEADER_SIZE) return ECG_RT_REFUSE(E_HEADER, HEADER_HEADER_SIZE);
    file_size = ecg_rt_rd32(buf + 8);
    if ((uint64_t)file_size > (uint64_t)len) return ECG_RT_REFUSE(E_TRUNCATED, HEADER_FILE_SIZE);
    if ((uint64_t)file_size != (uint64_t)len) { /* a host trailer: "ECGH", then its own size */
        const uint8_t *t = buf + file_size;
        if (file_size < ECG_RT_HEADER_SIZE || (uint64_t)len - file_size < 16u || t[0] != 0x45 ||
            t[1] != 0x43 || t[2] != 0x47 || t[3] != 0x48 ||
            (uint64_t)ecg_rt_rd32(t + 4) != (uint64_t)len - file_size)
            return ECG_RT_REFUSE(E_HEADER, HEADER_FILE_SIZE);
    }
    if (ecg_rt_crc32(buf + ECG_RT_HEADER_SIZE, file_size - ECG_RT_HEADER_SIZE) != ecg_rt_rd32(buf + 12))
        return ECG_RT_REFUSE(E_CRC, HEADER_CRC32);
    mm->base = buf;
    mm->size = file_size;
    if (ecg_rt_rd32(buf + 16) != 0) return ECG_RT_REFUSE(E_HEADER, HEADER_FLAGS);
    for (j = 44; j < ECG_RT_HEADER_SIZE; ++j)
        if (buf[j] != 0) return ECG_RT_REFUSE(E_HEADER, HEADER_RESERVED);
    n_sections = ecg_rt_rd32(buf + 20);
    if (n_sections < 1u || n_sections > 16u) return ECG_RT_REFUSE(E_HEADER, HEADER_N_SECTIONS);
    if (ecg_rt_rd32(buf + 24) != ECG_RT_HEADER_SIZE)
        return ECG_RT_REFUSE(E_HEADER, HEADER_SECTION_TABLE_OFFSET);
    mm->arena_size = ecg_rt_rd32(buf + 28);
    if (mm->arena_size & 15u) return ECG_RT_REFUSE(E_HEADER, HEADER_ARENA_SIZE);
    mm->input_tensor = ecg_rt_rd16(buf + 32);
    mm->output_tensor = ecg_rt_rd16(buf + 34);
    mm->n_tensors = ecg_rt_rd16(buf + 36);
    mm->n_ops = ecg_rt_rd16(buf + 38);
    mm->n_classes = ecg_rt_rd32(buf + 40);
    if (mm->n_tensors < 1u) return ECG_RT_REFUSE(E_HEADER, HEADER_N_TENSORS);
    if (mm->n_ops < 1u) return ECG_RT_REFUSE(E_HEADER, HEADER_N_OPS);
    if (mm->input_tensor >= mm->n_tensors) return ECG_RT_REFUSE(E_HEADER, HEADER_INPUT_TENSOR);
    if (mm->output_tensor >= mm->n_tensors || mm->input_tensor == mm->output_tensor)
        return ECG_RT_REFUSE(E_HEADER, HEADER_OUTPUT_TENSOR);

    /* Section table: the four types exactly once, aligned, inside the file, disjoint. */
    table_end = ECG_RT_HEADER_SIZE + ECG_RT_SECTION_ENTRY * n_sections;
    if (table_end > file_size) return ECG_RT_REFUSE(E_SECTION, SECTION_TABLE);
    for (j = 0; j < n_sections; ++j) {
        const uint8_t *e = buf + ECG_RT_HEADER_SIZE + ECG_RT_SECTION_ENTRY * j;
        const uint32_t type = ecg_rt_rd32(e);
        section *s;
        *where = j;
        if (type < ECG_RT_SEC_META || type > ECG_RT_SEC_WEIGHTS)
            return ECG_RT_REFUSE(E_SECTION, SECTION_TYPE);
        s = &sec[type];
        if (s->present) return ECG_RT_REFUSE(E_SECTION, SECTION_DUPLICATE);
        s->present = 1;
        s->entry = j;
        s->offset = ecg_rt_rd32(e + 4);
        s->size = ecg_rt_rd32(e + 8);
        s->count = ecg_rt_rd32(e + 12);
        if (s->offset & 15u) return ECG_RT_REFUSE(E_SECTION, SECTION_ALIGN);
        if (s->offset < table_end) return ECG_RT_REFUSE(E_SECTION, SECTION_OFFSET);
        if ((uint64_t)s->offset + s->size > file_size) return ECG_RT_REFUSE(E_SECTION, SECTION_BOUNDS);
    }
    *where = ECG_RT_NO_INDEX;
    for (j = ECG_RT_SEC_META; j <= ECG_RT_SEC_WEIGHTS; ++j)
        if (!sec[j].present) return ECG_RT_REFUSE(E_SECTION, SECTION_MISSING);
    for (j = ECG_RT_SEC_META; j <= ECG_RT_SEC_WEIGHTS; ++j)
        for (k = j + 1u; k <= ECG_RT_SEC_WEIGHTS; ++k)
            if (sec[j].offset < sec[k].offset + sec[k].size &&
                sec[k].offset < sec[j].offset + sec[j].size)
                return ECG_RT_REFUSE(E_SECTION, SECTION_OVERLAP);
    *where = sec[ECG_RT_SEC_TENSORS].entry;
    if (sec[ECG_RT_SEC_TENSORS].count != mm->n_tensors ||
        sec[ECG_RT_SEC_TENSORS].size != ECG_RT_TENSOR_RECORD * mm->n_tensors)
        return ECG_RT_REFUSE(E_SECTION, SECTION_COUNT);
    *where = sec[ECG_RT_SEC_OPS].entry;
    if (sec[ECG_RT_SEC_OPS].count != mm->n_ops ||
        sec[ECG_RT_SEC_OPS].size != ECG_RT_OP_RECORD * mm->n_ops)
        return ECG_RT_REFUSE(E_SECTION, SECTION_COUNT);
    *where = ECG_RT_NO_INDEX;
    /* A runtime capacity, not a format rule (the Python reader has none): checked once the
     * counts agree, so a miscounted file is named for its count on both sides. */
    if (mm->n_tensors > ECG_RT_MAX_TENSORS) return ECG_RT_REFUSE(E_LIMIT, HEADER_N_TENSORS);
    if (mm->n_ops > ECG_RT_MAX_OPS) return ECG_RT_REFUSE(E_LIMIT, HEADER_N_OPS);
    return ECG_RT_OK;
}

/* Tensors: shapes, zero points, arena ranges, flags. */
static ecg_rt_status check_tensors(ecg_rt_model *mm, uint32_t *rule, uint32_t *where)
{
    uint32_t j;
    ecg_rt_tensor t;
    for (j = 0; j < mm->n_tensors; ++j) {
        const uint32_t want_flags =
            (j == mm->input_tensor ? 1u : 0u) | (j == mm->output_tensor ? 2u : 0u);
        ecg_rt_tensor_decode(mm->tensors + ECG_RT_TENSOR_RECORD * j, &t);
        *where = j;
        if (t.len < 1u || t.channels < 1u) return ECG_RT_REFUSE(E_TENSOR, TENSOR_SHAPE);
        if ((uint64_t)t.len * t.channels > ECG_RT_MAX_ELEMS)
            return ECG_RT_REFUSE(E_TENSOR, TENSOR_ELEMENTS);
        if (t.size_bytes != t.len * t.channels) return ECG_RT_REFUSE(E_TENSOR, TENSOR_SIZE_BYTES);
        if (t.zero_point < -128 || t.zero_point > 127) return ECG_RT_REFUSE(E_TENSOR, TENSOR_ZERO_POINT);
        if (t.arena_offset & 3u) return ECG_RT_REFUSE(E_TENSOR, TENSOR_ARENA_OFFSET);
        if ((uint64_t)t.arena_offset + t.size_bytes > mm->arena_size)
            return ECG_RT_REFUSE(E_TENSOR, TENSOR_ARENA_RANGE);
        if (t.flags != want_flags) return ECG_RT_REFUSE(E_TENSOR, TENSOR_FLAGS);
        if (ecg_rt_rd32(mm->tensors + ECG_RT_TENSOR_RECORD * j + 28u) != 0)
            return ECG_RT_REFUSE(E_TENSOR, TENSOR_RESERVED);
    }
    *where = ECG_RT_NO_INDEX;
    ecg_rt_tensor_decode(mm->tensors + ECG_RT_TENSOR_RECORD * (size_t)mm->input_tensor, &t);
    mm->input_len = t.len;
    mm->input_channels = t.channels;
    ecg_rt_tensor_decode(mm->tensors + ECG_RT_TENSOR_RECORD * (size_t)mm->output_tensor, &t);
    if (mm->n_classes != t.size_bytes) return ECG_RT_REFUSE(E_HEADER, HEADER_N_CLASSES);
    return ECG_RT_OK;
}

static ecg_rt_status load(ecg_rt_model *mm, const uint8_t *buf, size_t len, uint32_t *rule,
                          uint32_t *where)
{
    section sec[5];
    uint32_t j, n_blocks = 0, version = 0;
    uint8_t defined[(ECG_RT_MAX_TENSORS + 7) / 8];
    ecg_rt_status st;

    memset(sec, 0, sizeof sec);
    if ((st = check_header(mm, buf, len, &version, sec, rule, where)) != ECG_RT_OK) return st;
    st = check_meta(buf + sec[ECG_RT_SEC_META].offset, sec[ECG_RT_SEC_META].size,
                    sec[ECG_RT_SEC_META].count, rule);
    if (st != ECG_RT_OK) return st;
    mm->tensors = buf + sec[ECG_RT_SEC_TENSORS].offset;
    mm->ops = buf + sec[ECG_RT_SEC_OPS].offset;
    mm->weights = buf + sec[ECG_RT_SEC_WEIGHTS].offset;
    mm->weights_size = sec[ECG_RT_SEC_WEIGHTS].size;
    if ((st = check_tensors(mm, rule, where)) != ECG_RT_OK) return st;

    /* Ops, in order: every input already produced (or the graph input), each output once. */
    memset(defined, 0, sizeof defined);
    defined[mm->input_tensor >> 3] |= (uint8_t)(1u << (mm->input_tensor & 7u));
    for (j = 0; j < mm->n_ops; ++j) {
        ecg_rt_op op;
        ecg_rt_op_decode(mm->ops + ECG_RT_OP_RECORD * j, &op);
        *where = j;
        if ((st = check_op(mm, &op, version, defined, &n_blocks, rule)) != ECG_RT_OK) return st;
        defined[op.out >> 3] |= (uint8_t)(1u << (op.out & 7u));
    }
    *where = ECG_RT_NO_INDEX;
    if (!is_set(defined, mm->output_tensor)) return ECG_RT_REFUSE(E_OP, HEADER_OUTPUT_TENSOR);
    *where = sec[ECG_RT_SEC_WEIGHTS].entry;
    if (sec[ECG_RT_SEC_WEIGHTS].count != n_blocks) return ECG_RT_REFUSE(E_SECTION, SECTION_COUNT);
    *where = ECG_RT_NO_INDEX;
    if ((st = check_blocks_disjoint(mm, rule)) != ECG_RT_OK) return st;
    if ((st = check_outputs(mm, rule)) != ECG_RT_OK) return st;
    if ((st = check_plan(mm, rule)) != ECG_RT_OK) return st;
#if ECG_RT_FUSE
    plan_fusion(mm);
#endif
    return ECG_RT_OK;
}

ecg_rt_status ecg_rt_load_ex(ecg_rt_model *m, const uint8_t *buf, size_t len, ecg_rt_refusal *why)
{
    ecg_rt_model mm;
    ecg_rt_status st;
    uint32_t rule = ECG_RT_RULE_NONE, where = ECG_RT_NO_INDEX;

    if (m) memset(m, 0, sizeof *m);
    if (!m || !buf) {
        st = ECG_RT_E_NULL;
    } else {
        memset(&mm, 0, sizeof mm);
        st = load(&mm, buf, len, &rule, &where);
        if (st == ECG_RT_OK) *m = mm;
    }
    if (why) {
        why->status = st;
        why->rule = st == ECG_RT_OK ? (uint32_t)ECG_RT_RULE_NONE : rule;
        why->index = st == ECG_RT_OK ? ECG_RT_NO_INDEX : where;
    }
    return st;
}

ecg_rt_status ecg_rt_load(ecg_rt_model *m, const uint8_t *buf, size_t len)
{
    return ecg_rt_load_ex(m, buf, len, 0);
}

ecg_rt_status ecg_rt_arena_size(const ecg_rt_model *m, size_t *out_bytes)
{
    if (!m || !out_bytes) return ECG_RT_E_NULL;
    if (!m->base) return ECG_RT_E_NULL;
    *out_bytes = m->arena_size;
    return ECG_RT_OK;
}
