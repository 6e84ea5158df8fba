/* ecg_edge_rt_stream: raw ADC samples in, one inference per hop out (export/FORMAT.md section 13).
 *
 * The device preprocessing chain of a model.bin (its META pp.* fields): offset removal, linear
 * resampling from the ADC rate to the model rate, a causal biquad band-pass and a per-window
 * z-score quantized to the model's input scale, all in integer arithmetic (bit-exact with the
 * numpy reference ecg_edge.devicepre.reference on every target; no float, no malloc).
 *
 * RAM: sizeof(ecg_rt_stream) (filter and resampler state, fixed) + the work buffer
 * (ecg_rt_stream_work_size: window * leads * 5 bytes, the int32 ring and the int8 model input)
 * + the model's arena. Any recording length: counters wrap nowhere (countdowns, ring index).
 *
 * Use: init; loop { push(samples, n, &used); samples += used * leads; n -= used;
 *                   ready(&r); if (r) infer(logits) }  (push stops at the sample that completes a
 * window, so the ring is never overwritten before infer has read it). */
#ifndef ECG_EDGE_RT_STREAM_H
#define ECG_EDGE_RT_STREAM_H

#include "ecg_edge_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ECG_RT_PP_VERSION 1
#define ECG_RT_STREAM_MAX_LEADS 12
#define ECG_RT_STREAM_MAX_SECTIONS 8
#define ECG_RT_STREAM_MAX_WINDOW 32768u /* sum of squares of a window stays below 2^63 */
#define ECG_RT_STREAM_MAX_UP 65536u     /* resampler up factor after the gcd */

/* Sample types a stream accepts (fixed at init; every push states its type):
 * S16: 16-bit ADC codes, S32: 24-bit ADC codes in int32 (both map to the same internal scale). */
typedef enum { ECG_RT_SAMPLE_S16 = 0, ECG_RT_SAMPLE_S32 = 1 } ecg_rt_sample_type;

/* The pp.* META fields, decoded and checked. */
typedef struct {
    uint32_t fs, adc_fs, window, hop, leads, n_sections;
    int32_t sos[ECG_RT_STREAM_MAX_SECTIONS][5]; /* b0 b1 b2 a1 a2, Q29 */
    int32_t input_mult;                          /* input_mult * 2^-input_shift ~= 1/input_scale */
    uint32_t input_shift;
    int32_t zero_point;                          /* the input tensor's */
} ecg_rt_pp;

/* ECG_RT_E_NO_PREPROCESS when the model has no pp.* META, ECG_RT_E_PREPROCESS when a field is
 * missing, mistyped or out of range. */
ecg_rt_status ecg_rt_pp_from_model(const ecg_rt_model *m, ecg_rt_pp *pp);

/* (up, down) of the resampler from adc_fs to fs; ECG_RT_E_RATE unless fs/64 < adc_fs <= 2 fs
 * and up <= ECG_RT_STREAM_MAX_UP. */
ecg_rt_status ecg_rt_resample_factors(uint32_t fs, uint32_t adc_fs, uint32_t *up, uint32_t *down);

typedef struct {
    const ecg_rt_model *model;
    ecg_rt_pp pp;
    ecg_rt_sample_type type;
    uint32_t up, down, phase, ahead; /* next output at input (newest - 1 + ahead) + phase/up */
    uint32_t started;                /* first frame seen (its samples are the offsets) */
    int32_t s0[ECG_RT_STREAM_MAX_LEADS], prev[ECG_RT_STREAM_MAX_LEADS], cur[ECG_RT_STREAM_MAX_LEADS];
    int32_t state[ECG_RT_STREAM_MAX_LEADS][ECG_RT_STREAM_MAX_SECTIONS][4]; /* x1 x2 y1 y2 */
    int32_t *ring;                   /* [window][leads] filtered samples at fs */
    int8_t *input;                   /* [window][leads] the model input */
    uint8_t *arena;
    size_t arena_len;
    uint32_t pos, filled, until_ready, ready, windows;
} ecg_rt_stream;

/* Bytes of the work buffer init needs (ring + model input). */
ecg_rt_status ecg_rt_stream_work_size(const ecg_rt_model *m, size_t *bytes);

/* adc_fs 0: pp.adc_fs; hop 0: pp.hop. work: >= work_size bytes, 4-byte aligned; arena as for
 * ecg_rt_invoke. The model must outlive the stream. */
ecg_rt_status ecg_rt_stream_init(ecg_rt_stream *s, const ecg_rt_model *m, uint32_t adc_fs, uint32_t hop,
                                 ecg_rt_sample_type type, uint8_t *work, size_t work_len,
                                 uint8_t *arena, size_t arena_len);

/* Push n frames (each `leads` interleaved samples of `type`); *consumed says how many were taken
 * (fewer than n when a window became ready). ECG_RT_E_SAMPLE_TYPE when type differs from init's,
 * ECG_RT_E_STREAM_STATE when a window is still waiting for infer and n > 0. */
ecg_rt_status ecg_rt_stream_push(ecg_rt_stream *s, const void *samples, ecg_rt_sample_type type,
                                 size_t n, size_t *consumed);

/* *ready = 1 when a window waits for infer. */
ecg_rt_status ecg_rt_stream_ready(const ecg_rt_stream *s, uint32_t *ready);

/* Quantize the ready window and run the model: int8 logits (n_classes); *window_index counts
 * windows from 0 (may be NULL). ECG_RT_E_STREAM_STATE when no window is ready. */
ecg_rt_status ecg_rt_stream_infer(ecg_rt_stream *s, int8_t *logits, size_t logits_len,
                                  uint32_t *window_index);

/* The chain's kernels (stream.c drives them; each is tested against the numpy reference). */
/* One DF1 biquad step, Q29: y = sat24(floor((b0 x + b1 x1 + b2 x2 - a1 y1 - a2 y2 + 2^28) / 2^29)). */
int32_t ecg_rt_biquad_df1_s32(const int32_t coef[5], int32_t st[4], int32_t x);
/* Linear interpolation: a + floor(((b - a) * w + 2^14) / 2^15), w the Q15 phase weight. */
int32_t ecg_rt_resample_linear_s32(int32_t a, int32_t b, uint32_t phase, uint32_t up);
/* Per-window z-score quantization of one lead: ring [window][stride] starting at `start`
 * (wrapping), out [window][stride]. */
ecg_rt_status ecg_rt_window_quantize_s8(const int32_t *ring, uint32_t window, uint32_t stride,
                                        uint32_t start, int32_t input_mult, uint32_t input_shift,
                                        int32_t zero_point, int8_t *out);

#ifdef __cplusplus
}
#endif
#endif /* ECG_EDGE_RT_STREAM_H */
