"""The job block QEMU places at the board's I/O window (layout: firmware_sim/src/job.h)."""

from __future__ import annotations

import struct

import numpy as np

JOB_MAGIC = 0x4A474345  # "ECGJ"
JOB_VERSION = 1
FLAG_TIMER = 1
HEADER = struct.Struct("<8I")


def pack_job(model_size: int, windows: np.ndarray, flags: int = 0) -> bytes:
    """Header + windows (N, L, C) int8 laid out [L][C] each, back to back."""
    w = np.ascontiguousarray(windows, dtype=np.int8)
    n = int(w.shape[0])
    window_bytes = int(w[0].size) if n else 0
    return HEADER.pack(JOB_MAGIC, JOB_VERSION, model_size, n, window_bytes, flags, 0, 0) + w.tobytes()
