#include "semihost.h"

static int semi_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int)r0;
}

void semi_write0(const char *s) { (void)semi_call(SEMI_SYS_WRITE0, s); }

void semi_exit(uint32_t code)
{
    /* SYS_EXIT_EXTENDED takes a {reason, subcode} block even on 32-bit ARM, so the subcode
     * (the runtime status) becomes QEMU's exit status. */
    static uint32_t block[2];
    block[0] = SEMI_ADP_STOPPED_APPLICATION_EXIT;
    block[1] = code;
    (void)semi_call(SEMI_SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

void line_reset(semi_line *l) { l->len = 0; }

static void line_flush(semi_line *l)
{
    l->buf[l->len] = '\0';
    semi_write0(l->buf);
    l->len = 0;
}

static void line_char(semi_line *l, char c)
{
    if (l->len + 2 >= sizeof(l->buf)) {
        line_flush(l);
    }
    l->buf[l->len++] = c;
}

void line_str(semi_line *l, const char *s)
{
    while (*s) {
        line_char(l, *s++);
    }
}

void line_u32(semi_line *l, uint32_t v)
{
    char tmp[11];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) {
        line_char(l, tmp[--n]);
    }
}

void line_hex8(semi_line *l, uint8_t v)
{
    static const char hex[] = "0123456789abcdef";
    line_char(l, hex[v >> 4]);
    line_char(l, hex[v & 15u]);
}

void line_end(semi_line *l)
{
    line_char(l, '\n');
    line_flush(l);
}
