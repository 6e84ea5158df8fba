/* Loader checks of the version-2 ops (FORMAT.md sections 6, 7 and 10): after these pass, the
 * kernels of ecg_rt_transformer.h cannot overflow an accumulator or index outside a tensor. */
#include "ecg_rt_transformer.h"

int ecg_rt_op_known(uint32_t type, uint32_t version)
{
    if (type < ECG_RT_OP_FIRST_V2) return 1;
    if (type == ECG_RT_OP_LUT) return version >= 3u;
    return version >= 2u && type <= ECG_RT_OP_LAST_V2 && type != ECG_RT_OP_RESERVED_9;
}

int ecg_rt_op_two_inputs(uint32_t type)
{
    return type == ECG_RT_OP_ADD || type == ECG_RT_OP_MATMUL;
}

static int params_zero_from(const ecg_rt_op *op, uint32_t first)
{
    uint32_t j;
    for (j = first; j < 9u; ++j)
        if (op->p[j] != 0u) return 0;
    return 1;
}

static int same_shape(const ecg_rt_tensor *a, const ecg_rt_tensor *b)
{
    return a->len == b->len && a->channels == b->channels;
}

static ecg_rt_status check_norm_block(const ecg_rt_model *m, const ecg_rt_op *op, uint32_t ch,
                                      uint32_t *rule)
{
    ecg_rt_wblock wb;
    ecg_rt_wblock_shape want;
    ecg_rt_status st;
    uint32_t c;
    want.c_out = ch;
    want.kernel = 1u;
    want.span = 1u;
    st = ecg_rt_op_block_check(m, op, &want, &wb, rule);
    if (st != ECG_RT_OK) return st;
    if (wb.encoding != ECG_RT_ENC_DENSE) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_NORM);
    for (c = 0; c < ch; ++c) {
        const int32_t b = ecg_rt_rdi32(wb.bias + 4u * (size_t)c);
        if (b > ECG_RT_NORM_MAX_BIAS || b < -ECG_RT_NORM_MAX_BIAS)
            return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_NORM);
    }
    return ECG_RT_OK;
}

/* LUT's table block: c_out 1, K 1, span 256 (checked with the block), then 8-bit DENSE with
 * bias 0, M 0, n 1. */
static ecg_rt_status check_table_block(const ecg_rt_model *m, const ecg_rt_op *op, uint32_t *rule)
{
    ecg_rt_wblock wb;
    ecg_rt_wblock_shape want;
    ecg_rt_status st;
    want.c_out = 1u;
    want.kernel = 1u;
    want.span = 256u;
    st = ecg_rt_op_block_check(m, op, &want, &wb, rule);
    if (st != ECG_RT_OK) return st;
    if (wb.bits != 8u || wb.encoding != ECG_RT_ENC_DENSE) return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_TABLE);
    if (ecg_rt_rdi32(wb.bias) != 0 || ecg_rt_rdi32(wb.mult) != 0 || wb.shift[0] != 1u)
        return ECG_RT_REFUSE(E_WEIGHTS, BLOCK_TABLE);
    return ECG_RT_OK;
}

ecg_rt_status ecg_rt_check_transformer_op(const ecg_rt_model *m, const ecg_rt_op *op,
                                          const ecg_rt_tensor *in0, const ecg_rt_tensor *in1,
                                          const ecg_rt_tensor *out, uint32_t *n_blocks,
                                          uint32_t *rule)
{
    const uint32_t *p = op->p;
    const int weighted = op->type == ECG_RT_OP_LAYERNORM || op->type == ECG_RT_OP_GROUPNORM ||
                         op->type == ECG_RT_OP_LUT;
    if (op->flags != 0u) return ECG_RT_REFUSE(E_OP, OP_FLAGS);
    switch (op->type) {
    case ECG_RT_OP_LAYERNORM:
        if (!params_zero_from(op, 1u)) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        if (!same_shape(in0, out)) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (in0->channels > ECG_RT_NORM_MAX_N) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (p[0] < 1u) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        break;
    case ECG_RT_OP_GROUPNORM:
        if (!params_zero_from(op, 2u)) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        if (!same_shape(in0, out)) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (p[0] < 1u || in0->channels % p[0]) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        if ((uint64_t)in0->len * (in0->channels / p[0]) > ECG_RT_NORM_MAX_N)
            return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (p[1] < 1u) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        break;
    case ECG_RT_OP_GELU:
        if (!params_zero_from(op, 4u)) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        if (!same_shape(in0, out)) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (p[0] > ECG_RT_GELU_MAX_B || p[1] < 1u || p[1] > ECG_RT_GELU_MAX_C ||
            p[2] > 0x7FFFFFFFu || p[3] < 1u || p[3] > 62u)
            return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        break;
    case ECG_RT_OP_SOFTMAX:
        if (!params_zero_from(op, 5u)) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        if (!same_shape(in0, out)) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (p[0] < 1u || p[0] > ECG_RT_SOFTMAX_MAX_SEG || in0->channels % p[0])
            return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        if (p[1] < 1u || p[1] > ECG_RT_SOFTMAX_MAX_Q || p[2] > ECG_RT_SOFTMAX_MAX_Q || p[3] < 1u ||
            p[3] > ECG_RT_SOFTMAX_MAX_C || p[4] > ECG_RT_SOFTMAX_MAX_SHIFT)
            return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        break;
    case ECG_RT_OP_MATMUL: {
        uint32_t h = p[0], k, n_out;
        if (!params_zero_from(op, 4u)) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        if (h < 1u || in0->channels % h || in1->channels % h) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        if (p[1] > 1u) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        k = in0->channels / h;
        if (k > ECG_RT_MATMUL_MAX_K) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (p[1]) {
            if (in1->channels != in0->channels) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
            n_out = in1->len;
        } else {
            if (in1->len != k) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
            n_out = in1->channels / h;
        }
        if (out->len != in0->len || (uint64_t)out->channels != (uint64_t)h * n_out)
            return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        if (p[2] > 0x7FFFFFFFu || p[3] < 1u || p[3] > 62u) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        break;
    }
    case ECG_RT_OP_LUT:
        if (!params_zero_from(op, 0u)) return ECG_RT_REFUSE(E_OP, OP_PARAMS);
        if (!same_shape(in0, out)) return ECG_RT_REFUSE(E_OP, OP_SHAPE);
        break;
    default:
        return ECG_RT_REFUSE(E_UNSUPPORTED_OP, OP_TYPE);
    }
    if (weighted) {
        ecg_rt_status st = op->type == ECG_RT_OP_LUT ? check_table_block(m, op, rule)
                                                     : check_norm_block(m, op, in0->channels, rule);
        if (st != ECG_RT_OK) return st;
        ++*n_blocks;
    } else if (op->weight_block != ECG_RT_NONE32 || op->weight_size != 0u) {
        return ECG_RT_REFUSE(E_OP, OP_NO_WEIGHTS);
    }
    return ECG_RT_OK;
}
