"""cffi (API mode) build of the C runtime: compiles runtime_c/src/*.c into
`ecg_edge.runtime._ecg_edge_rt`. Run by setuptools at install time (setup.py cffi_modules), or
directly (`python ecg_edge/runtime/build_ffi.py`) to build in place.

-ffp-contract=off: nothing on the runtime's path uses floats, and this keeps it that way
(no fused multiply-add could ever change a result between builds)."""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "runtime_c"


def _paths(relative: bool) -> tuple[list[str], list[str], list[str]]:
    """(sources, include dirs, depends). setuptools wants paths relative to the project root
    when it builds from there; a direct build (cffi chdirs into its tmpdir) needs them absolute."""
    def fmt(p: Path) -> str:
        return os.path.relpath(p, ROOT) if relative else str(p)
    src = sorted((RUNTIME / "src").glob("*.c"))
    hdr = sorted((RUNTIME / "src").glob("*.h")) + sorted((RUNTIME / "include").glob("*.h"))
    return [fmt(p) for p in src], [fmt(RUNTIME / "include"), fmt(RUNTIME / "src")], [fmt(p) for p in hdr]


CDEF = """
typedef enum {
    ECG_RT_OK = 0, ECG_RT_E_NULL = 1, ECG_RT_E_TRUNCATED = 2, ECG_RT_E_MAGIC = 3,
    ECG_RT_E_VERSION = 4, ECG_RT_E_CRC = 5, ECG_RT_E_HEADER = 6, ECG_RT_E_SECTION = 7,
    ECG_RT_E_TENSOR = 8, ECG_RT_E_OP = 9, ECG_RT_E_UNSUPPORTED_OP = 10, ECG_RT_E_WEIGHTS = 11,
    ECG_RT_E_ARENA_TOO_SMALL = 12, ECG_RT_E_ALIGNMENT = 13, ECG_RT_E_SIZE = 14, ECG_RT_E_LIMIT = 15,
    ECG_RT_E_NO_PREPROCESS = 20, ECG_RT_E_PREPROCESS = 21, ECG_RT_E_SAMPLE_TYPE = 22, ECG_RT_E_RATE = 23,
    ECG_RT_E_STREAM_STATE = 24
} ecg_rt_status;
typedef struct {
    const uint8_t *base;
    uint32_t size;
    uint32_t arena_size;
    uint32_t n_tensors, n_ops, n_classes;
    uint16_t input_tensor, output_tensor;
    uint32_t input_len, input_channels;
    const uint8_t *tensors;
    const uint8_t *ops;
    const uint8_t *weights;
    uint32_t weights_size;
} ecg_rt_model;
ecg_rt_status ecg_rt_load(ecg_rt_model *m, const uint8_t *buf, size_t len);
typedef struct { ecg_rt_status status; uint32_t rule; uint32_t index; } ecg_rt_refusal;
#define ECG_RT_RULE_COUNT ...
#define ECG_RT_NO_INDEX ...
ecg_rt_status ecg_rt_load_ex(ecg_rt_model *m, const uint8_t *buf, size_t len, ecg_rt_refusal *why);
const char *ecg_rt_rule_name(uint32_t rule);
ecg_rt_status ecg_rt_arena_size(const ecg_rt_model *m, size_t *out_bytes);
ecg_rt_status ecg_rt_invoke(const ecg_rt_model *m, uint8_t *arena, size_t arena_len,
                            const int8_t *input, size_t input_len, int8_t *logits, size_t logits_len);
typedef void (*ecg_rt_trace_fn)(void *user, uint32_t op_index, uint16_t tensor_id,
                                const int8_t *data, uint32_t size);
ecg_rt_status ecg_rt_invoke_traced(const ecg_rt_model *m, uint8_t *arena, size_t arena_len,
                                   const int8_t *input, size_t input_len,
                                   int8_t *logits, size_t logits_len,
                                   ecg_rt_trace_fn trace, void *user);
ecg_rt_status ecg_rt_argmax(const int8_t *logits, size_t n, uint32_t *out_index);
const char *ecg_rt_status_str(ecg_rt_status s);
ecg_rt_status ecg_rt_invoke_batch(const ecg_rt_model *m, uint8_t *arena, size_t arena_len,
                                  const int8_t *inputs, size_t n, int8_t *logits, size_t *done);
typedef enum { ECG_RT_SAMPLE_S16 = 0, ECG_RT_SAMPLE_S32 = 1 } ecg_rt_sample_type;
typedef struct {
    uint32_t fs, adc_fs, window, hop, leads, n_sections;
    int32_t input_mult;
    uint32_t input_shift;
    int32_t zero_point;
    ...;
} ecg_rt_pp;
typedef struct { ecg_rt_pp pp; uint32_t up, down, windows; ...; } ecg_rt_stream;
ecg_rt_status ecg_rt_pp_from_model(const ecg_rt_model *m, ecg_rt_pp *pp);
ecg_rt_status ecg_rt_stream_work_size(const ecg_rt_model *m, size_t *bytes);
ecg_rt_status ecg_rt_stream_init(ecg_rt_stream *s, const ecg_rt_model *m, uint32_t adc_fs, uint32_t hop,
                                 ecg_rt_sample_type type, uint8_t *work, size_t work_len,
                                 uint8_t *arena, size_t arena_len);
ecg_rt_status ecg_rt_stream_push(ecg_rt_stream *s, const void *samples, ecg_rt_sample_type type,
                                 size_t n, size_t *consumed);
ecg_rt_status ecg_rt_stream_ready(const ecg_rt_stream *s, uint32_t *ready);
ecg_rt_status ecg_rt_stream_infer(ecg_rt_stream *s, int8_t *logits, size_t logits_len, uint32_t *window_index);
ecg_rt_status ecg_rt_stream_run(ecg_rt_stream *s, const void *samples, ecg_rt_sample_type type, size_t n,
                                int8_t *logits, size_t max_windows, size_t *n_windows);
size_t ecg_rt_stream_struct_size(void);
ecg_rt_status ecg_rt_resample_factors(uint32_t fs, uint32_t adc_fs, uint32_t *up, uint32_t *down);
int32_t ecg_rt_biquad_df1_s32(const int32_t coef[5], int32_t st[4], int32_t x);
int32_t ecg_rt_resample_linear_s32(int32_t a, int32_t b, uint32_t phase, uint32_t up);
ecg_rt_status ecg_rt_window_quantize_s8(const int32_t *ring, uint32_t window, uint32_t stride,
                                        uint32_t start, int32_t input_mult, uint32_t input_shift,
                                        int32_t zero_point, int8_t *out);
extern "Python" void _ecg_rt_trace_cb(void *, uint32_t, uint16_t, const int8_t *, uint32_t);
"""

