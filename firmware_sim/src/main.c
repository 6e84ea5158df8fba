/* The measuring main: load the model QEMU placed in flash, run every input window between two
 * marker calls (the instruction-count plugin counts what executes between them), report the
 * int8 logits over semihosting, the peak stack by painting, and exit with the runtime status. */
#include <stdint.h>
#include <string.h>

#include "ecg_edge_rt.h"
#include "job.h"
#include "markers.h"
#include "semihost.h"

/* Linker-reserved regions (firmware_sim/ld/sections.ld); sizes are fixed at link time. */
extern uint8_t __model_start[], __model_end[];
extern uint8_t __arena_start[], __arena_end[];
extern uint8_t __window_start[], __window_end[];
extern uint32_t __stack_bottom[], __stack_top[];
extern uint8_t __io_start[];

#define STACK_PAINT 0xC5A5A5C5u
#define MAX_CLASSES 256u

static int8_t logits[MAX_CLASSES];

#ifdef ECG_SIM_TIMER_BASE
/* CMSDK APB timer 0: a down-counter at the board's peripheral clock. Under -icount its clock
 * follows the instruction count, so ticks / (clock * 2^shift ns) is an independent count. */
#define TIMER_CTRL (*(volatile uint32_t *)(ECG_SIM_TIMER_BASE + 0x0u))
#define TIMER_VALUE (*(volatile uint32_t *)(ECG_SIM_TIMER_BASE + 0x4u))
#define TIMER_RELOAD (*(volatile uint32_t *)(ECG_SIM_TIMER_BASE + 0x8u))
static void timer_start(void)
{
    TIMER_CTRL = 0u;
    TIMER_RELOAD = 0xFFFFFFFFu;
    TIMER_VALUE = 0xFFFFFFFFu;
    TIMER_CTRL = 1u;
}
static uint32_t timer_now(void) { return TIMER_VALUE; }
#else
static void timer_start(void) {}
static uint32_t timer_now(void) { return 0u; }
#endif

/* Paint everything below the current frame (minus a margin) with a pattern. */
__attribute__((noinline)) static void stack_paint(void)
{
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    volatile uint32_t *p = __stack_bottom;
    while ((uint32_t)p < sp - 64u) {
        *p++ = STACK_PAINT;
    }
}

/* Bytes of stack ever used: from the top down to the lowest overwritten word. */
static uint32_t stack_peak(void)
{
    const uint32_t *p = __stack_bottom;
    while (p < __stack_top && *p == STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

static uint32_t report(semi_line *l, const char *what, uint32_t status)
{
    line_reset(l);
    line_str(l, "ECGSIM error ");
    line_str(l, what);
    line_str(l, " status=");
    line_u32(l, status);
    line_end(l);
    return status;
}

/* Static, not on the stack, so the stack peak is the runtime's plus main's small frame. */
static semi_line l;

int main(void)
{
    const ecg_job_header *job = (const ecg_job_header *)(const void *)__io_start;
    const uint8_t *windows = __io_start + sizeof(ecg_job_header);
    const uint32_t model_reserve = (uint32_t)(__model_end - __model_start);
    const uint32_t arena_reserve = (uint32_t)(__arena_end - __arena_start);
    const uint32_t window_reserve = (uint32_t)(__window_end - __window_start);
    ecg_rt_model model;
    uint32_t first_error = 0u;

    if (job->magic != ECG_JOB_MAGIC || job->version != ECG_JOB_VERSION) {
        return (int)report(&l, "job header missing (magic/version)", ECG_SIM_E_JOB);
    }
    if (job->model_size > model_reserve) {
        return (int)report(&l, "model larger than the linked model region", ECG_SIM_E_MODEL_RESERVE);
    }
    ecg_rt_status st = ecg_rt_load(&model, __model_start, job->model_size);
    line_reset(&l);
    line_str(&l, "ECGSIM model status=");
    line_u32(&l, (uint32_t)st);
    if (st == ECG_RT_OK) {
        line_str(&l, " arena=");
        line_u32(&l, model.arena_size);
        line_str(&l, " classes=");
        line_u32(&l, model.n_classes);
        line_str(&l, " input=");
        line_u32(&l, model.input_len * model.input_channels);
    }
    line_end(&l);
    if (st != ECG_RT_OK) {
        return (int)st;
    }
    if (model.arena_size > arena_reserve) {
        return (int)report(&l, "model arena larger than the linked arena", ECG_SIM_E_ARENA_RESERVE);
    }
    if (job->window_bytes > window_reserve) {
        return (int)report(&l, "window larger than the linked window buffer", ECG_SIM_E_WINDOW_RESERVE);
    }
    if (model.n_classes > MAX_CLASSES) {
        return (int)report(&l, "more classes than the firmware's logits buffer", ECG_RT_E_SIZE);
    }

    stack_paint();
    uint32_t sp_at_call;
    __asm__ volatile("mov %0, sp" : "=r"(sp_at_call));
    if (job->flags & ECG_JOB_FLAG_TIMER) {
        timer_start();
    }
    for (uint32_t w = 0; w < job->n_windows; ++w) {
        memcpy(__window_start, windows + (size_t)w * job->window_bytes, job->window_bytes);
        const uint32_t t0 = timer_now();
        ecg_sim_mark_start();
        st = ecg_rt_invoke(&model, __arena_start, arena_reserve, (const int8_t *)__window_start,
                           job->window_bytes, logits, model.n_classes);
        ecg_sim_mark_end();
        const uint32_t t1 = timer_now();
        line_reset(&l);
        line_str(&l, "ECGSIM window=");
        line_u32(&l, w);
        line_str(&l, " status=");
        line_u32(&l, (uint32_t)st);
        line_str(&l, " logits=");
        for (uint32_t c = 0; st == ECG_RT_OK && c < model.n_classes; ++c) {
            line_hex8(&l, (uint8_t)logits[c]);
        }
        if (job->flags & ECG_JOB_FLAG_TIMER) {
            line_str(&l, " ticks=");
            line_u32(&l, t0 - t1);
        }
        line_end(&l);
        if (st != ECG_RT_OK && first_error == 0u) {
            first_error = (uint32_t)st;
        }
    }
    const uint32_t peak = stack_peak();
    line_reset(&l);
    line_str(&l, "ECGSIM stack_peak=");
    line_u32(&l, peak);
    line_str(&l, " stack_invoke=");
    line_u32(&l, peak - (uint32_t)((uintptr_t)__stack_top - sp_at_call));
    line_str(&l, " stack_size=");
    line_u32(&l, (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom));
    line_end(&l);
    /* An overflow corrupts whatever lies below the stack (window, arena), so it takes precedence
     * over any runtime status. The lowest 64 bytes are a guard band: a large frame may skip words. */
    for (uint32_t g = 0; g < 16u; ++g) {
        if (__stack_bottom[g] != STACK_PAINT) {
            return (int)report(&l, "stack overflow (paint consumed)", ECG_SIM_E_STACK);
        }
    }
    return (int)first_error;
}
