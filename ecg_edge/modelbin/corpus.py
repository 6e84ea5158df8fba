"""The malformed-file corpus: model.bin files that break one rule of export/FORMAT.md section 10
each, generated from the golden vectors (and a few hand-laid files for the size limits), every
one with the refusal it must get: the rule id (rules.py), the index of the section entry,
tensor or op it concerns, and the C status. Both readers run it (tests/runtime/test_corpus.py):
the Python reader must raise a ModelFormatError with that rule and index, the C loader
(ecg_rt_load_ex) must return that status, rule and index; a file marked host_only breaks a
field only the host reads, which the C loader must accept. A few valid variants (a permuted
section table, a conv stride change that keeps the output length) check both still accept.

    python -m ecg_edge.modelbin.corpus --out DIR      # DIR/NAME.bin + DIR/index.json
    python -m ecg_edge.modelbin.corpus --seeds DIR    # one fuzz seed per rule (runtime_c fuzz)
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from ecg_edge import atomic
from ecg_edge.layerplan.bitpack import ENC_BITMASK, ENC_DENSE, ENC_RUNLENGTH
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.golden import GOLDEN_DIR
from ecg_edge.modelbin.layout import (
    BLOCK_HEADER_SIZE,
    BLOCK_STRUCT,
    HEADER_SIZE,
    HEADER_STRUCT,
    NO_BLOCK,
    NO_TENSOR,
    OP_ADD,
    OP_AVGPOOL1D,
    OP_CONV1D,
    OP_GELU,
    OP_GLOBAL_AVGPOOL,
    OP_GROUPNORM,
    OP_LAYERNORM,
    OP_LINEAR,
    OP_LUT,
    OP_MATMUL,
    OP_MAXPOOL1D,
    OP_RECORD_SIZE,
    OP_SOFTMAX,
    SECTION_ENTRY_SIZE,
    SECTION_STRUCT,
    TENSOR_RECORD_SIZE,
    TENSOR_STRUCT,
    TRAILER_HEADER_SIZE,
    VERSION,
    align_up,
)
from ecg_edge.modelbin.reader import ModelBin, read_model
from ecg_edge.modelbin.writer import host_trailer
from ecg_edge.options import entry_point

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


class _Model:
    """A valid base file and where its records lie."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data
        self.mb: ModelBin = read_model(data, name)
        n = struct.unpack_from("<I", data, 20)[0]
        self.entries = [SECTION_STRUCT.unpack_from(data, HEADER_SIZE + SECTION_ENTRY_SIZE * i) for i in range(n)]
        self.entry_of = {t: i for i, (t, *_rest) in enumerate(self.entries)}
        self.table_end = HEADER_SIZE + SECTION_ENTRY_SIZE * n

    def sec(self, name: str):  # noqa: ANN201 - the records.Section
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


class _Cases:
    def __init__(self) -> None:
        self.out: list[Case] = []

    def add(self, name: str, data: bytes, rule: str | None, index: int | None = None, status: str | None = None) -> None:
        st = None if rule is None else (status or default_status(rule))
        self.out.append(Case(name, data, rule, index, st, rule in HOST_ONLY))


# ---------------------------------------------------------------- header and section table

