/* Integer transformer kernels of format version 2 (FORMAT.md section 7, "Transformer ops"):
 * normalisation, GELU, softmax, activation x activation MATMUL and the grouped CONV1D.
 * Internal like ecg_rt_internal.h: plain pointers and shapes the loader has validated. */
#ifndef ECG_RT_TRANSFORMER_H
#define ECG_RT_TRANSFORMER_H

#include "ecg_rt_internal.h"

/* Normalised values z carry ECG_RT_NORM_FRAC fractional bits and are clamped to
 * [-ECG_RT_NORM_ZMAX, ECG_RT_NORM_ZMAX] (|z| <= 16 standard deviations). */
#define ECG_RT_NORM_FRAC 11u
#define ECG_RT_NORM_ZMAX 32768
#define ECG_RT_NORM_MAX_N (1u << 14)  /* elements normalised together: sums stay in int64 */
#define ECG_RT_NORM_MAX_BIAS (1 << 30) /* |bias| of a norm channel: z * w + bias < 2^31 */
#define ECG_RT_GELU_MAX_B (1u << 11)  /* GELU clip point b_int: |acc| < 2^31 */
#define ECG_RT_GELU_MAX_C (1u << 22)  /* GELU constant c_int */
#define ECG_RT_SOFTMAX_MAX_Q (1u << 20) /* softmax q_ln2, q_b */
#define ECG_RT_SOFTMAX_MAX_C (1u << 30) /* softmax q_c */
#define ECG_RT_SOFTMAX_MAX_SHIFT 16u    /* softmax pre-shift k */
#define ECG_RT_SOFTMAX_MAX_SEG (1u << 14)
#define ECG_RT_MATMUL_MAX_K (1u << 15) /* 255 * 255 * K < 2^31 */


/* Statistics of a set of N int8 values laid out as `rows` runs of `width` values, run r at
 * x + r * row_stride: sum, and sd = isqrt(floor(sum_i (N x_i - sum)^2 / N) + eps). */
typedef struct {
    int64_t sum;
    uint32_t n, sd;
} ecg_rt_norm_stats;
void ecg_rt_norm_stats_s8(const int8_t *x, uint32_t rows, size_t row_stride, uint32_t width,
                          uint32_t eps, ecg_rt_norm_stats *st);
/* z = sign(d) floor((|d| 2^(F+1) + sd) / (2 sd)), d = N x - sum, clamped to +-ZMAX. */
int32_t ecg_rt_norm_z(int32_t x, const ecg_rt_norm_stats *st);

/* LAYERNORM over the C channels of each time step; wb: DENSE, span 1, one level per channel:
 * out[t][c] = requantize(z * w[c] + bias[c], M[c], n[c]). Ranges: C <= 2^14, eps >= 1. */
ecg_rt_status ecg_rt_layernorm_s8(uint32_t len, uint32_t ch, uint32_t eps,
                                  const ecg_rt_wblock *wb, int32_t zp_out, int32_t act_min,
                                  int32_t act_max, const int8_t *x, int8_t *y);
/* GROUPNORM: G groups of C/G consecutive channels, each normalised over all L time steps
 * (N = L * C / G <= 2^14); affine as LAYERNORM. */
ecg_rt_status ecg_rt_groupnorm_s8(uint32_t len, uint32_t ch, uint32_t groups, uint32_t eps,
                                  const ecg_rt_wblock *wb, int32_t zp_out, int32_t act_min,
                                  int32_t act_max, const int8_t *x, int8_t *y);

/* GELU by the I-BERT second-order erf polynomial (b_int <= 2^11, 1 <= c_int <= 2^22). */
typedef struct {
    int32_t zp_in, zp_out, act_min, act_max, mult;
    uint32_t b_int, c_int, shift;
} ecg_rt_gelu_params;
int8_t ecg_rt_gelu_one_s8(const ecg_rt_gelu_params *p, int32_t q);
ecg_rt_status ecg_rt_gelu_s8(const ecg_rt_gelu_params *p, uint32_t n, const int8_t *x, int8_t *y);

/* SOFTMAX over segments of `seg` consecutive channels of each time step, I-BERT integer exp
 * (1 <= q_ln2 <= 2^20, q_b <= 2^20, 1 <= q_c <= 2^30, pre-shift k <= 16); probabilities in
 * units of 1/256. */
typedef struct {
    uint32_t seg, q_ln2, q_b, q_c, pre_shift;
    int32_t zp_out, act_min, act_max;
} ecg_rt_softmax_params;
ecg_rt_status ecg_rt_softmax_s8(const ecg_rt_softmax_params *p, uint32_t len, uint32_t ch,
                                const int8_t *x, int8_t *y);

/* MATMUL of two int8 activations split into `heads` heads (K <= 2^15). transpose_b = 1:
 * out[i][h*Lb + j] = sum_k (A[i][h*K+k] - za)(B[j][h*K+k] - zb), K = Ca/H, Cb = Ca;
 * transpose_b = 0: out[i][h*D + d] = sum_j (A[i][h*K+j] - za)(B[j][h*D+d] - zb), K = Ca/H = Lb,
 * D = Cb/H. Each sum is requantized with (M, n). */
typedef struct {
    uint32_t la, ca, lb, cb, heads, transpose_b, shift;
    int32_t zp_a, zp_b, zp_out, act_min, act_max, mult;
} ecg_rt_matmul_params;
ecg_rt_status ecg_rt_matmul_s8(const ecg_rt_matmul_params *p, const int8_t *a, const int8_t *b,
                               int8_t *y);

/* LUT (format version 3): y[j] = clamp(table[x[j] + 128], act_min, act_max), table of 256. */
ecg_rt_status ecg_rt_lut_s8(const int8_t *table, int32_t act_min, int32_t act_max, uint32_t n,
                            const int8_t *x, int8_t *y);

/* CONV1D with 1 < groups, groups dividing C_in and C_out, not depthwise (the positional conv). */
ecg_rt_status ecg_rt_conv1d_grouped_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                                       const int8_t *x, int8_t *y);

/* ---- loader side (check_transformer_op.c) ---- */
/* 1 when a file of `version` may hold op `type` (ATTENTION, 9, is reserved in every version;
 * 7..12 need version 2, LUT (13) version 3). */
int ecg_rt_op_known(uint32_t type, uint32_t version);
/* 1 for ops reading in1 (ADD, MATMUL). */
int ecg_rt_op_two_inputs(uint32_t type);
/* Validate a version-2/3 op (LAYERNORM, GELU, GROUPNORM, SOFTMAX, MATMUL, LUT): shapes, parameter
 * ranges above, unused params zero, the norm weight block (DENSE, span 1, |bias| <= 2^30), the
 * table block (DENSE 8-bit, c_out 1, span 256, K 1, bias 0, M 0, n 1).
 * in1 is decoded only for MATMUL. On a refusal *rule says which rule (ecg_rt_rule). */
ecg_rt_status ecg_rt_check_transformer_op(const ecg_rt_model *m, const ecg_rt_op *op,
                                          const ecg_rt_tensor *in0, const ecg_rt_tensor *in1,
                                          const ecg_rt_tensor *out, uint32_t *n_blocks,
                                          uint32_t *rule);

/* Interpreter side (run_transformer_op.c): run a validated version-2 op on the arena. */
ecg_rt_status ecg_rt_run_transformer_op(const ecg_rt_model *m, const ecg_rt_op *op,
                                        const ecg_rt_tensor *in0, const ecg_rt_tensor *in1,
                                        const ecg_rt_tensor *out, uint8_t *arena);

#endif /* ECG_RT_TRANSFORMER_H */
