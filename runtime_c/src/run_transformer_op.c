/* Dispatch of the version-2/3 ops: op record + tensors -> kernel arguments (FORMAT.md section 6
 * gives the parameter of each p[j]). Only ops ecg_rt_load accepted get here. */
#include "ecg_rt_transformer.h"

ecg_rt_status ecg_rt_run_transformer_op(const ecg_rt_model *m, const ecg_rt_op *op,
                                        const ecg_rt_tensor *in0, const ecg_rt_tensor *in1,
                                        const ecg_rt_tensor *out, uint8_t *arena)
{
    const uint32_t *p = op->p;
    const int8_t *x = (const int8_t *)(arena + in0->arena_offset);
    int8_t *y = (int8_t *)(arena + out->arena_offset);
    switch (op->type) {
    case ECG_RT_OP_LAYERNORM:
    case ECG_RT_OP_GROUPNORM: {
        ecg_rt_wblock wb;
        ecg_rt_wblock_decode(m->weights + op->weight_block, &wb);
        if (op->type == ECG_RT_OP_LAYERNORM)
            return ecg_rt_layernorm_s8(in0->len, in0->channels, p[0], &wb, out->zero_point,
                                       op->act_min, op->act_max, x, y);
        return ecg_rt_groupnorm_s8(in0->len, in0->channels, p[0], p[1], &wb, out->zero_point,
                                   op->act_min, op->act_max, x, y);
    }
    case ECG_RT_OP_GELU: {
        ecg_rt_gelu_params gp;
        gp.zp_in = in0->zero_point;
        gp.zp_out = out->zero_point;
        gp.act_min = op->act_min;
        gp.act_max = op->act_max;
        gp.b_int = p[0];
        gp.c_int = p[1];
        gp.mult = ecg_rt_param_i32(p[2]);
        gp.shift = p[3];
        return ecg_rt_gelu_s8(&gp, out->size_bytes, x, y);
    }
    case ECG_RT_OP_SOFTMAX: {
        ecg_rt_softmax_params sp;
        sp.seg = p[0];
        sp.q_ln2 = p[1];
        sp.q_b = p[2];
        sp.q_c = p[3];
        sp.pre_shift = p[4];
        sp.zp_out = out->zero_point;
        sp.act_min = op->act_min;
        sp.act_max = op->act_max;
        return ecg_rt_softmax_s8(&sp, in0->len, in0->channels, x, y);
    }
    case ECG_RT_OP_MATMUL: {
        ecg_rt_matmul_params mp;
        mp.la = in0->len;
        mp.ca = in0->channels;
        mp.lb = in1->len;
        mp.cb = in1->channels;
        mp.heads = p[0];
        mp.transpose_b = p[1];
        mp.mult = ecg_rt_param_i32(p[2]);
        mp.shift = p[3];
        mp.zp_a = in0->zero_point;
        mp.zp_b = in1->zero_point;
        mp.zp_out = out->zero_point;
        mp.act_min = op->act_min;
        mp.act_max = op->act_max;
        return ecg_rt_matmul_s8(&mp, x, (const int8_t *)(arena + in1->arena_offset), y);
    }
    case ECG_RT_OP_LUT: {
        ecg_rt_wblock wb;
        ecg_rt_wblock_decode(m->weights + op->weight_block, &wb);
        return ecg_rt_lut_s8((const int8_t *)wb.values, op->act_min, op->act_max, out->size_bytes, x, y);
    }
    default:
        return ECG_RT_E_UNSUPPORTED_OP;
    }
}
