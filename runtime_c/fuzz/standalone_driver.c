/* A mutation driver for fuzz_load_invoke.c where libFuzzer is not available (gcc, or clang
 * without its fuzzer runtime): built with -fsanitize=address,undefined, it loads the seeds,
 * applies random structure-aware mutations (bit flips, interesting u8/u16/u32 values at any
 * offset, chunk copies, inserts, deletes, truncation) and runs each through the same harness
 * for a set time. Not coverage-guided; the CRC is re-fixed by the harness (ctrl bit 0).
 * On a sanitizer report the input is written to crash-input.bin. Usage:
 *   fuzz_standalone SECONDS SEED_DIR [SEED_DIR...] */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sanitizer/common_interface_defs.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern unsigned long long fuzz_load_status[16], fuzz_invoked_ok;

#define MAX_SEEDS 512
#define MAX_LEN (1 << 17)
static uint8_t *seeds[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS];
static int n_seeds;
static uint8_t cur[MAX_LEN];
static size_t cur_len;
static uint64_t rs = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rs ^= rs >> 12; rs ^= rs << 25; rs ^= rs >> 27;
    return (uint32_t)((rs * 2685821657736338717ull) >> 32);
}

static void dump_input(void)
{
    FILE *f = fopen("crash-input.bin", "wb");
    if (f) { fwrite(cur, 1, cur_len, f); fclose(f); }
    fprintf(stderr, "fuzz: crashing input written to crash-input.bin (%zu bytes)\n", cur_len);
}

static void load_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) return;
    while ((e = readdir(d)) && n_seeds < MAX_SEEDS) {
        char path[1024];
        FILE *f;
        long n;
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        f = fopen(path, "rb");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (n > 0 && n < MAX_LEN) {
            seeds[n_seeds] = malloc((size_t)n);
            if (seeds[n_seeds] && fread(seeds[n_seeds], 1, (size_t)n, f) == (size_t)n)
                seed_len[n_seeds++] = (size_t)n;
        }
        fclose(f);
    }
    closedir(d);
}

static const uint32_t interesting[] = {0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 62, 63, 64, 127, 128,
                                       255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0xFFFFFF,
                                       0x1000000, 0x7FFFFFFF, 0x80000000u, 0xFFFFFFF0u, 0xFFFFFFFFu};

static void mutate(void)
{
    int k, n = 1 + (int)(rnd() % 4);
    for (k = 0; k < n && cur_len > 1; ++k) {
        size_t at = 1 + rnd() % (cur_len - 1);
        uint32_t v = interesting[rnd() % (sizeof interesting / sizeof interesting[0])];
        switch (rnd() % 10) {
        case 0: cur[at] ^= (uint8_t)(1u << (rnd() % 8)); break;
        case 1: cur[at] = (uint8_t)rnd(); break;
        case 2: cur[at] = (uint8_t)v; break;
        case 3: /* a u16 or u32 field at a 2/4-aligned offset (records are aligned) */
            at &= ~(size_t)1;
            if (at + 1 < cur_len) { cur[at] = (uint8_t)v; cur[at + 1] = (uint8_t)(v >> 8); }
            break;
        case 4:
        case 5:
            at = 1 + ((at - 1) & ~(size_t)3);
            if (at + 3 < cur_len) {
                if (rnd() & 1) v = (uint32_t)((int32_t)(cur[at] | (cur[at + 1] << 8)) + (int32_t)(rnd() % 33) - 16);
                cur[at] = (uint8_t)v; cur[at + 1] = (uint8_t)(v >> 8);
                cur[at + 2] = (uint8_t)(v >> 16); cur[at + 3] = (uint8_t)(v >> 24);
            }
            break;
        case 6: { /* copy a chunk inside */
            size_t from = 1 + rnd() % (cur_len - 1), len = 1 + rnd() % 64;
            if (from + len <= cur_len && at + len <= cur_len) memmove(cur + at, cur + from, len);
            break;
        }
        case 7: /* delete */
            if (cur_len > 70) {
                size_t len = 1 + rnd() % 16;
                if (at + len < cur_len) { memmove(cur + at, cur + at + len, cur_len - at - len); cur_len -= len; }
            }
            break;
        case 8: /* insert */
            if (cur_len + 16 < MAX_LEN) {
                size_t len = 1 + rnd() % 16, j;
                memmove(cur + at + len, cur + at, cur_len - at);
                for (j = 0; j < len; ++j) cur[at + j] = (uint8_t)rnd();
                cur_len += len;
            }
            break;
        default: /* truncate */
            if (rnd() % 8 == 0) cur_len = at;
            break;
        }
    }
    /* ctrl byte: mostly "fix the CRC", sometimes small/misaligned arena or no CRC fix. */
    cur[0] = (uint8_t)(rnd() % 8 == 0 ? rnd() : 1u);
}

int main(int argc, char **argv)
{
    double seconds;
    time_t t0;
    unsigned long long execs = 0;
    int j;
    if (argc < 3) { fprintf(stderr, "usage: %s SECONDS SEED_DIR...\n", argv[0]); return 2; }
    seconds = atof(argv[1]);
    for (j = 2; j < argc; ++j) load_dir(argv[j]);
    if (n_seeds == 0) { fprintf(stderr, "fuzz: no seeds\n"); return 2; }
    __sanitizer_set_death_callback(dump_input);
    rs ^= (uint64_t)time(0);
    t0 = time(0);
    /* every seed once, unmutated */
    for (j = 0; j < n_seeds; ++j) {
        memcpy(cur, seeds[j], seed_len[j]);
        cur_len = seed_len[j];
        LLVMFuzzerTestOneInput(cur, cur_len);
        ++execs;
    }
    while (difftime(time(0), t0) < seconds) {
        int b;
        j = (int)(rnd() % (uint32_t)n_seeds);
        memcpy(cur, seeds[j], seed_len[j]);
        cur_len = seed_len[j];
        /* a chain of 64 stacked mutations, reset to the seed now and then */
        for (b = 0; b < 64; ++b) {
            mutate();
            LLVMFuzzerTestOneInput(cur, cur_len);
            ++execs;
            if (rnd() % 4 == 0) { memcpy(cur, seeds[j], seed_len[j]); cur_len = seed_len[j]; }
        }
    }
    printf("fuzz: %llu executions in %.0f s from %d seeds, 0 crashes\n", execs,
           difftime(time(0), t0), n_seeds);
    printf("fuzz: loads by status:");
    for (j = 0; j < 16; ++j)
        if (fuzz_load_status[j]) printf(" %d:%llu", j, fuzz_load_status[j]);
    printf("; invokes run to completion: %llu\n", fuzz_invoked_ok);
    return 0;
}
