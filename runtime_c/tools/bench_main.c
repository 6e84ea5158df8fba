/* Host benchmark driver (hosted: stdio, malloc, clock_gettime). Loads a model.bin, runs N
 * inferences on one int8 input and prints the per-inference wall times' median and minimum as
 * JSON. Under `valgrind --tool=callgrind --toggle-collect=ecg_rt_invoke` it gives the
 * instructions per inference (ecg_edge/runtime/bench.py drives both).
 *   ecgrt_bench MODEL.bin N [INPUT.i8] */
#define _POSIX_C_SOURCE 200112L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecg_edge_rt.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    size_t len, in_len, arena_len, j, n_in = 0;
    unsigned char *model, *input_file = NULL;
    ecg_rt_model m;
    ecg_rt_status st;
    uint8_t *arena;
    int8_t *input, logits[256];
    double *times;
    long n;
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL.bin N [INPUT.i8]\n", argv[0]); return 2; }
    model = read_file(argv[1], &len);
    n = atol(argv[2]);
    if (!model || n < 1) { fprintf(stderr, "cannot read %s\n", argv[1]); return 2; }
    st = ecg_rt_load(&m, model, len);
    if (st != ECG_RT_OK) { fprintf(stderr, "load: %s\n", ecg_rt_status_str(st)); return 1; }
    in_len = (size_t)m.input_len * m.input_channels;
    input = calloc(in_len, 1);
    if (argc > 3) input_file = read_file(argv[3], &n_in);
    for (j = 0; j < in_len; ++j)  /* the given input, else a deterministic ECG-like ramp */
        input[j] = input_file && n_in >= in_len ? (int8_t)input_file[j] : (int8_t)((j * 37u) % 97u) - 48;
    arena_len = m.arena_size;
    if (posix_memalign((void **)&arena, 16, arena_len + 16) != 0) return 1;
    times = malloc(sizeof(double) * (size_t)n);
    if (!input || !arena || !times || m.n_classes > sizeof logits) return 1;
    for (j = 0; j < (size_t)n; ++j) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = ecg_rt_invoke(&m, arena, arena_len, input, in_len, logits, m.n_classes);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (st != ECG_RT_OK) { fprintf(stderr, "invoke: %s\n", ecg_rt_status_str(st)); return 1; }
        times[j] = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    }
    qsort(times, (size_t)n, sizeof(double), cmp_double);
    printf("{\"n\": %ld, \"median_us\": %.3f, \"min_us\": %.3f, \"arena_bytes\": %u, \"logits\": [",
           n, times[n / 2], times[0], m.arena_size);
    for (j = 0; j < m.n_classes; ++j) printf("%s%d", j ? ", " : "", logits[j]);
    printf("]}\n");
    free(times); free(arena); free(input); free(model); free(input_file);
    return 0;
}