def _header(m: _Model, c: _Cases) -> None:
    d, n = m.data, m.name
    L = len(d)
    for cut in (0, 10, HEADER_SIZE - 1):
        c.add(f"{n}/truncated_{cut}", d[:cut], R.FILE_TRUNCATED)
    bounds = {HEADER_SIZE, m.table_end}
    for _t, off, size, _cnt in m.entries:
        bounds |= {off, off + size}
    for op in m.mb.ops:
        if op.block is not None:
            bounds |= {op.block.offset, op.block.offset + op.block.size}
    for cut in sorted(b for b in bounds if HEADER_SIZE <= b < L):
        c.add(f"{n}/cut_at_{cut}", d[:cut], R.HEADER_FILE_SIZE, status="ECG_RT_E_TRUNCATED")
        # the same cut with file_size and CRC made consistent: the section table must catch it
        cd = m.patch((8, "<I", cut), data=d[:cut])
        if cut < m.table_end:
            c.add(f"{n}/cut_consistent_at_{cut}", cd, R.SECTION_TABLE)
        else:
            j = next((i for i, (_t, off, size, _c) in enumerate(m.entries) if off + size > cut), None)
            # past the last section: only trailing padding was cut, a valid file
            c.add(f"{n}/cut_consistent_at_{cut}", cd, None if j is None else R.SECTION_BOUNDS, j)
    c.add(f"{n}/file_size_plus_16", m.patch((8, "<I", L + 16)), R.HEADER_FILE_SIZE, status="ECG_RT_E_TRUNCATED")
    c.add(f"{n}/file_size_minus_1", m.patch((8, "<I", L - 1)), R.HEADER_FILE_SIZE)
    c.add(f"{n}/trailing_bytes", d + bytes(16), R.HEADER_FILE_SIZE)
    c.add(f"{n}/magic", b"ECGX" + d[4:], R.HEADER_MAGIC)
    for v in (0, VERSION + 1, 0xFFFF):
        c.add(f"{n}/version_{v}", m.patch((4, "<H", v)), R.HEADER_VERSION)
    for hs in (32, 65):
        c.add(f"{n}/header_size_{hs}", m.patch((6, "<H", hs)), R.HEADER_HEADER_SIZE)
    c.add(f"{n}/crc_field", m.patch((12, "<I", struct.unpack_from("<I", d, 12)[0] ^ 1), crc=False), R.HEADER_CRC32)
    for name, s in m.mb.sections.items():
        if s.size:
            b = bytearray(d)
            b[s.offset + s.size // 2] ^= 0x40
            c.add(f"{n}/bit_flip_in_{name}", bytes(b), R.HEADER_CRC32)
    for bit in (0, 31):
        c.add(f"{n}/flags_bit_{bit}", m.patch((16, "<I", 1 << bit)), R.HEADER_FLAGS)
    for off in (44, 63):
        c.add(f"{n}/reserved_byte_{off}", m.patch((off, "<B", 1)), R.HEADER_RESERVED)
    for ns in (0, 17):
        c.add(f"{n}/n_sections_{ns}", m.patch((20, "<I", ns)), R.HEADER_N_SECTIONS)
    c.add(f"{n}/n_sections_3", m.patch((20, "<I", 3)), R.SECTION_MISSING)
    first = min(range(len(m.entries)), key=lambda i: m.entries[i][1])
    c.add(f"{n}/n_sections_5", m.patch((20, "<I", 5)), R.SECTION_OFFSET, first)  # the 5th entry overlaps a section
    for so in (0, 80):
        c.add(f"{n}/section_table_offset_{so}", m.patch((24, "<I", so)), R.HEADER_SECTION_TABLE_OFFSET)
    arena = m.mb.arena_size
    c.add(f"{n}/arena_size_unaligned", m.patch((28, "<I", arena + 8)), R.HEADER_ARENA_SIZE)
    small = arena - 16
    t_bad = next((i for i, t in enumerate(m.mb.tensors) if t.arena_offset + t.size_bytes > small), None)
    if t_bad is not None:
        c.add(f"{n}/arena_size_minus_16", m.patch((28, "<I", small)), R.TENSOR_ARENA_RANGE, t_bad)
    c.add(f"{n}/n_tensors_0", m.patch((36, "<H", 0)), R.HEADER_N_TENSORS)
    c.add(f"{n}/n_ops_0", m.patch((38, "<H", 0)), R.HEADER_N_OPS)
    nt, no = len(m.mb.tensors), len(m.mb.ops)
    c.add(f"{n}/n_tensors_plus_1", m.patch((36, "<H", nt + 1)), R.SECTION_COUNT, m.entry_of[2])
    c.add(f"{n}/n_ops_plus_1", m.patch((38, "<H", no + 1)), R.SECTION_COUNT, m.entry_of[3])
    in_t, out_t = m.mb.input_tensor, m.mb.output_tensor
    c.add(f"{n}/input_tensor_out_of_range", m.patch((32, "<H", nt)), R.HEADER_INPUT_TENSOR)
    c.add(f"{n}/output_tensor_out_of_range", m.patch((34, "<H", nt)), R.HEADER_OUTPUT_TENSOR)
    c.add(f"{n}/output_tensor_is_input", m.patch((34, "<H", in_t)), R.HEADER_OUTPUT_TENSOR)
    other = next(t for t in range(nt) if t not in (in_t, out_t))
    c.add(f"{n}/input_tensor_moved", m.patch((32, "<H", other)), R.TENSOR_FLAGS, min(in_t, other))
    c.add(f"{n}/n_classes_plus_1", m.patch((40, "<I", m.mb.n_classes + 1)), R.HEADER_N_CLASSES)


def _section_table(m: _Model, c: _Cases) -> None:
    n, E = m.name, m.entries
    ent = lambda i, field: HEADER_SIZE + SECTION_ENTRY_SIZE * i + 4 * field  # noqa: E731
    for i, (_t, off, _size, _cnt) in enumerate(E):
        c.add(f"{n}/entry_{i}_type_9", m.patch((ent(i, 0), "<I", 9)), R.SECTION_TYPE, i)
        c.add(f"{n}/entry_{i}_type_0", m.patch((ent(i, 0), "<I", 0)), R.SECTION_TYPE, i)
        j = (i + 1) % len(E)
        c.add(f"{n}/entry_{i}_duplicates_{j}", m.patch((ent(i, 0), "<I", E[j][0])), R.SECTION_DUPLICATE, max(i, j))
        c.add(f"{n}/entry_{i}_offset_plus_4", m.patch((ent(i, 1), "<I", off + 4)), R.SECTION_ALIGN, i)
        for bad in (0, HEADER_SIZE):
            c.add(f"{n}/entry_{i}_offset_{bad}", m.patch((ent(i, 1), "<I", bad)), R.SECTION_OFFSET, i)
        c.add(f"{n}/entry_{i}_past_end", m.patch((ent(i, 1), "<I", align_up(len(m.data), 16))), R.SECTION_BOUNDS, i)
        c.add(f"{n}/entry_{i}_size_huge", m.patch((ent(i, 2), "<I", 0xFFFFFFF0)), R.SECTION_BOUNDS, i)
        later = sorted((o for _t2, o, _s, _c in E if o > off))
        if later:
            c.add(f"{n}/entry_{i}_overlaps_next", m.patch((ent(i, 2), "<I", later[0] - off + 16)), R.SECTION_OVERLAP)
    # any order of the table is legal
    perm = b"".join(m.data[HEADER_SIZE + SECTION_ENTRY_SIZE * i:HEADER_SIZE + SECTION_ENTRY_SIZE * (i + 1)]
                    for i in reversed(range(len(E))))
    c.add(f"{n}/table_reversed_valid", fix_crc(m.data[:HEADER_SIZE] + perm + m.data[m.table_end:]), None)
    for name, typ, d in (("TENSORS", 2, 1), ("OPS", 3, 1)):
        i = m.entry_of[typ]
        c.add(f"{n}/{name}_count_plus_1", m.patch((ent(i, 3), "<I", E[i][3] + d)), R.SECTION_COUNT, i)
        c.add(f"{n}/{name}_size_minus_16", m.patch((ent(i, 2), "<I", E[i][2] - 16)), R.SECTION_COUNT, i)
    i = m.entry_of[4]
    c.add(f"{n}/WEIGHTS_count_plus_1", m.patch((ent(i, 3), "<I", E[i][3] + 1)), R.SECTION_COUNT, i)
    i = m.entry_of[1]
    c.add(f"{n}/META_count_plus_1", m.patch((ent(i, 3), "<I", E[i][3] + 1)), R.META_ENTRY)
    c.add(f"{n}/META_count_minus_1", m.patch((ent(i, 3), "<I", E[i][3] - 1)), R.META_ENTRY)
    c.add(f"{n}/META_size_minus_1", m.patch((ent(i, 2), "<I", E[i][2] - 1)), R.META_ENTRY)


# ---------------------------------------------------------------- META

def _meta_entries(m: _Model) -> Iterator[tuple[int, int, int, int]]:
    """(key length offset, type offset, value offset, type) of each META entry."""
    s = m.sec("META")
    d, pos = m.data, s.offset
    for _ in range(s.count):
        klen = struct.unpack_from("<H", d, pos)[0]
        t_off = pos + 2 + klen
        t = d[t_off]
        yield pos, t_off, t_off + 1, t
        v = t_off + 1
        if t <= 2:
            pos = v + 4
        elif t == 3:
            pos = v + 4 + struct.unpack_from("<I", d, v)[0]
        elif t == 4:
            cnt, pos = struct.unpack_from("<I", d, v)[0], v + 4
            for _j in range(cnt):
                pos += 4 + struct.unpack_from("<I", d, pos)[0]
        else:
            pos = v + 4 + 4 * struct.unpack_from("<I", d, v)[0]


def _meta(m: _Model, c: _Cases) -> None:
    n = m.name
    entries = list(_meta_entries(m))
    k_off, t_off, v_off, _t = entries[0]
    c.add(f"{n}/meta_key_length_0", m.patch((k_off, "<H", 0)), R.META_KEY)
    c.add(f"{n}/meta_key_length_256", m.patch((k_off, "<H", 256)), R.META_KEY)
    c.add(f"{n}/meta_key_uppercase", m.patch((k_off + 2, "<B", ord("A"))), R.META_KEY)
    c.add(f"{n}/meta_key_length_255", m.patch((k_off, "<H", 255)),
          R.META_ENTRY if m.sec("META").size < 2 + 255 else R.META_KEY)
    c.add(f"{n}/meta_value_type_7", m.patch((t_off, "<B", 7)), R.META_VALUE_TYPE)
    s = next(e for e in entries if e[3] == 3)
    c.add(f"{n}/meta_string_length_huge", m.patch((s[2], "<I", 0x7FFFFFFF)), R.META_ENTRY)
    if struct.unpack_from("<I", m.data, s[2])[0] > 0:
        c.add(f"{n}/meta_string_not_utf8", m.patch((s[2] + 4, "<B", 0xFF)), R.META_UTF8)
        c.add(f"{n}/meta_string_overlong_utf8", m.patch((s[2] + 4, "<B", 0xC0)), R.META_UTF8)
    arr = [e for e in entries if e[3] == 4]
    if arr:
        c.add(f"{n}/meta_string_array_count_huge", m.patch((arr[0][2], "<I", 0x10000000)), R.META_ENTRY)
    if "plan" in m.mb.meta:
        plan = m.mb.meta["plan"].encode()
        i = m.data.index(plan, m.sec("META").offset)
        c.add(f"{n}/meta_plan_not_json", m.patch((i, f"{len(plan)}s", b"{" * len(plan))), R.META_PLAN)
        c.add(f"{n}/meta_plan_json_list", m.patch((i, f"{len(plan)}s", b"[]".ljust(len(plan)))), R.META_PLAN)


# ---------------------------------------------------------------- tensors

def _tensors(m: _Model, c: _Cases) -> None:
    n, T = m.name, m.mb.tensors
    picks = sorted({m.mb.input_tensor, len(T) // 2, m.mb.output_tensor})
    for t in picks:
        o = m.tensor_off(t)
        L, C = T[t].length, T[t].channels
        c.add(f"{n}/tensor_{t}_L_0", m.patch((o, "<I", 0)), R.TENSOR_SHAPE, t)
        c.add(f"{n}/tensor_{t}_C_0", m.patch((o + 4, "<I", 0)), R.TENSOR_SHAPE, t)
        c.add(f"{n}/tensor_{t}_elements_2^24+", m.patch((o, "<I", (1 << 24) // C + 1)), R.TENSOR_ELEMENTS, t)
        c.add(f"{n}/tensor_{t}_elements_overflow_u32", m.patch((o, "<I", 1 << 16), (o + 4, "<I", 1 << 16)),
              R.TENSOR_ELEMENTS, t)
        c.add(f"{n}/tensor_{t}_size_bytes", m.patch((o + 20, "<I", L * C + 1)), R.TENSOR_SIZE_BYTES, t)
        for zp in (128, -129):
            c.add(f"{n}/tensor_{t}_zero_point_{zp}", m.patch((o + 12, "<i", zp)), R.TENSOR_ZERO_POINT, t)
        c.add(f"{n}/tensor_{t}_arena_offset_unaligned", m.patch((o + 16, "<I", T[t].arena_offset + 2)),
              R.TENSOR_ARENA_OFFSET, t)
        c.add(f"{n}/tensor_{t}_arena_past_end", m.patch((o + 16, "<I", m.mb.arena_size)), R.TENSOR_ARENA_RANGE, t)
        c.add(f"{n}/tensor_{t}_flags_unknown_bit", m.patch((o + 24, "<I", T[t].flags | 4)), R.TENSOR_FLAGS, t)
        c.add(f"{n}/tensor_{t}_flags_toggled", m.patch((o + 24, "<I", T[t].flags ^ 1)), R.TENSOR_FLAGS, t)
        c.add(f"{n}/tensor_{t}_reserved", m.patch((o + 28, "<I", 1)), R.TENSOR_RESERVED, t)
        for nm, sc in (("0", 0.0), ("negative", -1.0), ("nan", float("nan")), ("inf", float("inf"))):
            c.add(f"{n}/tensor_{t}_scale_{nm}", m.patch((o + 8, "<f", sc)), R.TENSOR_SCALE, t)


# ---------------------------------------------------------------- ops

def _window_len(L: int, k: int, s: int, pl: int, pr: int, d: int) -> int:
    span = L + pl + pr - d * (k - 1) - 1
    return span // s + 1 if span >= 0 else 0


def _ops(m: _Model, c: _Cases) -> None:
    n, T, ops, v = m.name, m.mb.tensors, m.mb.ops, m.mb.version
    nt = len(T)
    for k, op in enumerate(ops):
        o = m.op_off(k)
        P = o + 28  # p0
        lab = f"{n}/op_{k}_{op.name}"
        add = lambda what, data, rule, k=k, lab=lab: c.add(f"{lab}_{what}", data, rule, k)  # noqa: E731
        for code in (9, 13 if v < 3 else 14, 200):  # LUT (13) is an op from version 3 on
            add(f"type_{code}", m.patch((o, "<H", code)), R.OP_TYPE)
        if v == 1:
            add("type_v2_op_in_v1", m.patch((o, "<H", OP_GELU)), R.OP_TYPE)
        add("reserved", m.patch((o + 10, "<H", 1)), R.OP_RESERVED)
        add("flags_bit_1", m.patch((o + 2, "<H", 2)), R.OP_FLAGS)
        if op.op >= OP_LAYERNORM:
            add("flags_relu_on_v2_op", m.patch((o + 2, "<H", 1)), R.OP_FLAGS)
        add("act_min_-129", m.patch((o + 12, "<i", -129)), R.OP_ACT_RANGE)
        add("act_max_128", m.patch((o + 16, "<i", 128)), R.OP_ACT_RANGE)
        add("act_min_above_max", m.patch((o + 12, "<i", op.act_max), (o + 16, "<i", op.act_max - 1)) if
            op.act_max > -128 else m.patch((o + 12, "<i", 0), (o + 16, "<i", -1)), R.OP_ACT_RANGE)
        add("in0_out_of_range", m.patch((o + 4, "<H", nt)), R.OP_TENSOR_ID)
        add("out_out_of_range", m.patch((o + 8, "<H", nt)), R.OP_TENSOR_ID)
        if op.in1 != NO_TENSOR:
            add("in1_out_of_range", m.patch((o + 6, "<H", nt)), R.OP_TENSOR_ID)
            add("in1_unset", m.patch((o + 6, "<H", NO_TENSOR)), R.OP_TENSOR_ID)
        else:
            add("in1_on_one_input_op", m.patch((o + 6, "<H", 0)), R.OP_IN1)
        add("in0_reads_own_output", m.patch((o + 4, "<H", op.out)), R.OP_READ_BEFORE_WRITE)
        add("out_is_graph_input", m.patch((o + 8, "<H", m.mb.input_tensor)), R.OP_WRITTEN_TWICE)
        if k:
            add("out_written_twice", m.patch((o + 8, "<H", ops[k - 1].out)), R.OP_WRITTEN_TWICE)
        if op.block is None:
            add("weight_block_0", m.patch((o + 20, "<I", 0)), R.OP_NO_WEIGHTS)
            add("weight_size_16", m.patch((o + 24, "<I", 16)), R.OP_NO_WEIGHTS)
        else:
            add("weight_block_none", m.patch((o + 20, "<I", NO_BLOCK)), R.BLOCK_MISSING)
            add("weight_block_unaligned", m.patch((o + 20, "<I", op.weight_block + 4)), R.BLOCK_ALIGN)
            add("weight_size_small", m.patch((o + 24, "<I", BLOCK_HEADER_SIZE - 1)), R.BLOCK_BOUNDS)
            add("weight_size_past_section", m.patch((o + 24, "<I", m.sec("WEIGHTS").size - op.weight_block + 1)),
                R.BLOCK_BOUNDS)
        _op_params(m, c, k, op, P, add)


def _op_params(m: _Model, c: _Cases, k: int, op, P: int, add) -> None:  # noqa: ANN001
    T, v = m.mb.tensors, m.mb.version
    a, out = T[op.in0], T[op.out]
    p = op.params
    put = lambda *iv: m.patch(*((P + 4 * i, "<I", x & 0xFFFFFFFF) for i, x in iv))  # noqa: E731
    neg = 0x80000000
    if op.op == OP_CONV1D:
        K, s, pl, pr, d, g = p[:6]
        for i, nm in ((0, "kernel"), (1, "stride"), (4, "dilation")):
            add(f"{nm}_0", put((i, 0)), R.OP_PARAMS)
        add("kernel_2^24+1", put((0, (1 << 24) + 1)), R.OP_PARAMS)
        add("pad_left_2^24+1", put((2, (1 << 24) + 1)), R.OP_PARAMS)
        add("reach_past_2^24", put((0, max(K, 3)), (4, 1 << 24)), R.OP_PARAMS)
        if K >= 2:
            # a reach past 2^24 with pads that keep the output length: only the reach rule is broken
            dil = (1 << 24) // (K - 1) + 1
            total = dil * (K - 1) + 1 - a.length + (out.length - 1) * s
            pad_l = min(total, 1 << 24)
            add("reach_past_2^24_pads_matching", put((2, pad_l), (3, total - pad_l), (4, dil)), R.OP_PARAMS)
        for nm, iv in (("stride_plus_1", (1, s + 1)), ("pad_left_plus_1", (2, pl + 1)),
                       ("dilation_plus_1", (4, d + 1))):
            new = list(p[:6])
            new[iv[0]] = iv[1]
            same = _window_len(a.length, new[0], new[1], new[2], new[3], new[4]) == out.length
            add(nm, put(iv), None if same else R.OP_SHAPE)
        add("groups_0", put((5, 0)), R.OP_PARAMS)
        bad_g = next(x for x in range(2, 64) if a.channels % x or out.channels % x)
        add(f"groups_{bad_g}", put((5, bad_g)), R.OP_PARAMS)
        two = next((x for x in range(2, 64) if a.channels % x == 0 and out.channels % x == 0
                    and not (x == a.channels == out.channels) and x != g), None)
        if two is not None:
            # version 1 may not group; version 2 may, and then the block's span disagrees
            add(f"groups_{two}", put((5, two)), R.OP_VERSION if v == 1 else R.BLOCK_SPAN)
    elif op.op == OP_LINEAR:
        pass  # no params; the block's rules below
    elif op.op == OP_ADD:
        for nm, iv in (("shift_0", (2, 0)), ("shift_63", (2, 63)), ("mult_a_negative", (0, neg)),
                       ("mult_b_negative", (1, neg))):
            add(nm, put(iv), R.OP_PARAMS)
    elif op.op in (OP_MAXPOOL1D, OP_AVGPOOL1D):
        K, s, pl, pr = p[:4]
        add("kernel_0", put((0, 0)), R.OP_PARAMS)
        add("stride_0", put((1, 0)), R.OP_PARAMS)
        add("pad_left_eq_kernel", put((2, K)), R.OP_PARAMS)
        add("pad_right_eq_kernel", put((3, K)), R.OP_PARAMS)
        add("kernel_2^24+1", put((0, (1 << 24) + 1)), R.OP_PARAMS)
        same = _window_len(a.length, K + 1, s, pl, pr, 1) == out.length
        add("kernel_plus_1", put((0, K + 1)), None if same else R.OP_SHAPE)
        if op.op == OP_AVGPOOL1D:
            add("kernel_2^23+1", put((0, (1 << 23) + 1)), R.OP_PARAMS)
            add("mult_negative", put((4, neg)), R.OP_PARAMS)
            add("shift_0", put((5, 0)), R.OP_PARAMS)
            add("shift_63", put((5, 63)), R.OP_PARAMS)
    elif op.op == OP_GLOBAL_AVGPOOL:
        add("mult_negative", put((0, neg)), R.OP_PARAMS)
        add("shift_0", put((1, 0)), R.OP_PARAMS)
    elif op.op == OP_LAYERNORM:
        add("eps_0", put((0, 0)), R.OP_PARAMS)
        add("p1_unused", put((1, 1)), R.OP_PARAMS)
    elif op.op == OP_GROUPNORM:
        add("groups_0", put((0, 0)), R.OP_PARAMS)
        add("groups_not_dividing", put((0, a.channels + 1)), R.OP_PARAMS)
        add("eps_0", put((1, 0)), R.OP_PARAMS)
        add("p2_unused", put((2, 1)), R.OP_PARAMS)
    elif op.op == OP_GELU:
        for nm, iv in (("b_int_2^11+1", (0, (1 << 11) + 1)), ("c_int_0", (1, 0)), ("c_int_2^22+1", (1, (1 << 22) + 1)),
                       ("mult_negative", (2, neg)), ("shift_0", (3, 0)), ("shift_63", (3, 63)), ("p4_unused", (4, 1))):
            add(nm, put(iv), R.OP_PARAMS)
    elif op.op == OP_SOFTMAX:
        for nm, iv in (("segment_0", (0, 0)), ("segment_not_dividing", (0, a.channels + 1)),
                       ("segment_2^14+1", (0, (1 << 14) + 1)), ("q_ln2_0", (1, 0)), ("q_ln2_2^20+1", (1, (1 << 20) + 1)),
                       ("q_b_2^20+1", (2, (1 << 20) + 1)), ("q_c_0", (3, 0)), ("q_c_2^30+1", (3, (1 << 30) + 1)),
                       ("pre_shift_17", (4, 17)), ("p5_unused", (5, 1))):
            add(nm, put(iv), R.OP_PARAMS)
    elif op.op == OP_LUT:
        add("p0_unused", put((0, 1)), R.OP_PARAMS)
        add("p8_unused", put((8, 1)), R.OP_PARAMS)
    elif op.op == OP_MATMUL:
        b = T[op.in1]
        bad_h = next(x for x in range(2, 64) if a.channels % x or b.channels % x)
        for nm, iv in (("heads_0", (0, 0)), (f"heads_{bad_h}", (0, bad_h)), ("transpose_2", (1, 2)),
                       ("mult_negative", (2, neg)), ("shift_0", (3, 0)), ("shift_63", (3, 63)), ("p4_unused", (4, 1))):
            add(nm, put(iv), R.OP_PARAMS)
        add("transpose_flipped", put((1, 1 - p[1])), None if _matmul_ok(a, b, out, p[0], 1 - p[1]) else R.OP_SHAPE)
    if op.block is not None:
        _block(m, c, k, op, add)


# ---------------------------------------------------------------- weight blocks

def _block(m: _Model, c: _Cases, k: int, op, add) -> None:  # noqa: ANN001
    blk = op.block
    B = blk.offset
    h = BLOCK_STRUCT.unpack_from(m.data, B)
    (_bits, enc, _res, c_out, span, K, nnz, o_bias, o_mult, o_shift, o_index, ib, o_values, vb) = h
    norm = op.op in (OP_LAYERNORM, OP_GROUPNORM)
    w = lambda off, fmt, val: m.patch((B + off, fmt, val))  # noqa: E731
    for bits in (0, 9):
        add(f"block_bits_{bits}", w(0, "<B", bits), R.BLOCK_BITS)
    add("block_encoding_3", w(1, "<B", 3), R.BLOCK_ENCODING)
    add("block_reserved", w(2, "<B", 1), R.BLOCK_RESERVED)
    add("block_c_out_plus_1", w(4, "<I", c_out + 1), R.BLOCK_C_OUT)
    add("block_c_out_0", w(4, "<I", 0), R.BLOCK_C_OUT)
    add("block_span_plus_1", w(8, "<I", span + 1), R.BLOCK_SPAN)
    add("block_span_0", w(8, "<I", 0), R.BLOCK_SPAN)
    add("block_kernel_plus_1", w(12, "<I", K + 1), R.BLOCK_KERNEL)
    add("block_kernel_0", w(12, "<I", 0), R.BLOCK_KERNEL)
    count = c_out * span
    bits = blk.bits
    vneed = lambda cnt: align_up((cnt * bits + 7) // 8, 4)  # noqa: E731
    if enc == ENC_DENSE:
        add("block_nnz_minus_1", w(16, "<I", nnz - 1), R.BLOCK_NNZ)
        add("block_nnz_count_plus_1", w(16, "<I", count + 1), R.BLOCK_NNZ)
        add("block_dense_index_bytes_4", w(36, "<I", 4), R.BLOCK_INDEX_BYTES)
        add("block_dense_off_index", w(32, "<I", o_values), R.BLOCK_INDEX_BYTES)
    else:
        add("block_nnz_count_plus_1", w(16, "<I", count + 1), R.BLOCK_NNZ)
        same_v = vneed(nnz + 1) == vb
        add("block_nnz_plus_1", w(16, "<I", nnz + 1),
            (R.BLOCK_MASK if enc == ENC_BITMASK else R.BLOCK_RUNS) if same_v else R.BLOCK_VALUES_BYTES)
        add("block_index_bytes_plus_4", w(36, "<I", ib + 4),
            R.BLOCK_INDEX_BYTES if o_index + ib + 4 <= blk.size else R.BLOCK_ARRAYS)
    add("block_off_bias_unaligned", w(20, "<I", o_bias + 2), R.BLOCK_ARRAYS)
    add("block_off_bias_in_header", w(20, "<I", BLOCK_HEADER_SIZE - 8), R.BLOCK_ARRAYS)
    add("block_off_mult_past_end", w(24, "<I", blk.size), R.BLOCK_ARRAYS)
    add("block_off_shift_past_end", w(28, "<I", align_up(blk.size, 4)), R.BLOCK_ARRAYS)
    add("block_off_values_past_end", w(40, "<I", align_up(blk.size, 4)),
        R.BLOCK_ARRAYS if vb else R.BLOCK_VALUES_BYTES)
    add("block_values_bytes_plus_4", w(44, "<I", vb + 4),
        R.BLOCK_ARRAYS if o_values + vb + 4 > blk.size else R.BLOCK_VALUES_BYTES)
    if vb >= 4:
        add("block_values_bytes_minus_4", w(44, "<I", vb - 4), R.BLOCK_VALUES_BYTES)
    add("block_mult_negative", w(o_mult, "<i", -1), R.BLOCK_MULT)
    add("block_mult_last_negative", w(o_mult + 4 * (c_out - 1), "<i", -(1 << 31)), R.BLOCK_MULT)
    for s in (0, 63, 0xFF):
        add(f"block_shift_{s}", w(o_shift, "<B", s), R.BLOCK_SHIFT)
    add("block_bias_bound", w(o_bias, "<i", (1 << 31) - 1), R.BLOCK_BOUND)
    add("block_bias_bound_negative", w(o_bias, "<i", -(1 << 31)), R.BLOCK_BOUND)
    if op.op == OP_LUT:  # the table block's fixed bias 0, M 0, n 1
        add("block_table_bias_1", w(o_bias, "<i", 1), R.BLOCK_TABLE)
        add("block_table_mult_1", w(o_mult, "<i", 1), R.BLOCK_TABLE)
        add("block_table_shift_2", w(o_shift, "<B", 2), R.BLOCK_TABLE)
    if norm:
        add("block_norm_bias_2^30+1", w(o_bias, "<i", (1 << 30) + 1), R.BLOCK_NORM)
        add("block_norm_bias_-2^30-1", w(o_bias, "<i", -(1 << 30) - 1), R.BLOCK_NORM)
    if enc == ENC_BITMASK:
        add("block_mask_bit_flipped", w(o_index, "<B", m.data[B + o_index] ^ 1), R.BLOCK_MASK)
        if count % 8:  # a bit past c_out*span: not part of the mask
            last = o_index + count // 8
            add("block_mask_padding_bit_valid", w(last, "<B", m.data[B + last] | 0x80), None)
    if enc == ENC_RUNLENGTH:
        ent = [struct.unpack_from("<I", m.data, B + o_index + 4 * ch)[0] for ch in range(c_out)]
        total = sum(ent)
        add("block_runs_entries_plus_1", w(o_index, "<I", ent[0] + 1),
            R.BLOCK_INDEX_BYTES if align_up(total + 1, 4) != align_up(total, 4) else R.BLOCK_RUNS)
        runs = B + o_index + 4 * c_out
        add("block_runs_value_to_skip", w(runs - B, "<B", 255), R.BLOCK_RUNS)
        # channel 0's first run made 254: past span, or a valid file whose weights moved
        if ent[0] and m.data[runs] != 255:
            ch0 = bytearray(m.data[runs:runs + ent[0]])
            ch0[0] = 254
            add("block_runs_first_254", w(runs - B, "<B", 254), None if _rl_walk_ok(bytes(ch0), span) else R.BLOCK_RUNS)


def _rl_walk_ok(runs: bytes, span: int) -> bool:
    """Whether one channel's run bytes keep every position inside [0, span)."""
    p = 0
    for r in runs:
        if r == 255:
            p += 255
            continue
        p += r
        if p >= span:
            return False
        p += 1
    return p <= span


def _matmul_ok(a, b, o, heads: int, tb: int) -> bool:  # noqa: ANN001
    """FORMAT.md section 6's MATMUL shape rule."""
    if heads < 1 or a.channels % heads or b.channels % heads:
        return False
    k = a.channels // heads
    if tb and b.channels != a.channels or not tb and b.length != k:
        return False
    return (o.length, o.channels) == (a.length, heads * (b.length if tb else b.channels // heads))


# ---------------------------------------------------------------- graph and memory plan

def _graph(m: _Model, c: _Cases) -> None:
    n, T, ops = m.name, m.mb.tensors, m.mb.ops
    # two weight blocks made to overlap: op b's block placed at op a's (same size needed)
    wk = [k for k, op in enumerate(ops) if op.block is not None]
    for a_, b_ in zip(wk, wk[1:], strict=False):
        if ops[a_].weight_size == ops[b_].weight_size and ops[a_].block.c_out == ops[b_].block.c_out:
            c.add(f"{n}/blocks_overlap_{a_}_{b_}", m.patch((m.op_off(b_) + 20, "<I", ops[a_].weight_block)),
                  R.BLOCK_OVERLAP)
            break
    # memory plan: an op's output placed over its input (refused at the op)
    for k, op in enumerate(ops):
        src = T[op.in0]
        if op.op != OP_ADD and T[op.out].size_bytes <= src.size_bytes:
            c.add(f"{n}/op_{k}_output_over_input", m.patch((m.tensor_off(op.out) + 16, "<I", src.arena_offset)),
                  R.PLAN_OVERLAP, status="ECG_RT_E_OP")
            break
    # memory plan: two tensors alive at the same time, no op between them, share bytes
    life = {m.mb.input_tensor: [-1, -1]}
    for k, op in enumerate(ops):
        life.setdefault(op.out, [k, k])
        for t in op.inputs:
            life[t][1] = k
    life[m.mb.output_tensor][1] = len(ops)
    linked = {frozenset((t, op.out)) for op in ops for t in op.inputs}
    for i in sorted(life):
        j = next((j for j in sorted(life) if j > i and frozenset((i, j)) not in linked
                  and life[i][0] <= life[j][1] and life[j][0] <= life[i][1]
                  and T[i].arena_offset + T[j].size_bytes <= m.mb.arena_size), None)
        if j is not None:
            c.add(f"{n}/plan_tensors_{i}_{j}_share_bytes", m.patch((m.tensor_off(j) + 16, "<I", T[i].arena_offset)),
                  R.PLAN_OVERLAP)
            break


# ---------------------------------------------------------------- host trailer

def _trailer(m: _Model, c: _Cases) -> None:
    n, d = m.name, m.data
    tr = host_trailer({"source_checkpoint": "runs/x/best.pt", "corpus.names": [f"op{k}" for k in range(len(m.mb.ops))]})
    c.add(f"{n}/trailer_valid", d + tr, None)
    c.add(f"{n}/trailer_magic", d + b"ECGX" + tr[4:], R.HEADER_FILE_SIZE)
    c.add(f"{n}/trailer_size", d + tr[:4] + struct.pack("<I", len(tr) + 1) + tr[8:], R.HEADER_FILE_SIZE)
    c.add(f"{n}/trailer_short", d + tr[:TRAILER_HEADER_SIZE - 1], R.HEADER_FILE_SIZE)
    c.add(f"{n}/trailer_crc", d + tr[:8] + struct.pack("<I", struct.unpack_from("<I", tr, 8)[0] ^ 1) + tr[12:],
          R.TRAILER_CRC32)
    bad = bytearray(tr)
    bad[TRAILER_HEADER_SIZE:TRAILER_HEADER_SIZE + 2] = struct.pack("<H", 0)  # first key length 0
    struct.pack_into("<I", bad, 8, zlib.crc32(bytes(bad[TRAILER_HEADER_SIZE:])) & 0xFFFFFFFF)
    c.add(f"{n}/trailer_meta_key_length_0", d + bytes(bad), R.TRAILER_META)
    c.add(f"{n}/trailer_key_also_in_meta", d + host_trailer({"task": "again"}), R.TRAILER_META)
    if "plan" not in m.mb.meta:
        c.add(f"{n}/trailer_plan_not_json", d + host_trailer({"plan": "{"}), R.META_PLAN)
        c.add(f"{n}/trailer_plan_valid", d + host_trailer({"plan": "{}"}), None)


# ---------------------------------------------------------------- hand-laid files (size limits)

def _raw_linear(n_in: tuple[int, int], c_out: int, span: int, arrays: str, orphan_output: bool = False) -> bytes:
    """A one-op LINEAR model: input (L, C), output (1, c_out), a block of c_out x span zero
    weights (8-bit DENSE). arrays "none": the block is only its header (the limit check comes
    first); "no_values": bias, mult and shift but no values; "all": a complete block.
    orphan_output: the graph output is a third tensor no op produces."""
    L, C = n_in
    nvals = align_up((c_out * span * 8 + 7) // 8, 4)
    body = b""
    if arrays != "none":
        body = (struct.pack(f"<{c_out}i", *([0] * c_out)) + struct.pack(f"<{c_out}i", *([1 << 30] * c_out))
                + bytes([31] * c_out).ljust(align_up(c_out, 4), b"\0"))
    if arrays == "all":
        body += bytes(nvals)
    hdr = BLOCK_STRUCT.pack(8, ENC_DENSE, 0, c_out, span, 1, 0, 48, 48 + 4 * c_out, 48 + 8 * c_out, 0, 0,
                            48 + 8 * c_out + align_up(c_out, 4), nvals)
    block = hdr + body
    arena = align_up(L * C + c_out, 16) + 16
    tensors = (TENSOR_STRUCT.pack(L, C, 0.05, 0, 0, L * C, 1, 0)
               + TENSOR_STRUCT.pack(1, c_out, 0.1, 0, align_up(L * C, 4), c_out, 0 if orphan_output else 2, 0))
    if orphan_output:
        tensors += TENSOR_STRUCT.pack(1, c_out, 0.1, 0, align_up(L * C, 4), c_out, 2, 0)
    ops = struct.pack("<HHHHHHiiII9I", OP_LINEAR, 0, 0, NO_TENSOR, 1, 0, -128, 127, 0, len(block), *([0] * 9))
    meta = struct.pack("<H", 8) + b"producer" + bytes([3]) + struct.pack("<I", 6) + b"corpus"
    nt = 3 if orphan_output else 2
    secs = [(1, meta, 1), (2, tensors, nt), (3, ops, 1), (4, block, 1)]
    pos, body_bytes, table = HEADER_SIZE + SECTION_ENTRY_SIZE * 4, b"", b""
    for typ, blob, cnt in secs:
        table += SECTION_STRUCT.pack(typ, pos, len(blob), cnt)
        pad = align_up(len(blob), 16) - len(blob)
        body_bytes += blob + bytes(pad)
        pos += len(blob) + pad
    size = HEADER_SIZE + len(table) + len(body_bytes)
    header = HEADER_STRUCT.pack(b"ECGB", 1, HEADER_SIZE, size, 0, 0, 4, HEADER_SIZE, arena, 0, nt - 1, nt, 1, c_out,
                                bytes(20))
    return fix_crc(header + table + body_bytes)


def _limits(c: _Cases) -> None:
    big = (1 << 20, 16)  # 2^24 input elements, the tensor limit
    # c_out * span = 2^28 exactly: allowed by the limit, then refused because the block holds no weights
    c.add("raw/linear_2^28_weights", _raw_linear(big, 16, 1 << 24, arrays="no_values"), R.BLOCK_ARRAYS, 0)
    c.add("raw/linear_2^28+2^24_weights", _raw_linear(big, 17, 1 << 24, arrays="none"), R.BLOCK_LIMIT, 0)
    c.add("raw/linear_2^31_weights", _raw_linear(big, 128, 1 << 24, arrays="none"), R.BLOCK_LIMIT, 0)
    c.add("raw/input_2^24+16_elements", _raw_linear(((1 << 20) + 1, 16), 4, ((1 << 20) + 1) * 16, arrays="none"),
          R.TENSOR_ELEMENTS, 0)
    c.add("raw/linear_small_values_missing", _raw_linear((4, 2), 3, 8, arrays="no_values"), R.BLOCK_ARRAYS, 0)
    c.add("raw/linear_small_valid", _raw_linear((4, 2), 3, 8, arrays="all"), None)
    c.add("raw/output_never_produced", _raw_linear((4, 2), 3, 8, arrays="all", orphan_output=True),
          R.HEADER_OUTPUT_TENSOR, status="ECG_RT_E_OP")


# ---------------------------------------------------------------- assembly

def bases() -> dict[str, bytes]:
    return {name: (GOLDEN_DIR / f"{name}.bin").read_bytes() for name in BASES}


def cases() -> list[Case]:
    c = _Cases()
    for name, data in bases().items():
        m = _Model(name, data)
        c.add(f"{name}/valid", data, None)
        for part in (_header, _section_table, _meta, _tensors, _ops, _graph, _trailer):
            part(m, c)
    _limits(c)
    names = [x.name for x in c.out]
    dup = {x for x in names if names.count(x) > 1}
    if dup:
        raise AssertionError(f"corpus case names repeat: {sorted(dup)[:5]}")
    return c.out


def write_corpus(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for case in cases():
        fname = case.name.replace("/", "__").replace("^", "p") + ".bin"
        atomic.write_bytes(out / fname, case.data)
        index.append({**{k: v for k, v in asdict(case).items() if k != "data"}, "file": fname})
    atomic.write_text(out / "index.json", json.dumps({"format": "ecg-edge malformed model.bin corpus",
                                                     "cases": index}, indent=1) + "\n")
    return len(index)


def write_seeds(out: Path) -> int:
    """One fuzz seed ([ctrl=1][model]) per rule, the first case of each, for runtime_c's fuzz
    harness (its driver holds 512 seeds at most)."""
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str | None] = set()
    n = 0
    for case in cases():
        if case.rule in seen or case.host_only:
            continue
        seen.add(case.rule)
        (out / f"corpus_{(case.rule or 'valid').replace('.', '_')}.seed").write_bytes(b"\x01" + case.data)
        n += 1
    return n


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="write every case and index.json here")
@click.option("--seeds", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="write one fuzz seed per rule here")
def command(out: Path | None, seeds: Path | None) -> None:
    if not out and not seeds:
        raise click.UsageError("give --out and/or --seeds")
    if out:
        print(f"{write_corpus(out)} corpus cases in {out}")
    if seeds:
        print(f"{write_seeds(seeds)} corpus seeds in {seeds}")


main = entry_point(command, "python -m ecg_edge.modelbin.corpus")

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
