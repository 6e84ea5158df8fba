/* QEMU TCG plugin: exact count of guest instructions executed between two marker addresses.
 *
 *   -plugin insn_count.so,start=0xADDR,end=0xADDR,out=PATH
 *
 * Every translated block adds its instruction count to a counter inline (no callback per
 * instruction). A callback on the first instruction of the start marker snapshots the counter;
 * one on the end marker writes the difference: the instructions executed from the start
 * marker's entry to the end marker's entry. Both markers are function entries, reached by a
 * branch, so each begins a translated block and the snapshot convention is the same at both
 * ends: the result is exact and identical run to run (single vCPU, no interrupts enabled).
 * Thumb symbol addresses (bit 0 set) are accepted. Output: one line "count N" per window.
 *
 * Optional profile=PATH: per translated block, the instructions it executed between the markers
 * ("tb ADDR N_INSNS EXECUTIONS"), for finding hot kernels (slower: one callback per block). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = ECG_QEMU_PLUGIN_VERSION;

static uint64_t executed;       /* instructions executed so far (inline adds) */
static uint64_t at_start;       /* snapshot at the start marker */
static int armed;               /* a start marker was seen and no end yet */
static uint64_t start_addr, end_addr;
static uint64_t n_counts;
static FILE *out;

typedef struct tb_prof {
    uint64_t vaddr, n_insns, execs;
    struct tb_prof *next;
} tb_prof;
static tb_prof *profiles; /* every translation, newest first (re-translations appear again) */
static const char *profile_path;

static void on_tb_exec(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    if (armed) {
        ((tb_prof *)userdata)->execs++;
    }
}

static void on_start(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    (void)userdata;
    at_start = executed;
    armed = 1;
}

static void on_end(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    (void)userdata;
    if (armed) {
        fprintf(out, "count %" PRIu64 "\n", executed - at_start);
        fflush(out);
        ++n_counts;
        armed = 0;
    }
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    const size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed, n);
    if (profile_path) {
        tb_prof *p = calloc(1, sizeof *p);
        if (p) {
            p->vaddr = qemu_plugin_tb_vaddr(tb);
            p->n_insns = n;
            p->next = profiles;
            profiles = p;
            qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, QEMU_PLUGIN_CB_NO_REGS, p);
        }
    }
    for (size_t i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint64_t va = qemu_plugin_insn_vaddr(insn);
        if (va == start_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (va == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
}

static void on_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    fprintf(out, "done counts=%" PRIu64 " total=%" PRIu64 "\n", n_counts, executed);
    if (profile_path) {
        FILE *pf = fopen(profile_path, "w");
        for (tb_prof *p = profiles; pf && p; p = p->next) {
            if (p->execs) {
                fprintf(pf, "tb 0x%" PRIx64 " %" PRIu64 " %" PRIu64 "\n", p->vaddr, p->n_insns, p->execs);
            }
        }
        if (pf) {
            fclose(pf);
        }
    }
    fflush(out);
    if (out != stderr) {
        fclose(out);
    }
}

static int parse_addr(const char *text, uint64_t *addr)
{
    char *end = NULL;
    const unsigned long long v = strtoull(text, &end, 0);
    if (end == text || *end != '\0') {
        return -1;
    }
    *addr = (uint64_t)v & ~(uint64_t)1; /* drop the Thumb bit */
    return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    (void)info;
    int have_start = 0, have_end = 0;
    const char *out_path = NULL;
    for (int i = 0; i < argc; ++i) {
        const char *a = argv[i];
        if (strncmp(a, "start=", 6) == 0 && parse_addr(a + 6, &start_addr) == 0) {
            have_start = 1;
        } else if (strncmp(a, "end=", 4) == 0 && parse_addr(a + 4, &end_addr) == 0) {
            have_end = 1;
        } else if (strncmp(a, "profile=", 8) == 0) {
            profile_path = a + 8;
        } else if (strncmp(a, "out=", 4) == 0) {
            out_path = a + 4;
        } else {
            fprintf(stderr, "insn_count: unknown or malformed argument '%s'\n", a);
            return -1;
        }
    }
    if (!have_start || !have_end) {
        fprintf(stderr, "insn_count: needs start=ADDR and end=ADDR (marker symbols)\n");
        return -1;
    }
    out = out_path ? fopen(out_path, "w") : stderr;
    if (!out) {
        fprintf(stderr, "insn_count: cannot open '%s'\n", out_path);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_exit, NULL);
    return 0;
}
