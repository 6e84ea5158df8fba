/* memcpy/memset for a build with no C library at all (-DECG_RT_FREESTANDING). A hosted build,
 * or a firmware linked against newlib, takes them from the C library and this file is empty. */
#include "ecg_rt_internal.h"

#ifdef ECG_RT_FREESTANDING
void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = (uint8_t *)dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ecg_rt_mem_unused;
#endif
