/* Calibration firmware for the instruction-count plugin. calib_run(n) calls the start marker,
 * runs a loop of exactly 10 instructions per iteration n times, and calls the end marker, all in
 * hand-written assembly so the compiler adds nothing in between: the plugin must report
 * 10*n + c with the same small constant c (the marker's own body and the final bl) for every n.
 * tests/sim checks this for n = 100 and 200. */
#include <stdint.h>

#include "markers.h"
#include "semihost.h"

void calib_run(uint32_t n);

__asm__(
    ".text\n"
    ".thumb\n"
    ".syntax unified\n"
    ".global calib_run\n"
    ".type calib_run, %function\n"
    ".thumb_func\n"
    "calib_run:\n"
    "    push {r4, lr}\n"
    "    mov r4, r0\n"
    "    bl ecg_sim_mark_start\n"
    "1:  subs r4, r4, #1\n"
    "    nop\n    nop\n    nop\n    nop\n    nop\n    nop\n    nop\n    nop\n"
    "    bne 1b\n"
    "    bl ecg_sim_mark_end\n"
    "    pop {r4, pc}\n"
    ".size calib_run, .-calib_run\n");

int main(void)
{
    semi_line l;
    static const uint32_t iters[2] = {100u, 200u};
    for (int i = 0; i < 2; ++i) {
        calib_run(iters[i]);
        line_reset(&l);
        line_str(&l, "ECGSIM calib iterations=");
        line_u32(&l, iters[i]);
        line_end(&l);
    }
    return 0;
}
