"""The C99 runtime (runtime_c/) from Python, through cffi (API mode).

`CRuntime(model_bytes)` validates the model in C (ecg_rt_load), owns a 16-byte aligned arena in
a numpy buffer, and runs int8 windows: `invoke`, `invoke_batch` (the loop is in C) and
`invoke_traced` (every op's output, for naming the first layer that differs from the numpy
reference). A status other than OK raises RuntimeStatusError with the C message.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ecg_edge.errors import ModelFormatError
from ecg_edge.runtime._loader import load_extension

extension = load_extension()
ffi, lib = extension.ffi, extension.lib

STATUS_NAMES = {
    0: "ECG_RT_OK", 1: "ECG_RT_E_NULL", 2: "ECG_RT_E_TRUNCATED", 3: "ECG_RT_E_MAGIC",
    4: "ECG_RT_E_VERSION", 5: "ECG_RT_E_CRC", 6: "ECG_RT_E_HEADER", 7: "ECG_RT_E_SECTION",
    8: "ECG_RT_E_TENSOR", 9: "ECG_RT_E_OP", 10: "ECG_RT_E_UNSUPPORTED_OP", 11: "ECG_RT_E_WEIGHTS",
    12: "ECG_RT_E_ARENA_TOO_SMALL", 13: "ECG_RT_E_ALIGNMENT", 14: "ECG_RT_E_SIZE", 15: "ECG_RT_E_LIMIT",
    20: "ECG_RT_E_NO_PREPROCESS", 21: "ECG_RT_E_PREPROCESS", 22: "ECG_RT_E_SAMPLE_TYPE", 23: "ECG_RT_E_RATE",
    24: "ECG_RT_E_STREAM_STATE",
}
ARENA_ALIGN = 16


class RuntimeStatusError(ModelFormatError):
    """The C runtime returned a status other than ECG_RT_OK (a refused load also names the
    FORMAT.md rule and index, as ModelFormatError.rule / .index)."""

    def __init__(self, status: int, where: str, source: str = "model.bin", rule: str | None = None,
                 index: int | None = None) -> None:
        self.status = int(status)
        self.name = STATUS_NAMES.get(self.status, f"status {status}")
        self.message = ffi.string(lib.ecg_rt_status_str(status)).decode()
        at = "" if rule is None else f"; rule {rule}" + ("" if index is None else f" at index {index}")
        super().__init__(f"{source}: C runtime {where}: {self.message} ({self.name}{at})", rule, index)


def rule_names() -> list[str]:
    """The C loader's rule names in id order (ECG_RT_RULES)."""
    return [ffi.string(lib.ecg_rt_rule_name(i)).decode() for i in range(lib.ECG_RT_RULE_COUNT)]


def load_refusal(model_bytes: bytes) -> tuple[str, str, int | None] | None:
    """Why ecg_rt_load_ex refuses these bytes: (status name, rule name, index or None); None when
    the model loads."""
    data = bytes(model_bytes)
    buf = ffi.new("uint8_t[]", max(len(data), 1))
    ffi.memmove(buf, data, len(data))
    why = ffi.new("ecg_rt_refusal *")
    st = lib.ecg_rt_load_ex(ffi.new("ecg_rt_model *"), buf, len(data), why)
    if st == lib.ECG_RT_OK:
        return None
    index = None if why.index == lib.ECG_RT_NO_INDEX else int(why.index)
    return STATUS_NAMES.get(int(st), f"status {st}"), ffi.string(lib.ecg_rt_rule_name(why.rule)).decode(), index


def status_str(status: int) -> str:
    return ffi.string(lib.ecg_rt_status_str(status)).decode()


def aligned_buffer(nbytes: int, align: int = ARENA_ALIGN) -> np.ndarray:
    """A zeroed uint8 numpy view of `nbytes` whose first byte is aligned to `align`."""
    raw = np.zeros(nbytes + align, dtype=np.uint8)
    off = (-raw.ctypes.data) % align
    return raw[off:off + nbytes]


