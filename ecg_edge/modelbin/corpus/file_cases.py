"""Corpus files breaking a file-level rule: header, section table, META, tensors, the graph
output, weight-block overlap, the memory plan, the host trailer, and hand-laid files for the
size limits (2^24 tensor elements, 2^28 weights per block)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from ecg_edge.layerplan.bitpack import ENC_DENSE
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.corpus.base import Cases, Model, fix_crc
from ecg_edge.modelbin.layout import (
    BLOCK_STRUCT,
    HEADER_SIZE,
    HEADER_STRUCT,
    NO_TENSOR,
    OP_ADD,
    OP_LINEAR,
    SECTION_ENTRY_SIZE,
    SECTION_STRUCT,
    TENSOR_STRUCT,
    TRAILER_HEADER_SIZE,
    VERSION,
    align_up,
)
from ecg_edge.modelbin.writer import host_trailer


def header_cases(m: Model, c: Cases) -> None:
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


def section_table_cases(m: Model, c: Cases) -> None:
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

def _meta_entries(m: Model) -> Iterator[tuple[int, int, int, int]]:
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


def meta_cases(m: Model, c: Cases) -> None:
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

def tensors_cases(m: Model, c: Cases) -> None:
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


# ---------------------------------------------------------------- graph and memory plan

def graph_cases(m: Model, c: Cases) -> None:
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

def trailer_cases(m: Model, c: Cases) -> None:
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


def limits_cases(c: Cases) -> None:
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


