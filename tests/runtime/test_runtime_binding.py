"""The cffi binding: golden vectors, errors as RuntimeStatusError, batch/traced consistency."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.errors import ModelFormatError
from ecg_edge.runtime import CRuntime, RuntimeStatusError, aligned_buffer, lib, status_str
from tests.runtime.conftest import GOLDEN, golden, golden_names

NAMES = golden_names()


@pytest.mark.parametrize("name", NAMES)
def test_golden_vector_logits_and_trace(name):
    data, x, y, info = golden(name)
    rt = CRuntime(data, name)
    assert rt.arena_size == info["arena_size"]
    assert rt.input_shape == tuple(info["input_shape"])
    np.testing.assert_array_equal(rt.invoke(x), y)
    trace = rt.invoke_traced(x)
    assert [t.size for t in trace] == [e["bytes"] for e in info["trace"]]
    want = np.fromfile(GOLDEN / f"{name}.trace.i8", dtype=np.int8)
    np.testing.assert_array_equal(np.concatenate([t.reshape(-1) for t in trace]), want)


def test_golden_vectors_exist():
    assert len(NAMES) >= 5, "export/golden/index.json lists the golden vectors"


def test_invoke_batch_matches_single_invokes():
    data, x, _, _ = golden(NAMES[0])
    rt = CRuntime(data)
    rng = np.random.default_rng(0)
    X = rng.integers(-128, 128, size=(9, *x.shape)).astype(np.int8)
    batch = rt.invoke_batch(X)
    assert batch.shape == (9, rt.n_classes) and batch.dtype == np.int8
    for i in range(9):
        np.testing.assert_array_equal(batch[i], rt.invoke(X[i]))
    np.testing.assert_array_equal(rt.predict(X), batch.argmax(axis=1))
    assert rt.invoke_batch(X[:0]).shape == (0, rt.n_classes)


def test_refusals_raise_runtime_status_error_with_c_message():
    data, x, _, _ = golden(NAMES[0])
    bad = bytearray(data)
    bad[-1] ^= 0xFF
    with pytest.raises(RuntimeStatusError, match="CRC32 mismatch") as ei:
        CRuntime(bytes(bad), "bad.bin")
    assert ei.value.name == "ECG_RT_E_CRC" and "bad.bin" in str(ei.value)
    assert isinstance(ei.value, ModelFormatError)
    with pytest.raises(RuntimeStatusError, match="bad magic"):
        CRuntime(b"XXXX" + data[4:])
    with pytest.raises(RuntimeStatusError, match="shorter"):
        CRuntime(data[:10])
    with pytest.raises(RuntimeStatusError, match="ECG_RT_E_HEADER"):
        CRuntime(data + b"\0" * 16)  # file_size != buffer length
    rt = CRuntime(data)
    with pytest.raises(ModelFormatError, match="dtype"):
        rt.invoke(x.astype(np.int16))
    with pytest.raises(ModelFormatError, match="shape"):
        rt.invoke(x[:-1])


def test_too_small_arena_is_refused_with_a_status():
    from ecg_edge.runtime import ffi

    data, x, _, _ = golden(NAMES[0])
    rt = CRuntime(data)
    arena = aligned_buffer(rt.arena_size)
    out = np.zeros(rt.n_classes, np.int8)
    args = (ffi.cast("const int8_t *", x.ctypes.data), x.size, ffi.cast("int8_t *", out.ctypes.data), out.size)
    st = lib.ecg_rt_invoke(rt._model, ffi.cast("uint8_t *", arena.ctypes.data), rt.arena_size - 1, *args)
    assert st == lib.ECG_RT_E_ARENA_TOO_SMALL
    st = lib.ecg_rt_invoke(rt._model, ffi.cast("uint8_t *", arena.ctypes.data + 1), rt.arena_size - 1, *args)
    assert st == lib.ECG_RT_E_ALIGNMENT
    assert status_str(st).startswith("arena pointer")


def test_unsupported_op_is_refused():
    """Ops 7..12 (the version-2 transformer ops) in a version-1 file are refused with ECG_RT_E_UNSUPPORTED_OP."""
    import zlib

    from ecg_edge.modelbin.reader import read_model

    data, _, _, _ = golden(NAMES[0])
    mb = read_model(data)
    off = mb.sections["OPS"].offset
    for op_type in (7, 9, 12):
        b = bytearray(data)
        b[off:off + 2] = op_type.to_bytes(2, "little")
        b[12:16] = zlib.crc32(bytes(b[64:])).to_bytes(4, "little")
        with pytest.raises(RuntimeStatusError) as ei:
            CRuntime(bytes(b))
        assert ei.value.name == "ECG_RT_E_UNSUPPORTED_OP"


def test_binding_declares_every_function_and_constant_of_the_public_headers():
    """The cdef is generated from runtime_c/include: whatever a header declares, the built
    module has (a new header function needs no second declaration in build_ffi.py)."""
    import re

    from ecg_edge.runtime.build_ffi import HEADERS, RUNTIME, header_cdef

    text = "".join((RUNTIME / "include" / h).read_text() for h in HEADERS)
    funcs = set(re.findall(r"^[a-z][\w ]*?\**\b(ecg_rt_\w+)\(", text, flags=re.M))
    consts = set(re.findall(r"^#define (ECG_RT_\w+) \S", text, flags=re.M)) - {"ECG_RT_RULES"}
    assert {"ecg_rt_load_ex", "ecg_rt_stream_infer", "ecg_rt_window_quantize_s8"} <= funcs
    assert {"ECG_RT_NO_INDEX", "ECG_RT_STREAM_MAX_WINDOW"} <= consts
    assert [n for n in sorted(funcs | consts | {"ECG_RT_RULE_COUNT"}) if not hasattr(lib, n)] == []
    assert "#" not in header_cdef().replace("#define ECG_RT_", "")  # only constants survive as directives
    assert lib.ECG_RT_NO_INDEX == 0xFFFFFFFF and len(re.findall(r"^    X\(", text, flags=re.M)) == lib.ECG_RT_RULE_COUNT
