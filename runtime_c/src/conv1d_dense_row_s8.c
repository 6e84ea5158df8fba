/* Host path for one output channel of a CONV1D with contiguous windows (groups = 1,
 * dilation = 1; pointwise too) whose channel is mostly non-zero: the channel's decoded levels
 * are placed once into an int16 row of `span` entries on the stack (one channel, never the
 * layer) and every interior window is a plain dot product over span contiguous input bytes,
 * accumulated in 16 independent lanes that compilers vectorize (x86-64 SSE2 at -O2). Against
 * the zero-skipping offset gather of ecg_rt_sweep_inside it is faster from about 30% non-zero
 * (host wall time, default ResNet1D at 4-bit and 20/30/40/50/100% non-zero; the same break-even
 * measured for the SMLAD path on Cortex-M4), hence ECG_RT_DENSE_ROW_PERCENT = 30;
 * -DECG_RT_DENSE_ROW_PERCENT=101 turns it off (pure zero skipping).
 * Border windows use the zero-skipping gather. Not built into Cortex-M DSP firmware, which has
 * its own SMLAD path (ecg_rt_dsp.h). Integer sums: bit-exact with every other path. */
#include "ecg_rt_internal.h"

static int32_t dot_lanes(const int16_t *w, const int8_t *x, uint32_t span, int32_t acc)
{
    int32_t lane[16];
    uint32_t b, k;
    const uint32_t nb = span / 16u;
    for (k = 0; k < 16u; ++k) lane[k] = 0;
    for (b = 0; b < nb; ++b, w += 16, x += 16)
        for (k = 0; k < 16u; ++k) lane[k] += (int32_t)w[k] * (int32_t)x[k];
    for (k = 0; k < span % 16u; ++k) acc += (int32_t)w[k] * (int32_t)x[k];
    for (k = 0; k < 16u; ++k) acc += lane[k];
    return acc;
}

ecg_rt_status ecg_rt_conv1d_dense_row_s8(const ecg_rt_conv_params *p, const int32_t *xoff,
                                         const int8_t *val, uint32_t n, uint32_t span,
                                         int32_t bias, int32_t mult, uint32_t shift, uint32_t lo,
                                         uint32_t hi, const int8_t *x, int8_t *yc)
{
    int16_t w[ECG_RT_WCHUNK];
    uint32_t j, t;
    if (!p || !xoff || !val || !x || !yc) return ECG_RT_E_NULL;
    if (span > ECG_RT_WCHUNK || p->groups != 1u || p->dilation != 1u) return ECG_RT_E_OP;
    for (j = 0; j < span; ++j) w[j] = 0;
    for (j = 0; j < n; ++j) w[xoff[j]] = val[j]; /* groups 1, dilation 1: xoff is the position */
    for (t = 0; t < p->out_len; ++t) {
        const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
        const int32_t acc = (t >= lo && t < hi)
            ? dot_lanes(w, x + (size_t)start * p->in_ch, span, bias)
            : ecg_rt_dot_border(bias, x, start, p->in_len, p->in_ch, 1u, p->zp_in, xoff, val, n);
        yc[(size_t)t * p->out_ch] = ecg_rt_requantize(acc, mult, shift, p->zp_out, p->act_min,
                                                      p->act_max);
    }
    return ECG_RT_OK;
}
