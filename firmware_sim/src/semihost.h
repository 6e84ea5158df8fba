/* Semihosting (ARM "bkpt 0xAB" on M-profile): the firmware's only channel to the host.
 * QEMU serves it with -semihosting-config enable=on,target=native. */
#ifndef ECG_SIM_SEMIHOST_H
#define ECG_SIM_SEMIHOST_H

#include <stdint.h>

#define SEMI_SYS_WRITE0 0x04
#define SEMI_SYS_EXIT_EXTENDED 0x20
#define SEMI_ADP_STOPPED_APPLICATION_EXIT 0x20026u

/* Write a NUL-terminated string to the host's stdout. */
void semi_write0(const char *s);

/* Stop the simulation; QEMU exits with `code` as its process exit status. */
void semi_exit(uint32_t code) __attribute__((noreturn));

/* A small line buffer with append helpers (no printf: keeps the image small and freestanding). */
typedef struct {
    char buf[512];
    uint32_t len;
} semi_line;

void line_reset(semi_line *l);
void line_str(semi_line *l, const char *s);
void line_u32(semi_line *l, uint32_t v);
void line_hex8(semi_line *l, uint8_t v);
/* Append "\n" and send the line (flushes early if the buffer fills). */
void line_end(semi_line *l);

#endif
