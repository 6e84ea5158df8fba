/* The interpreter: copy the input into the arena, run the ops in order, copy the logits out.
 * Only a model that ecg_rt_load accepted reaches here, so shapes and parameters are trusted;
 * what is checked is what the caller passes now (pointers, arena, buffer sizes). */
#include "ecg_rt_internal.h"
#include "ecg_rt_transformer.h"

static void conv_params(const ecg_rt_op *op, const ecg_rt_tensor *in0, const ecg_rt_tensor *out,
                        ecg_rt_conv_params *cp)
{
    const uint32_t *p = op->p;
    cp->in_len = in0->len;
    cp->in_ch = in0->channels;
    cp->out_len = out->len;
    cp->out_ch = out->channels;
    cp->kernel = p[0];
    cp->stride = p[1];
    cp->pad_left = p[2];
    cp->dilation = p[0] == 1u ? 1u : p[4]; /* with K = 1 dilation has no effect */
    cp->groups = p[5];
    cp->zp_in = in0->zero_point;
    cp->zp_out = out->zero_point;
    cp->act_min = op->act_min;
    cp->act_max = op->act_max;
    cp->add = 0;
}

/* The ADD's parameters with its input `first` (0: in0, 1: in1) as a. */
static void add_params(const ecg_rt_op *op, const ecg_rt_tensor *in0, const ecg_rt_tensor *in1,
                       const ecg_rt_tensor *out, uint32_t first, ecg_rt_add_params *q)
{
    const int32_t z0 = in0->zero_point, z1 = in1->zero_point;
    const int32_t m0 = ecg_rt_param_i32(op->p[0]), m1 = ecg_rt_param_i32(op->p[1]);
    q->zp_a = first ? z1 : z0;
    q->m_a = first ? m1 : m0;
    q->zp_b = first ? z0 : z1;
    q->m_b = first ? m0 : m1;
    q->shift = op->p[2];
    q->zp_out = out->zero_point;
    q->act_min = op->act_min;
    q->act_max = op->act_max;
}

static ecg_rt_status run_op(const ecg_rt_model *m, const ecg_rt_op *op, uint8_t *arena)
{
    ecg_rt_tensor in0, in1, out;
    const uint32_t *p = op->p;
    const int8_t *x;
    int8_t *y;

    ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)op->in0, &in0);
    ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)op->out, &out);
    x = (const int8_t *)(arena + in0.arena_offset);
    y = (int8_t *)(arena + out.arena_offset);

    switch (op->type) {
    case ECG_RT_OP_CONV1D:
    case ECG_RT_OP_LINEAR: {
        ecg_rt_wblock wb;
        ecg_rt_wblock_decode(m->weights + op->weight_block, &wb);
        if (op->type == ECG_RT_OP_LINEAR)
            return ecg_rt_linear_s8(in0.len * in0.channels, &wb, out.zero_point, op->act_min,
                                    op->act_max, x, y);
        {
            ecg_rt_conv_params cp;
            conv_params(op, &in0, &out, &cp);
            if (cp.groups > 1u && !(cp.groups == cp.in_ch && cp.groups == cp.out_ch))
                return ecg_rt_conv1d_grouped_s8(&cp, &wb, x, y);
            if (cp.groups > 1u) return ecg_rt_depthwise_conv1d_s8(&cp, &wb, x, y);
            if (cp.kernel == 1u && p[2] == 0u && p[3] == 0u)
                return ecg_rt_conv1d_pointwise_s8(&cp, &wb, x, y);
            return ecg_rt_conv1d_s8(&cp, &wb, x, y);
        }
    }
    case ECG_RT_OP_ADD: {
        ecg_rt_add_params q;
        ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)op->in1, &in1);
        add_params(op, &in0, &in1, &out, 0u, &q);
        return ecg_rt_add_s8(out.size_bytes, x, q.zp_a, q.m_a, (const int8_t *)(arena + in1.arena_offset),
                             q.zp_b, q.m_b, q.shift, q.zp_out, q.act_min, q.act_max, y);
    }
    case ECG_RT_OP_MAXPOOL1D:
    case ECG_RT_OP_AVGPOOL1D: {
        ecg_rt_pool_params pp;
        pp.in_len = in0.len;
        pp.ch = in0.channels;
        pp.out_len = out.len;
        pp.kernel = p[0];
        pp.stride = p[1];
        pp.pad_left = p[2];
        if (op->type == ECG_RT_OP_MAXPOOL1D)
            return ecg_rt_maxpool1d_s8(&pp, op->act_min, op->act_max, x, y);
        return ecg_rt_avgpool1d_s8(&pp, in0.zero_point, ecg_rt_param_i32(p[4]), p[5], out.zero_point,
                                   op->act_min, op->act_max, x, y);
    }
    case ECG_RT_OP_GLOBAL_AVGPOOL:
        return ecg_rt_global_avgpool_s8(in0.len, in0.channels, in0.zero_point, ecg_rt_param_i32(p[0]), p[1],
                                        out.zero_point, op->act_min, op->act_max, x, y);
    case ECG_RT_OP_RELU:
        return ecg_rt_relu_s8(out.size_bytes, op->act_min, op->act_max, x, y);
    case ECG_RT_OP_LAYERNORM:
    case ECG_RT_OP_GROUPNORM:
    case ECG_RT_OP_GELU:
    case ECG_RT_OP_SOFTMAX:
    case ECG_RT_OP_MATMUL:
    case ECG_RT_OP_LUT:
        if (op->type == ECG_RT_OP_MATMUL)
            ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)op->in1, &in1);
        return ecg_rt_run_transformer_op(m, op, &in0, &in1, &out, arena);
    default:
        return ECG_RT_E_UNSUPPORTED_OP;
    }
}

