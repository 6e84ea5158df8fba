/* Vector table and reset handler. The FPU is enabled through CPACR before any C code runs
 * (hard-float code may touch s/d registers while copying .data or zeroing .bss). */
#include <stdint.h>

#include "semihost.h"

extern uint32_t __stack_top;
extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern int main(void);

void Reset_Handler(void) __attribute__((naked, noreturn));
void Fault_Handler(void) __attribute__((noreturn));
void start_c(void) __attribute__((noreturn, used));

#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)

/* 16 system exceptions; the firmware enables no interrupts. */
__attribute__((section(".vectors"), used)) const void *const vector_table[16] = {
    &__stack_top,      /* initial MSP */
    Reset_Handler,     /* reset */
    Fault_Handler,     /* NMI */
    Fault_Handler,     /* HardFault */
    Fault_Handler,     /* MemManage */
    Fault_Handler,     /* BusFault */
    Fault_Handler,     /* UsageFault */
    Fault_Handler,     /* SecureFault (v8-M) */
    0, 0, 0,
    Fault_Handler,     /* SVCall */
    Fault_Handler,     /* DebugMonitor */
    0,
    Fault_Handler,     /* PendSV */
    Fault_Handler,     /* SysTick */
};

void Reset_Handler(void)
{
    __asm__ volatile(
        "ldr r0, =0xE000ED88\n"   /* CPACR */
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n" /* CP10, CP11 full access (FPU, and MVE on M55) */
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
        "ldr r0, =__stack_top\n"
        "mov sp, r0\n"
        "b start_c\n");
}

void start_c(void)
{
    uint32_t *src = &__data_load;
    uint32_t *dst = &__data_start;
    while (dst < &__data_end) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start; dst < &__bss_end; ++dst) {
        *dst = 0;
    }
    semi_exit((uint32_t)main());
}

/* Any fault ends the run with a distinct exit status (>= 200) and the fault status register. */
void Fault_Handler(void)
{
    semi_line l;
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    line_reset(&l);
    line_str(&l, "ECGSIM fault exception=");
    line_u32(&l, ipsr & 0x1FFu);
    line_str(&l, " cfsr=");
    line_u32(&l, SCB_CFSR);
    line_end(&l);
    semi_exit(200u + (ipsr & 0x1Fu));
}
