"""Multiply-accumulates per inference of a model.bin, for MACs-per-instruction figures."""

from __future__ import annotations

from ecg_edge.errors import ModelFormatError
from ecg_edge.modelbin.ops import model_macs
from ecg_edge.modelbin.reader import read_model


def count_macs(model_bytes: bytes) -> tuple[int, int] | None:
    """(dense MACs, non-zero-weight MACs); None when the reader refuses the bytes (the firmware
    reports the format error with its status)."""
    try:
        return model_macs(read_model(model_bytes))
    except ModelFormatError:
        return None
