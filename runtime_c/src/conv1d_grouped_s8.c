/* CONV1D with G groups (1 < G, G divides C_in and C_out; depthwise has its own kernel):
 * output channel c reads the C_in/G input channels of its group g_c = c / (C_out/G). A
 * channel's non-zero weights are decoded once (the cursor adds the group's channel offset to
 * every input offset) and swept over the output positions; border windows read the zero
 * point. Channels with more than ECG_RT_WCHUNK non-zeros are re-decoded per position. */
#include "ecg_rt_transformer.h"

ecg_rt_status ecg_rt_conv1d_grouped_s8(const ecg_rt_conv_params *p, const ecg_rt_wblock *wb,
                                       const int8_t *x, int8_t *y)
{
    int32_t xoff[ECG_RT_WCHUNK];
    int8_t val[ECG_RT_WCHUNK];
    ecg_rt_wcursor cur, saved;
    uint32_t c, t, cin_g, cout_g;
    const int64_t reach = (int64_t)(p->kernel - 1u) * p->dilation;

    if (!p || !wb || !x || !y) return ECG_RT_E_NULL;
    if (p->groups < 1u || p->in_ch % p->groups || p->out_ch % p->groups) return ECG_RT_E_OP;
    cin_g = p->in_ch / p->groups;
    cout_g = p->out_ch / p->groups;
    ecg_rt_wcursor_init(&cur, wb, cin_g, p->dilation * p->in_ch);
    for (c = 0; c < p->out_ch; ++c) {
        const ecg_rt_chan_q q = ecg_rt_chan_q_load(wb, c);
        uint32_t n;
        int whole;
        if (c) ecg_rt_wcursor_channel(&cur, c, (c / cout_g) * cin_g); /* group 0: base 0 */
        saved = cur;
        n = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK);
        whole = n < ECG_RT_WCHUNK || ecg_rt_wcursor_done(&cur);
        for (t = 0; t < p->out_len; ++t) {
            const int32_t start = (int32_t)(t * p->stride) - (int32_t)p->pad_left;
            const int inside = start >= 0 && (int64_t)start + reach < (int64_t)p->in_len;
            int32_t acc = q.bias;
            if (whole) {
                acc = inside ? ecg_rt_dot_inside(acc, x + (size_t)start * p->in_ch, xoff, val, n)
                             : ecg_rt_dot_border(acc, x, start, p->in_len, p->in_ch, p->dilation,
                                                 p->zp_in, xoff, val, n);
            } else { /* re-decode chunk by chunk; cur ends at the channel's end */
                uint32_t m;
                cur = saved;
                while ((m = ecg_rt_wcursor_next(&cur, xoff, val, ECG_RT_WCHUNK)) != 0)
                    acc = inside ? ecg_rt_dot_inside(acc, x + (size_t)start * p->in_ch, xoff, val, m)
                                 : ecg_rt_dot_border(acc, x, start, p->in_len, p->in_ch,
                                                     p->dilation, p->zp_in, xoff, val, m);
            }
            y[(size_t)t * p->out_ch + c] =
                ecg_rt_requantize(acc, q.mult, q.shift, p->zp_out, p->act_min, p->act_max);
        }
    }
    return ECG_RT_OK;
}
