/* libFuzzer harness over ecg_rt_load + ecg_rt_invoke (clang -fsanitize=fuzzer,address,undefined).
 *
 * Input layout: [ctrl][model bytes (file_size from its header, or everything)][input tail].
 *   ctrl bit 0: recompute the CRC before loading, so mutations reach the deeper checks;
 *   ctrl bit 1: give invoke an arena 16 bytes too small (must be refused, never a crash);
 *   ctrl bit 2: misalign the arena by 1 byte (must be refused).
 * A refused model is fine; a crash, sanitizer report or hang is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ecg_edge_rt.h"

uint32_t ecg_rt_crc32(const uint8_t *p, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARENA (256u * 1024u)

/* Per-status counts of loads and invokes (printed by the standalone driver). */
unsigned long long fuzz_load_status[16], fuzz_invoked_ok;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t ctrl, *model, *arena_mem, *arena;
    size_t model_len, tail_len, in_len, arena_len;
    ecg_rt_model m;
    ecg_rt_status st;
    int8_t *input, logits[256];
    uint32_t idx;

    if (size < 1) return 0;
    ctrl = data[0];
    data++;
    size--;
    model_len = size;
    if (size >= 12) {
        uint32_t fs = (uint32_t)data[8] | ((uint32_t)data[9] << 8) | ((uint32_t)data[10] << 16) |
                      ((uint32_t)data[11] << 24);
        if (fs >= 64 && fs <= size) model_len = fs;
    }
    model = (uint8_t *)malloc(model_len ? model_len : 1);
    if (!model) return 0;
    memcpy(model, data, model_len);
    if ((ctrl & 1u) && model_len >= 64) {
        uint32_t crc = ecg_rt_crc32(model + 64, model_len - 64);
        model[12] = (uint8_t)crc; model[13] = (uint8_t)(crc >> 8);
        model[14] = (uint8_t)(crc >> 16); model[15] = (uint8_t)(crc >> 24);
    }
    st = ecg_rt_load(&m, model, model_len);
    fuzz_load_status[(unsigned)st & 15u]++;
    if (st != ECG_RT_OK || m.arena_size > MAX_ARENA || m.n_classes > sizeof logits) {
        (void)ecg_rt_status_str(st);
        free(model);
        return 0;
    }
    in_len = (size_t)m.input_len * m.input_channels;
    input = (int8_t *)calloc(in_len ? in_len : 1, 1);
    tail_len = size - model_len;
    if (input && tail_len) memcpy(input, data + model_len, tail_len < in_len ? tail_len : in_len);
    arena_len = m.arena_size;
    if ((ctrl & 2u) && arena_len >= 16) arena_len -= 16;
    /* An exactly sized heap arena, so ASan catches any byte past it. */
    arena_mem = (uint8_t *)malloc(arena_len + 4u);
    if (input && arena_mem) {
        arena = (ctrl & 4u) ? arena_mem + 1 : arena_mem;
        st = ecg_rt_invoke(&m, arena, arena_len, input, in_len, logits, m.n_classes);
        if (st == ECG_RT_OK) {
            fuzz_invoked_ok++;
            if ((ctrl & 6u) && !((ctrl & 2u) && m.arena_size < 16)) abort(); /* must be refused */
            (void)ecg_rt_argmax(logits, m.n_classes, &idx);
        } else if (!(ctrl & 6u)) {
            abort(); /* a loaded model with a correct arena must run */
        }
    }
    free(arena_mem);
    free(input);
    free(model);
    return 0;
}
