/* The few newlib system calls the hosted C tests need on the bare board: console output over
 * semihosting (SYS_WRITE0, in NUL-terminated chunks) and a heap in the board memory outside the
 * target's budgets (ctest.ld: __heap_start..__heap_end). Everything else is newlib's nosys stub. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "semihost.h"

extern uint8_t __heap_start[], __heap_end[];

int _write(int fd, const char *buf, int len);
void *_sbrk(ptrdiff_t incr);
int _isatty(int fd);
int _fstat(int fd, struct stat *st);

int _write(int fd, const char *buf, int len)
{
    char chunk[129];
    int done = 0;
    (void)fd;
    while (done < len) {
        int n = len - done > 128 ? 128 : len - done, j;
        for (j = 0; j < n; ++j) chunk[j] = buf[done + j];
        chunk[n] = '\0';
        semi_write0(chunk);
        done += n;
    }
    return len;
}

void *_sbrk(ptrdiff_t incr)
{
    static uint8_t *brk = __heap_start;
    uint8_t *old = brk;
    if (incr < 0 || (size_t)(__heap_end - brk) < (size_t)incr) {
        errno = ENOMEM;
        return (void *)-1;
    }
    brk += incr;
    return old;
}

int _isatty(int fd) { return fd <= 2; }

int _fstat(int fd, struct stat *st)
{
    (void)fd;
    st->st_mode = S_IFCHR;
    return 0;
}