class CRuntime:
    """One validated model.bin and its arena. Not thread-safe (one arena)."""

    def __init__(self, model_bytes: bytes, source: str = "model.bin") -> None:
        self.source = source
        data = bytes(model_bytes)
        self._buf = ffi.new("uint8_t[]", max(len(data), 1))
        ffi.memmove(self._buf, data, len(data))
        self._model = ffi.new("ecg_rt_model *")
        why = ffi.new("ecg_rt_refusal *")
        st = lib.ecg_rt_load_ex(self._model, self._buf, len(data), why)
        if st != lib.ECG_RT_OK:
            index = None if why.index == lib.ECG_RT_NO_INDEX else int(why.index)
            raise RuntimeStatusError(st, "refused the model", source,
                                     ffi.string(lib.ecg_rt_rule_name(why.rule)).decode(), index)
        size = ffi.new("size_t *")
        self._check(lib.ecg_rt_arena_size(self._model, size), "arena_size")
        self.arena_size = int(size[0])
        self.n_classes = int(self._model.n_classes)
        self.n_ops = int(self._model.n_ops)
        self.input_shape = (int(self._model.input_len), int(self._model.input_channels))
        self._arena = aligned_buffer(max(self.arena_size, ARENA_ALIGN))
        self._arena_ptr = ffi.cast("uint8_t *", self._arena.ctypes.data)
        self._tensor_shapes = self._read_tensor_shapes(data)

    def _check(self, status: int, where: str) -> None:
        if status != lib.ECG_RT_OK:
            raise RuntimeStatusError(status, where, self.source)

    def _read_tensor_shapes(self, data: bytes) -> list[tuple[int, int]]:
        base = int(ffi.cast("uintptr_t", self._model.tensors)) - int(ffi.cast("uintptr_t", self._buf))
        rec = np.frombuffer(data, dtype="<u4", count=8 * self._model.n_tensors, offset=base)
        rec = rec.reshape(-1, 8)
        return [(int(r[0]), int(r[1])) for r in rec]

    def _input(self, x_q: np.ndarray, batch: bool) -> np.ndarray:
        x = np.asarray(x_q)
        want = ((-1,) if batch else ()) + self.input_shape
        if x.dtype != np.int8:
            raise ModelFormatError(f"{self.source}: input dtype {x.dtype}, expected int8")
        if x.ndim != len(want) or x.shape[-2:] != self.input_shape:
            L, C = self.input_shape
            shape = f"(N, {L}, {C})" if batch else f"({L}, {C})"
            raise ModelFormatError(f"{self.source}: int8 input has shape {x.shape}, expected {shape}")
        return np.ascontiguousarray(x)

    def invoke(self, x_q: np.ndarray) -> np.ndarray:
        """int8 [L][C] -> int8 logits (n_classes,)."""
        x = self._input(x_q, batch=False)
        out = np.empty(self.n_classes, dtype=np.int8)
        st = lib.ecg_rt_invoke(self._model, self._arena_ptr, self._arena.size,
                               ffi.cast("const int8_t *", x.ctypes.data), x.size,
                               ffi.cast("int8_t *", out.ctypes.data), out.size)
        self._check(st, "invoke")
        return out

    def invoke_batch(self, X_q: np.ndarray) -> np.ndarray:
        """int8 (N, L, C) -> int8 logits (N, n_classes); the loop over windows runs in C."""
        X = self._input(X_q, batch=True)
        out = np.empty((X.shape[0], self.n_classes), dtype=np.int8)
        done = ffi.new("size_t *")
        st = lib.ecg_rt_invoke_batch(self._model, self._arena_ptr, self._arena.size,
                                     ffi.cast("const int8_t *", X.ctypes.data), X.shape[0],
                                     ffi.cast("int8_t *", out.ctypes.data), done)
        self._check(st, f"invoke (window {int(done[0])})")
        return out

    def invoke_traced(self, x_q: np.ndarray) -> list[np.ndarray]:
        """Every op's output in op order, int8 shaped (L, C) of its tensor (a copy taken right
        after the op ran, before a later op may reuse the arena bytes)."""
        x = self._input(x_q, batch=False)
        out = np.empty(self.n_classes, dtype=np.int8)
        outs: list[np.ndarray] = []
        handle = ffi.new_handle((outs, self._tensor_shapes))
        st = lib.ecg_rt_invoke_traced(self._model, self._arena_ptr, self._arena.size,
                                      ffi.cast("const int8_t *", x.ctypes.data), x.size,
                                      ffi.cast("int8_t *", out.ctypes.data), out.size,
                                      lib._ecg_rt_trace_cb, handle)
        self._check(st, "invoke_traced")
        return outs

    def predict(self, X_q: np.ndarray) -> np.ndarray:
        """Class indices (argmax of the int8 logits, first on ties, as ecg_rt_argmax)."""
        return np.argmax(self.invoke_batch(X_q), axis=1)


@ffi.def_extern()
def _ecg_rt_trace_cb(user: Any, op_index: int, tensor_id: int, data: Any, size: int) -> None:
    outs, shapes = ffi.from_handle(user)
    buf = np.frombuffer(ffi.buffer(data, size), dtype=np.int8).copy()
    outs.append(buf.reshape(shapes[tensor_id]))


__all__ = ["CRuntime", "RuntimeStatusError", "STATUS_NAMES", "aligned_buffer", "load_refusal", "rule_names",
           "status_str"]