# The batch loop lives in C so evaluating a split costs one Python call; so does the stream's
# push/ready/infer loop over a whole recording (ecg_rt_stream_run).
PREAMBLE = """
#include "ecg_edge_rt.h"
#include "ecg_edge_rt_stream.h"
static size_t ecg_rt_stream_struct_size(void) { return sizeof(ecg_rt_stream); }
static ecg_rt_status ecg_rt_stream_run(ecg_rt_stream *s, const void *samples, ecg_rt_sample_type type, size_t n,
                                       int8_t *logits, size_t max_windows, size_t *n_windows)
{
    size_t used, elem = type == ECG_RT_SAMPLE_S16 ? 2u : 4u, k;
    uint32_t ready;
    ecg_rt_status st;
    const unsigned char *p = (const unsigned char *)samples;
    if (!s || !n_windows) return ECG_RT_E_NULL;
    k = s->model ? s->model->n_classes : 0u;
    *n_windows = 0;
    for (;;) {
        st = ecg_rt_stream_push(s, p, type, n, &used);
        if (st != ECG_RT_OK) return st;
        p += used * elem * s->pp.leads;
        n -= used;
        if ((st = ecg_rt_stream_ready(s, &ready)) != ECG_RT_OK) return st;
        if (!ready) return ECG_RT_OK;
        if (*n_windows >= max_windows) return ECG_RT_E_SIZE;
        st = ecg_rt_stream_infer(s, logits + *n_windows * k, k, 0);
        if (st != ECG_RT_OK) return st;
        ++*n_windows;
    }
}
static ecg_rt_status ecg_rt_invoke_batch(const ecg_rt_model *m, uint8_t *arena, size_t arena_len,
                                         const int8_t *inputs, size_t n, int8_t *logits, size_t *done)
{
    size_t j, in_len, k;
    ecg_rt_status st = ECG_RT_OK;
    if (!m || !done) return ECG_RT_E_NULL;
    in_len = (size_t)m->input_len * m->input_channels;
    k = m->n_classes;
    for (j = 0; j < n; ++j) {
        st = ecg_rt_invoke(m, arena, arena_len, inputs + j * in_len, in_len, logits + j * k, k);
        if (st != ECG_RT_OK) break;
    }
    *done = j;
    return st;
}
"""

MODULE = "ecg_edge.runtime._ecg_edge_rt"
SANITIZED_MODULE = "ecg_edge.runtime._ecg_edge_rt_san"
SAN_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def make_builder(relative: bool, sanitize: bool = False) -> FFI:
    """The extension; `sanitize` builds the ASan+UBSan variant the CI parity run loads
    (ECG_EDGE_RT_SANITIZE=1, with libasan preloaded) under its own module name."""
    sources, include_dirs, depends = _paths(relative)
    ffi = FFI()
    ffi.cdef(CDEF)
    cflags = ["-O2", "-std=c99", "-ffp-contract=off"]
    ffi.set_source(SANITIZED_MODULE if sanitize else MODULE, PREAMBLE, sources=sources,
                   include_dirs=include_dirs, depends=depends,
                   extra_compile_args=cflags + (["-O1", "-g", "-fno-wrapv", *SAN_FLAGS] if sanitize else []),
                   extra_link_args=SAN_FLAGS if sanitize else [])
    return ffi


ffibuilder = make_builder(relative=Path.cwd().resolve() == ROOT)


def build_inplace(sanitize: bool = False) -> Path:
    """Compile the extension next to this file (what an editable install also leaves there);
    the generated C and objects stay under build/cffi."""
    import shutil
    tmp = ROOT / "build" / ("cffi-san" if sanitize else "cffi")
    so = Path(make_builder(relative=False, sanitize=sanitize).compile(tmpdir=str(tmp), verbose=False))
    dest = Path(__file__).resolve().parent / so.name
    part = dest.with_name(dest.name + f".{os.getpid()}.part")
    shutil.copy2(so, part)
    os.replace(part, dest)  # atomic: a process that has the old file mapped keeps it
    return dest


if __name__ == "__main__":
    import click

    @click.command(help="Build the C runtime's cffi extension in place.")
    @click.option("--sanitize", is_flag=True, help="with AddressSanitizer and UBSan (the _ecg_edge_rt_san module)")
    def _build(sanitize: bool) -> None:
        print(build_inplace(sanitize=sanitize))

    _build()
