"""The C streaming API (runtime_c/include/ecg_edge_rt_stream.h) from Python: raw ADC frames in,
int8 logits per hop out, through the very code the firmware runs (push/ready/infer loop in C)."""

from __future__ import annotations

import numpy as np

from ecg_edge.errors import ModelFormatError
from ecg_edge.runtime import CRuntime, RuntimeStatusError, aligned_buffer, ffi, lib

SAMPLE_TYPES = {"int16": 0, "int32": 1}


class CStream:
    """One stream over one model.bin. `adc_fs`/`hop` 0 take the model's pp.adc_fs / pp.hop."""

    def __init__(self, model_bytes: bytes, *, adc_fs: int = 0, hop: int = 0, sample_type: str = "int16",
                 source: str = "model.bin") -> None:
        if sample_type not in SAMPLE_TYPES:
            raise ModelFormatError(f"{source}: sample type {sample_type!r}, expected one of {', '.join(SAMPLE_TYPES)}")
        self.rt = CRuntime(model_bytes, source)
        self.source = source
        self.sample_type = sample_type
        size = ffi.new("size_t *")
        self._check(lib.ecg_rt_stream_work_size(self.rt._model, size), "stream_work_size")
        self.work_bytes = int(size[0])
        self._work = aligned_buffer(max(self.work_bytes, 16))
        self._s = ffi.new("ecg_rt_stream *")
        self._check(lib.ecg_rt_stream_init(self._s, self.rt._model, int(adc_fs), int(hop), SAMPLE_TYPES[sample_type],
                                           ffi.cast("uint8_t *", self._work.ctypes.data), self._work.size,
                                           self.rt._arena_ptr, self.rt._arena.size), "stream_init")
        pp = self._s.pp
        self.fs, self.adc_fs, self.window, self.hop = int(pp.fs), int(pp.adc_fs), int(pp.window), int(pp.hop)
        self.leads = int(pp.leads)
        self.struct_bytes = int(lib.ecg_rt_stream_struct_size())

    def _check(self, status: int, where: str) -> None:
        if status != lib.ECG_RT_OK:
            raise RuntimeStatusError(status, where, self.source)

    @property
    def ram_bytes(self) -> dict[str, int]:
        """The stream's RAM: fixed state, ring + model input, the model's arena."""
        return {"state": self.struct_bytes, "work": self.work_bytes, "arena": self.rt.arena_size,
                "total": self.struct_bytes + self.work_bytes + self.rt.arena_size}

    def push(self, frames: np.ndarray) -> np.ndarray:
        """Frames (n, leads) of the stream's sample type -> int8 logits (windows, n_classes) of every
        window completed by them."""
        x = np.asarray(frames)
        if x.ndim == 1 and self.leads == 1:
            x = x[:, None]
        if x.dtype != np.dtype(self.sample_type):
            raise ModelFormatError(f"{self.source}: stream samples are {x.dtype}, expected {self.sample_type}")
        if x.ndim != 2 or x.shape[1] != self.leads:
            raise ModelFormatError(f"{self.source}: stream frames have shape {x.shape}, expected (n, {self.leads})")
        x = np.ascontiguousarray(x)
        n = x.shape[0]
        cap = n * self.fs // max(self.adc_fs, 1) // self.hop + 2
        out = np.empty((cap, self.rt.n_classes), dtype=np.int8)
        done = ffi.new("size_t *")
        st = lib.ecg_rt_stream_run(self._s, ffi.cast("const void *", x.ctypes.data), SAMPLE_TYPES[self.sample_type],
                                   n, ffi.cast("int8_t *", out.ctypes.data), cap, done)
        self._check(st, f"stream (window {int(self._s.windows)})")
        return out[:int(done[0])].copy()


__all__ = ["SAMPLE_TYPES", "CStream"]