#if ECG_RT_FUSE
/* Op conv (a 1x1 CONV1D the loader marked in m->fused) and op add, the next one, a residual ADD
 * reading conv's output: one pass, conv's output tensor never written. Out of line (GCC, clang):
 * its locals stay off the interpreter's frame, which is on the stack under every kernel. */
#ifdef __GNUC__
__attribute__((noinline))
#endif
static ecg_rt_status run_fused(const ecg_rt_model *m, const ecg_rt_op *conv, const ecg_rt_op *add, uint8_t *arena)
{
    ecg_rt_tensor x, s, a0, a1, y;
    ecg_rt_conv_params cp;
    ecg_rt_add_params q;
    ecg_rt_wblock wb;
    const uint32_t first = add->in1 == conv->out; /* the conv feeds in1: it is a */
    ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)conv->in0, &x);
    ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)conv->out, &s);
    ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)add->in0, &a0);
    ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)add->in1, &a1);
    ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)add->out, &y);
    ecg_rt_wblock_decode(m->weights + conv->weight_block, &wb);
    conv_params(conv, &x, &s, &cp);
    add_params(add, &a0, &a1, &y, first, &q);
    return ecg_rt_conv1d_pointwise_add_s8(&cp, &wb, (const int8_t *)(arena + x.arena_offset), &q,
                                          (const int8_t *)(arena + (first ? a0 : a1).arena_offset),
                                          (int8_t *)(arena + y.arena_offset));
}
#endif

ecg_rt_status ecg_rt_invoke_traced(const ecg_rt_model *m, uint8_t *arena, size_t arena_len,
                                   const int8_t *input, size_t input_len,
                                   int8_t *logits, size_t logits_len,
                                   ecg_rt_trace_fn trace, void *user)
{
    ecg_rt_tensor t;
    uint32_t j;
    if (!m || !arena || !input || !logits) return ECG_RT_E_NULL;
    if (!m->base || !m->tensors || !m->ops) return ECG_RT_E_NULL;
    if (((uintptr_t)arena & 3u) != 0) return ECG_RT_E_ALIGNMENT;
    if (arena_len < m->arena_size) return ECG_RT_E_ARENA_TOO_SMALL;
    if (input_len != (size_t)m->input_len * m->input_channels) return ECG_RT_E_SIZE;
    if (logits_len != m->n_classes) return ECG_RT_E_SIZE;

    ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)m->input_tensor, &t);
    memcpy(arena + t.arena_offset, input, input_len);
    for (j = 0; j < m->n_ops; ++j) {
        ecg_rt_op op;
        ecg_rt_status st;
        ecg_rt_op_decode(m->ops + ECG_RT_OP_RECORD * (size_t)j, &op);
#if ECG_RT_FUSE
        if (!trace && (m->fused[j >> 3] >> (j & 7u) & 1u)) { /* traced: every op's output, unfused */
            ecg_rt_op add;
            ecg_rt_op_decode(m->ops + ECG_RT_OP_RECORD * (size_t)++j, &add);
            st = run_fused(m, &op, &add, arena);
            if (st != ECG_RT_OK) return st;
            continue;
        }
#endif
        st = run_op(m, &op, arena);
        if (st != ECG_RT_OK) return st;
        if (trace) {
            ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)op.out, &t);
            trace(user, j, op.out, (const int8_t *)(arena + t.arena_offset), t.size_bytes);
        }
    }
    ecg_rt_tensor_decode(m->tensors + ECG_RT_TENSOR_RECORD * (size_t)m->output_tensor, &t);
    memcpy(logits, arena + t.arena_offset, logits_len);
    return ECG_RT_OK;
}

ecg_rt_status ecg_rt_invoke(const ecg_rt_model *m, uint8_t *arena, size_t arena_len,
                            const int8_t *input, size_t input_len,
                            int8_t *logits, size_t logits_len)
{
    return ecg_rt_invoke_traced(m, arena, arena_len, input, input_len, logits, logits_len, 0, 0);
}
