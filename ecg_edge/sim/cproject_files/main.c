/* Example firmware: a recorded ECG (signal_data.c, raw ADC codes) streamed through the
 * ecg_edge runtime as an ADC driver would deliver it, CHUNK frames at a time; one line per
 * window: "window <i> class <name> logits <l0> <l1> ...". Semihosting output (QEMU, or a
 * debugger); on a board, replace emit_line with your UART. Exit status = the runtime status.
 *
 * Instruction counts: ecg_sim_mark_start/end bracket every push (preprocessing: offset,
 * resampler, band-pass) and every infer (window quantization + the model), so the QEMU
 * instruction-count plugin reports them separately (one "count" line per pair). */
#include <stdint.h>

#include "ecg_config.h"
#include "ecg_edge_rt.h"
#include "ecg_edge_rt_stream.h"
#include "markers.h"
#include "semihost.h"

#ifndef CHUNK
#define CHUNK 64u /* frames per push, like a DMA half-buffer */
#endif

static uint8_t arena[ECG_ARENA_BYTES] __attribute__((aligned(16)));
static uint8_t work[ECG_WORK_BYTES] __attribute__((aligned(16)));
static ecg_rt_model model;
static ecg_rt_stream stream;

extern uint32_t __stack_bottom, __stack_top;

static void line_i32(semi_line *l, int32_t v)
{
    if (v < 0) {
        line_str(l, "-");
        line_u32(l, (uint32_t)(-(v + 1)) + 1u);
    } else {
        line_u32(l, (uint32_t)v);
    }
}

static int fail(const char *what, ecg_rt_status st)
{
    semi_line l;
    line_reset(&l);
    line_str(&l, "error ");
    line_str(&l, what);
    line_str(&l, ": ");
    line_str(&l, ecg_rt_status_str(st));
    line_end(&l);
    return (int)st;
}

/* Fill the free stack below the current frame with a pattern; the untouched part at the end
 * gives the peak stack use. */
static void paint_stack(void)
{
    uint32_t *p = &__stack_bottom;
    uint32_t here = (uint32_t)(uintptr_t)&p;
    while ((uint32_t)(uintptr_t)p + 256u < here) *p++ = 0xDEADBEEFu;
}

static uint32_t stack_peak(void)
{
    uint32_t *p = &__stack_bottom;
    while (p < &__stack_top && *p == 0xDEADBEEFu) ++p;
    return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)p);
}

int main(void)
{
    ecg_rt_status st;
    uint32_t done = 0, ready, index, c;
    int8_t logits[ECG_N_CLASSES];
    semi_line l;
    paint_stack();
    st = ecg_rt_load(&model, ecg_model, ecg_model_len);
    if (st != ECG_RT_OK) return fail("load", st);
    st = ecg_rt_stream_init(&stream, &model, ECG_ADC_FS, ECG_HOP, ECG_RT_SAMPLE_S16, work, sizeof work,
                            arena, sizeof arena);
    if (st != ECG_RT_OK) return fail("stream_init", st);
    while (done < ecg_signal_frames) {
        size_t used = 0, n = ecg_signal_frames - done;
        if (n > CHUNK) n = CHUNK;
        ecg_sim_mark_start();
        st = ecg_rt_stream_push(&stream, ecg_signal + (size_t)done * ECG_LEADS, ECG_RT_SAMPLE_S16, n, &used);
        ecg_sim_mark_end();
        if (st != ECG_RT_OK) return fail("push", st);
        done += (uint32_t)used;
        if ((st = ecg_rt_stream_ready(&stream, &ready)) != ECG_RT_OK) return fail("ready", st);
        if (!ready) continue;
        ecg_sim_mark_start();
        st = ecg_rt_stream_infer(&stream, logits, sizeof logits, &index);
        ecg_sim_mark_end();
        if (st != ECG_RT_OK) return fail("infer", st);
        {
            uint32_t best = 0;
            (void)ecg_rt_argmax(logits, ECG_N_CLASSES, &best);
            line_reset(&l);
            line_str(&l, "window ");
            line_u32(&l, index);
            line_str(&l, " class ");
            line_str(&l, ecg_class_names[best]);
            line_str(&l, " logits");
            for (c = 0; c < ECG_N_CLASSES; ++c) {
                line_str(&l, " ");
                line_i32(&l, logits[c]);
            }
            line_end(&l);
        }
    }
    line_reset(&l);
    line_str(&l, "done frames ");
    line_u32(&l, done);
    line_str(&l, " windows ");
    line_u32(&l, stream.windows);
    line_str(&l, " stack_peak ");
    line_u32(&l, stack_peak());
    line_str(&l, " static_ram ");
    line_u32(&l, (uint32_t)(sizeof arena + sizeof work + sizeof stream + sizeof model));
    line_end(&l);
    return 0;
}
