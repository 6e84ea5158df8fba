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


HEADERS = ("ecg_edge_rt.h", "ecg_edge_rt_stream.h")  # runtime_c/include: the public API

# What the binding adds to the headers: the PREAMBLE's two loops and the trace callback.
BINDING_CDEF = """
ecg_rt_status ecg_rt_invoke_batch(const ecg_rt_model *m, uint8_t *arena, size_t arena_len,
                                  const int8_t *inputs, size_t n, int8_t *logits, size_t *done);
size_t ecg_rt_stream_struct_size(void);
ecg_rt_status ecg_rt_stream_run(ecg_rt_stream *s, const void *samples, ecg_rt_sample_type type, size_t n,
                                int8_t *logits, size_t max_windows, size_t *n_windows);
extern "Python" void _ecg_rt_trace_cb(void *, uint32_t, uint16_t, const int8_t *, uint32_t);
"""


def header_cdef() -> str:
    """The public headers' declarations as cffi's cdef reads them, so the binding cannot drift
    from the C API: the headers run through the C preprocessor (the rule X-macro expands into
    its enum; <stddef.h>/<stdint.h> stubbed, cffi knows their types), and their integer
    #define constants are declared by name (API mode takes the values from the headers)."""
    import re
    import shlex
    import subprocess
    import sysconfig
    import tempfile

    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")[0]
    with tempfile.TemporaryDirectory() as stub:
        for h in ("stddef.h", "stdint.h"):
            Path(stub, h).write_text("")
        src = "".join(f'#include "{h}"\n' for h in HEADERS)
        try:
            out = subprocess.run([cc, "-E", "-P", "-nostdinc", "-I", stub, "-I", str(RUNTIME / "include"), "-"],
                                 input=src, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            err = getattr(exc, "stderr", "") or exc
            raise RuntimeError(f"preprocessing {', '.join(HEADERS)} with {cc!r} failed: {err}") from exc
    text = "".join((RUNTIME / "include" / h).read_text() for h in HEADERS)
    consts = re.findall(r"^#define (ECG_RT_\w+) (?:0x[0-9A-Fa-f]+|\d+)u?\b", text, flags=re.M)
    return out + "".join(f"#define {c} ...\n" for c in consts)



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
    ffi.cdef(header_cdef() + BINDING_CDEF)
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
