/* The streaming API (ecg_edge_rt_stream.h): raw frames -> offset/scale -> linear resampler ->
 * biquad cascade -> ring of the last `window` samples at fs -> every `hop` samples one window is
 * quantized (window_quantize_s8.c) and run (ecg_rt_invoke). No malloc; state is fixed-size. */
#include "ecg_rt_internal.h"
#include "ecg_edge_rt_stream.h"

#include <string.h>

#define ECG_RT_SAT24 ((1 << 24) - 1)

static uint32_t gcd_u32(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

ecg_rt_status ecg_rt_resample_factors(uint32_t fs, uint32_t adc_fs, uint32_t *up, uint32_t *down)
{
    uint32_t g;
    if (!up || !down) return ECG_RT_E_NULL;
    if (fs < 1u || adc_fs < 1u) return ECG_RT_E_RATE;
    g = gcd_u32(fs, adc_fs);
    *up = fs / g;
    *down = adc_fs / g;
    if (*up > ECG_RT_STREAM_MAX_UP || *down > 2u * *up || *up > 64u * (uint64_t)*down) return ECG_RT_E_RATE;
    return ECG_RT_OK;
}

ecg_rt_status ecg_rt_stream_work_size(const ecg_rt_model *m, size_t *bytes)
{
    size_t n;
    if (!m || !bytes) return ECG_RT_E_NULL;
    n = (size_t)m->input_len * m->input_channels;
    *bytes = 4u * n + ((n + 3u) & ~(size_t)3u);
    return ECG_RT_OK;
}

ecg_rt_status ecg_rt_stream_init(ecg_rt_stream *s, const ecg_rt_model *m, uint32_t adc_fs, uint32_t hop,
                                 ecg_rt_sample_type type, uint8_t *work, size_t work_len,
                                 uint8_t *arena, size_t arena_len)
{
    size_t need;
    ecg_rt_status st;
    if (!s || !m || !work || !arena) return ECG_RT_E_NULL;
    if (type != ECG_RT_SAMPLE_S16 && type != ECG_RT_SAMPLE_S32) return ECG_RT_E_SAMPLE_TYPE;
    memset(s, 0, sizeof *s);
    if ((st = ecg_rt_pp_from_model(m, &s->pp)) != ECG_RT_OK) return st;
    if (adc_fs) s->pp.adc_fs = adc_fs;
    if (hop) s->pp.hop = hop;
    if ((st = ecg_rt_resample_factors(s->pp.fs, s->pp.adc_fs, &s->up, &s->down)) != ECG_RT_OK) return st;
    if ((st = ecg_rt_stream_work_size(m, &need)) != ECG_RT_OK) return st;
    if (work_len < need) return ECG_RT_E_SIZE;
    if (((uintptr_t)work & 3u) || ((uintptr_t)arena & 3u)) return ECG_RT_E_ALIGNMENT;
    if (arena_len < m->arena_size) return ECG_RT_E_ARENA_TOO_SMALL;
    s->model = m;
    s->type = type;
    s->ring = (int32_t *)(void *)work;
    s->input = (int8_t *)(work + 4u * (size_t)s->pp.window * s->pp.leads);
    s->arena = arena;
    s->arena_len = arena_len;
    s->ahead = 2u; /* the first output sits on the first input, one ahead of "newest - 1" */
    s->until_ready = s->pp.window;
    return ECG_RT_OK;
}

/* The next output can be computed from prev/cur: at phase 0 it is cur (ahead 1); otherwise it
 * lies between prev and cur (ahead 0). */
static int can_emit(const ecg_rt_stream *s)
{
    return s->started && (s->phase == 0u ? s->ahead <= 1u : s->ahead == 0u);
}

static void emit(ecg_rt_stream *s)
{
    uint32_t c, j, L = s->pp.leads;
    int32_t *dst = s->ring + (size_t)s->pos * L;
    for (c = 0; c < L; ++c) {
        int32_t y;
        if (s->phase == 0u) y = s->ahead == 1u ? s->cur[c] : s->prev[c];
        else y = ecg_rt_resample_linear_s32(s->prev[c], s->cur[c], s->phase, s->up);
        for (j = 0; j < s->pp.n_sections; ++j) y = ecg_rt_biquad_df1_s32(s->pp.sos[j], s->state[c][j], y);
        dst[c] = y;
    }
    if (++s->pos == s->pp.window) s->pos = 0;
    if (s->filled < s->pp.window) ++s->filled;
    if (--s->until_ready == 0u) {
        s->ready = 1u;
        s->until_ready = s->pp.hop;
    }
    s->phase += s->down;
    while (s->phase >= s->up) {
        s->phase -= s->up;
        ++s->ahead;
    }
}

static int32_t to_internal(int64_t v)
{
    if (v > ECG_RT_SAT24) return ECG_RT_SAT24;
    if (v < -ECG_RT_SAT24) return -ECG_RT_SAT24;
    return (int32_t)v;
}

ecg_rt_status ecg_rt_stream_push(ecg_rt_stream *s, const void *samples, ecg_rt_sample_type type,
                                 size_t n, size_t *consumed)
{
    size_t used = 0;
    uint32_t c, L;
    if (!s || !consumed || (!samples && n)) return ECG_RT_E_NULL;
    *consumed = 0;
    if (!s->model) return ECG_RT_E_STREAM_STATE;
    if (type != s->type) return ECG_RT_E_SAMPLE_TYPE;
    if (s->ready) return n ? ECG_RT_E_STREAM_STATE : ECG_RT_OK;
    L = s->pp.leads;
    while (!s->ready) {
        if (can_emit(s)) {
            emit(s);
            continue;
        }
        if (used == n) break;
        for (c = 0; c < L; ++c) {
            int64_t x = type == ECG_RT_SAMPLE_S16 ? (int64_t)((const int16_t *)samples)[used * L + c]
                                                   : (int64_t)((const int32_t *)samples)[used * L + c];
            if (!s->started) s->s0[c] = (int32_t)x;
            s->prev[c] = s->cur[c];
            /* a left shift of a negative value is undefined in C99: multiply instead */
            s->cur[c] = to_internal((x - s->s0[c]) * (type == ECG_RT_SAMPLE_S16 ? 256 : 1));
        }
        s->started = 1u;
        --s->ahead;
        ++used;
    }
    *consumed = used;
    return ECG_RT_OK;
}

ecg_rt_status ecg_rt_stream_ready(const ecg_rt_stream *s, uint32_t *ready)
{
    if (!s || !ready) return ECG_RT_E_NULL;
    *ready = s->ready;
    return ECG_RT_OK;
}

ecg_rt_status ecg_rt_stream_infer(ecg_rt_stream *s, int8_t *logits, size_t logits_len, uint32_t *window_index)
{
    uint32_t c, N, L;
    ecg_rt_status st;
    if (!s || !logits) return ECG_RT_E_NULL;
    if (!s->model || !s->ready) return ECG_RT_E_STREAM_STATE;
    N = s->pp.window;
    L = s->pp.leads;
    for (c = 0; c < L; ++c) {
        st = ecg_rt_window_quantize_s8(s->ring + c, N, L, s->pos, s->pp.input_mult, s->pp.input_shift,
                                       s->pp.zero_point, s->input + c);
        if (st != ECG_RT_OK) return st;
    }
    st = ecg_rt_invoke(s->model, s->arena, s->arena_len, s->input, (size_t)N * L, logits, logits_len);
    if (st != ECG_RT_OK) return st;
    if (window_index) *window_index = s->windows;
    ++s->windows;
    s->ready = 0u;
    return ECG_RT_OK;
}
