"""What every corpus file is (a Case: bytes, the rule it breaks, the index and C status it
must get) and the view of a valid base file the mutations edit."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.layout import (
    HEADER_SIZE,
    OP_RECORD_SIZE,
    SECTION_ENTRY_SIZE,
    SECTION_STRUCT,
    TENSOR_RECORD_SIZE,
)
from ecg_edge.modelbin.reader import ModelBin, Section, read_model

BASES = ("int8_dense", "w4_bitmask", "mixed_runlength", "binary_dense", "flatten_2lead", "custom_ops", "transformer",
         "transformer_lut")
_STATUS = {R.HEADER_MAGIC: "ECG_RT_E_MAGIC", R.HEADER_VERSION: "ECG_RT_E_VERSION", R.HEADER_CRC32: "ECG_RT_E_CRC",
           R.FILE_TRUNCATED: "ECG_RT_E_TRUNCATED", R.HEADER_N_CLASSES: "ECG_RT_E_HEADER", R.OP_TYPE:
           "ECG_RT_E_UNSUPPORTED_OP", R.PLAN_OVERLAP: "ECG_RT_E_TENSOR"}
_FAMILY = {"header": "ECG_RT_E_HEADER", "section": "ECG_RT_E_SECTION", "meta": "ECG_RT_E_SECTION",
           "tensor": "ECG_RT_E_TENSOR", "op": "ECG_RT_E_OP", "block": "ECG_RT_E_WEIGHTS",
           "trailer": "ECG_RT_OK"}  # host-only: the C loader accepts
HOST_ONLY = frozenset({R.TENSOR_SCALE, R.META_PLAN, R.TRAILER_CRC32, R.TRAILER_META})  # the device never reads these


def default_status(rule: str) -> str:
    return _STATUS.get(rule) or _FAMILY[rule.split(".")[0]]


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    rule: str | None  # None: a valid variant both readers must accept
    index: int | None
    status: str | None
    host_only: bool = False


def fix_crc(b: bytearray | bytes) -> bytes:
    b = bytearray(b)
    struct.pack_into("<I", b, 12, zlib.crc32(bytes(b[HEADER_SIZE:])) & 0xFFFFFFFF)
    return bytes(b)


class Model:
    """A valid base file and where its records lie."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data
        self.mb: ModelBin = read_model(data, name)
        n = struct.unpack_from("<I", data, 20)[0]
        self.entries = [SECTION_STRUCT.unpack_from(data, HEADER_SIZE + SECTION_ENTRY_SIZE * i) for i in range(n)]
        self.entry_of = {t: i for i, (t, *_rest) in enumerate(self.entries)}
        self.table_end = HEADER_SIZE + SECTION_ENTRY_SIZE * n

    def sec(self, name: str) -> Section:
        return self.mb.sections[name]

    def tensor_off(self, t: int) -> int:
        return self.sec("TENSORS").offset + TENSOR_RECORD_SIZE * t

    def op_off(self, k: int) -> int:
        return self.sec("OPS").offset + OP_RECORD_SIZE * k

    def patch(self, *edits: tuple[int, str, int | bytes], crc: bool = True, data: bytes | None = None) -> bytes:
        b = bytearray(self.data if data is None else data)
        for off, fmt, value in edits:
            struct.pack_into(fmt, b, off, value)
        return fix_crc(b) if crc else bytes(b)


class Cases:
    def __init__(self) -> None:
        self.out: list[Case] = []

    def add(self, name: str, data: bytes, rule: str | None, index: int | None = None, status: str | None = None) -> None:
        st = None if rule is None else (status or default_status(rule))
        self.out.append(Case(name, data, rule, index, st, rule in HOST_ONLY))


