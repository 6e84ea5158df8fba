"""Validating reader: model.bin bytes -> ModelBin, refusing everything export/FORMAT.md section 10
lists with a ModelFormatError naming the field and carrying the rule's stable id (rules.py; the
C loader reports the same ids). Every slice is bounds-checked before it is taken (numpy and
bytes slicing silently truncate), so a hostile file cannot cause an out-of-bounds read."""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ecg_edge.errors import ModelFormatError
from ecg_edge.layerplan.bitpack import ENC_DENSE, ENC_RUNLENGTH
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.blocks import decode_levels
from ecg_edge.modelbin.layout import (
    ARENA_ALIGN,
    BLOCK_ALIGN,
    BLOCK_HEADER_SIZE,
    BLOCK_STRUCT,
    HEADER_SIZE,
    HEADER_STRUCT,
    MAGIC,
    MAX_LAYER_WEIGHTS,
    MAX_SECTIONS,
    MAX_TENSOR_ELEMENTS,
    NO_BLOCK,
    NO_TENSOR,
    OP_RECORD_SIZE,
    OP_STRUCT,
    OPF_RELU,
    SEC_OPS,
    SEC_TENSORS,
    SEC_WEIGHTS,
    SECTION_ALIGN,
    SECTION_ENTRY_SIZE,
    SECTION_NAMES,
    SECTION_STRUCT,
    TENSOR_OFFSET_ALIGN,
    TENSOR_RECORD_SIZE,
    TENSOR_STRUCT,
    TF_INPUT,
    TF_OUTPUT,
    TRAILER_HEADER_SIZE,
    TRAILER_MAGIC,
    TRAILER_STRUCT,
    VERSION,
    align_up,
)
from ecg_edge.modelbin.meta import decode_meta
from ecg_edge.modelbin.ops import REGISTRY, op_def, runnable_summary
from ecg_edge.modelbin.planner import PlanOp, lifetimes
from ecg_edge.modelbin.records import ModelBin, OpInfo, Section, TensorInfo, WeightBlock

__all__ = ["ModelBin", "OpInfo", "Section", "TensorInfo", "WeightBlock", "device_image", "read_model",
           "read_model_file"]


def read_model_file(path: str | Path) -> ModelBin:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ModelFormatError(f"{p}: cannot read model file ({exc.strerror or exc})") from exc
    return read_model(data, str(p))


def _trailer_framing(tail: bytes, file_size: int, total: int, err: Callable[..., ModelFormatError]) -> bytes:
    """Bytes after file_size must be a host trailer (FORMAT.md section 4, "Flash bytes"): its magic
    and trailer_size, what the C loader checks too (rule header.file_size)."""
    what = f"header field 'file_size' is {file_size} but the buffer holds {total} bytes"
    if len(tail) < TRAILER_HEADER_SIZE or tail[:4] != TRAILER_MAGIC:
        raise err(f"{what}, and the {len(tail)} bytes after file_size are not a host trailer "
                  f"(expected magic {TRAILER_MAGIC!r} and a {TRAILER_HEADER_SIZE}-byte trailer header)",
                  R.HEADER_FILE_SIZE)
    size = TRAILER_STRUCT.unpack_from(tail, 0)[1]
    if size != len(tail):
        raise err(f"host trailer field 'trailer_size' is {size} but {len(tail)} bytes follow file_size {file_size}",
                  R.HEADER_FILE_SIZE)
    return tail


def _read_trailer(tail: bytes, meta: dict, source: str, err: Callable[..., ModelFormatError]) -> dict:
    """The host trailer's META entries (only the host reads them: its CRC and entries are host
    rules, checked after the device image)."""
    _, _size, crc, count = TRAILER_STRUCT.unpack_from(tail, 0)
    body = tail[TRAILER_HEADER_SIZE:]
    actual = zlib.crc32(body) & 0xFFFFFFFF
    if crc != actual:
        raise err(f"host trailer field 'crc32' is 0x{crc:08x} but its entries hash to 0x{actual:08x} (corrupted)",
                  R.TRAILER_CRC32)
    try:
        host_meta = decode_meta(body, count, f"{source} host trailer")
    except ModelFormatError as exc:
        raise ModelFormatError(str(exc), R.TRAILER_META) from exc
    twice = sorted(set(meta) & set(host_meta))
    if twice:
        raise err(f"META keys {twice} appear in both the META section and the host trailer", R.TRAILER_META)
    return host_meta


def device_image(data: bytes) -> bytes:
    """The bytes of a model.bin that are flashed: [0, file_size) when a host trailer follows;
    any other buffer unchanged (the loaders then judge it)."""
    data = bytes(data)
    if len(data) < HEADER_SIZE or data[:4] != MAGIC:
        raise ModelFormatError(f"not a model.bin ({len(data)} bytes, magic {data[:4]!r})")
    end = HEADER_STRUCT.unpack_from(data, 0)[3]
    return data[:end] if HEADER_SIZE <= end < len(data) and data[end:end + 4] == TRAILER_MAGIC else data


def read_model(data: bytes, source: str = "model.bin") -> ModelBin:
    """Validate a device image, or a device image followed by its host trailer (whose keys are
    merged into `meta`; ModelBin.host_keys names them), in the C loader's order
    (runtime_c/src/loader.c): a file breaking one rule of FORMAT.md section 10 is refused by
    both for the same rule (ModelFormatError.rule). What only the host reads (the trailer's
    body, tensor scales, the plan) is checked last."""
    data = bytes(data)

    def err(msg: str, rule: str, index: int | None = None) -> ModelFormatError:
        return ModelFormatError(f"{source}: {msg}", rule, index)

    if len(data) < HEADER_SIZE:
        raise err(f"file is {len(data)} bytes, shorter than the {HEADER_SIZE}-byte header (truncated?)", R.FILE_TRUNCATED)
    (magic, version, header_size, file_size, crc, flags, n_sections, sec_off, arena_size, in_t, out_t,
     n_tensors, n_ops, n_classes, reserved) = HEADER_STRUCT.unpack_from(data, 0)
    if magic != MAGIC:
        raise err(f"header field 'magic' is {magic!r}, expected {MAGIC!r} (not a model.bin)", R.HEADER_MAGIC)
    if not 1 <= version <= VERSION:
        raise err(f"header field 'version' is {version}, this reader supports versions 1..{VERSION}", R.HEADER_VERSION)
    if header_size != HEADER_SIZE:
        raise err(f"header field 'header_size' is {header_size}, expected {HEADER_SIZE}", R.HEADER_HEADER_SIZE)
    full, tail = data, b""
    if HEADER_SIZE <= file_size < len(data):
        tail = _trailer_framing(data[file_size:], file_size, len(data), err)
        data = data[:file_size]
    if file_size != len(data):
        raise err(f"header field 'file_size' is {file_size} but the buffer holds {len(data)} bytes"
                  + (" (truncated)" if file_size > len(data) else ""), R.HEADER_FILE_SIZE)
    actual = zlib.crc32(data[HEADER_SIZE:]) & 0xFFFFFFFF
    if crc != actual:
        raise err(f"header field 'crc32' is 0x{crc:08x} but bytes [64, {file_size}) hash to 0x{actual:08x} (corrupted)",
                  R.HEADER_CRC32)
    if flags != 0:
        raise err(f"header field 'flags' is 0x{flags:x}: unknown flag bits (expected 0)", R.HEADER_FLAGS)
    if any(reserved):
        raise err("header field 'reserved' is not zero", R.HEADER_RESERVED)
    if not 1 <= n_sections <= MAX_SECTIONS:
        raise err(f"header field 'n_sections' is {n_sections}, expected 1..{MAX_SECTIONS}", R.HEADER_N_SECTIONS)
    if sec_off != HEADER_SIZE:
        raise err(f"header field 'section_table_offset' is {sec_off}, expected {HEADER_SIZE}",
                  R.HEADER_SECTION_TABLE_OFFSET)
    if arena_size % ARENA_ALIGN:
        raise err(f"header field 'arena_size' {arena_size} is not a multiple of {ARENA_ALIGN}", R.HEADER_ARENA_SIZE)
    if n_tensors < 1:
        raise err("header field 'n_tensors' is 0", R.HEADER_N_TENSORS)
    if n_ops < 1:
        raise err("header field 'n_ops' is 0", R.HEADER_N_OPS)
    if in_t >= n_tensors:
        raise err(f"header field 'input_tensor' {in_t} >= n_tensors {n_tensors}", R.HEADER_INPUT_TENSOR)
    if out_t >= n_tensors:
        raise err(f"header field 'output_tensor' {out_t} >= n_tensors {n_tensors}", R.HEADER_OUTPUT_TENSOR)
    if in_t == out_t:
        raise err("header fields 'input_tensor' and 'output_tensor' are the same tensor", R.HEADER_OUTPUT_TENSOR)
    table_end = sec_off + SECTION_ENTRY_SIZE * n_sections
    if table_end > file_size:
        raise err(f"section table: {n_sections} entries end at byte {table_end}, past the {file_size}-byte file",
                  R.SECTION_TABLE)
    table = data[sec_off:table_end]

    sections: dict[int, Section] = {}
    entry: dict[int, int] = {}
    for i in range(n_sections):
        typ, off, size, count = SECTION_STRUCT.unpack_from(table, i * SECTION_ENTRY_SIZE)
        name = SECTION_NAMES.get(typ)
        label = f"section table entry {i}" + (f" ({name})" if name else "")
        if name is None:
            raise err(f"{label}: unknown section type {typ} (expected 1 META, 2 TENSORS, 3 OPS, 4 WEIGHTS)",
                      R.SECTION_TYPE, i)
        if typ in sections:
            raise err(f"{label}: duplicate section type {name}", R.SECTION_DUPLICATE, i)
        if off % SECTION_ALIGN:
            raise err(f"{label}: offset {off} is not aligned to {SECTION_ALIGN}", R.SECTION_ALIGN, i)
        if off < table_end:
            raise err(f"{label}: offset {off} lies inside the header/section table (ends at {table_end})",
                      R.SECTION_OFFSET, i)
        if off + size > file_size:
            raise err(f"{label}: offset {off} + size {size} exceeds file_size {file_size}", R.SECTION_BOUNDS, i)
        sections[typ] = Section(typ, off, size, count)
        entry[typ] = i
    for typ, name in SECTION_NAMES.items():
        if typ not in sections:
            raise err(f"section table: section {name} is missing", R.SECTION_MISSING)
    spans = sorted(sections.values(), key=lambda s: s.offset)
    for a, b in zip(spans, spans[1:], strict=False):
        if a.offset + a.size > b.offset:
            raise err(f"section table: {SECTION_NAMES[a.type]} [{a.offset}, {a.offset + a.size}) overlaps "
                      f"{SECTION_NAMES[b.type]} at {b.offset}", R.SECTION_OVERLAP)
    S = {SECTION_NAMES[t]: s for t, s in sections.items()}
    ts, os_ = S["TENSORS"], S["OPS"]
    for name, typ, n, rec in (("TENSORS", SEC_TENSORS, n_tensors, TENSOR_RECORD_SIZE),
                              ("OPS", SEC_OPS, n_ops, OP_RECORD_SIZE)):
        sec, what = S[name], name.lower()
        if sec.count != n:
            raise err(f"section {name}: count {sec.count} disagrees with header field 'n_{what}' {n}",
                      R.SECTION_COUNT, entry[typ])
        if sec.size != rec * n:
            raise err(f"section {name}: size {sec.size}, expected {rec} x {n} {what}", R.SECTION_COUNT, entry[typ])

    # META
    ms = S["META"]
    meta = decode_meta(data[ms.offset:ms.offset + ms.size], ms.count, source)

    # TENSORS
    tbytes = data[ts.offset:ts.offset + ts.size]
    tensors: list[TensorInfo] = []
    for i in range(n_tensors):
        L, C, scale, zp, aoff, sz, tflags, tres = TENSOR_STRUCT.unpack_from(tbytes, i * TENSOR_RECORD_SIZE)
        lab = f"tensor {i}"
        if L < 1 or C < 1:
            raise err(f"{lab}: shape L={L}, C={C}; both must be >= 1", R.TENSOR_SHAPE, i)
        if L * C > MAX_TENSOR_ELEMENTS:
            raise err(f"{lab}: shape L={L} x C={C} = {L * C} elements overflows the limit 2^24", R.TENSOR_ELEMENTS, i)
        if sz != L * C:
            raise err(f"{lab}: field 'size_bytes' {sz} disagrees with L*C = {L * C}", R.TENSOR_SIZE_BYTES, i)
        if not -128 <= zp <= 127:
            raise err(f"{lab}: field 'zero_point' {zp} outside -128..127", R.TENSOR_ZERO_POINT, i)
        if aoff % TENSOR_OFFSET_ALIGN:
            raise err(f"{lab}: field 'arena_offset' {aoff} not aligned to {TENSOR_OFFSET_ALIGN}", R.TENSOR_ARENA_OFFSET, i)
        if aoff + sz > arena_size:
            raise err(f"{lab}: arena_offset {aoff} + size {sz} exceeds header field 'arena_size' {arena_size}",
                      R.TENSOR_ARENA_RANGE, i)
        want = (TF_INPUT if i == in_t else 0) | (TF_OUTPUT if i == out_t else 0)
        if tflags != want:
            raise err(f"{lab}: field 'flags' 0x{tflags:x} disagrees with header input_tensor/output_tensor "
                      f"(expected 0x{want:x})", R.TENSOR_FLAGS, i)
        if tres:
            raise err(f"{lab}: field 'reserved' is not zero", R.TENSOR_RESERVED, i)
        tensors.append(TensorInfo(L, C, scale, zp, aoff, sz, tflags))
    if tensors[out_t].size_bytes != n_classes:
        raise err(f"header field 'n_classes' {n_classes} disagrees with the output tensor's "
                  f"{tensors[out_t].size_bytes} elements", R.HEADER_N_CLASSES)

    # OPS
    obytes = data[os_.offset:os_.offset + os_.size]
    ws = S["WEIGHTS"]
    wdata = data[ws.offset:ws.offset + ws.size]
    ops: list[OpInfo] = []
    produced = [False] * n_tensors
    produced[in_t] = True
    block_spans: list[tuple[int, int, int]] = []
    for k in range(n_ops):
        rec = OP_STRUCT.unpack_from(obytes, k * OP_RECORD_SIZE)
        op = OpInfo(rec[0], rec[1], rec[2], rec[3], rec[4], rec[6], rec[7], rec[8], rec[9], list(rec[10:19]))
        lab = f"op {k} ({op.name})"
        operr = functools.partial(_at, err, k)
        od = REGISTRY.get(op.op)
        if od is None or od.min_version > version:
            raise operr(f"{lab}: field 'op type' {op.op} is not supported by format version {version} "
                        f"runtimes (runnable: {runnable_summary(version)})", R.OP_TYPE)
        if rec[5]:
            raise operr(f"{lab}: field 'reserved' is not zero", R.OP_RESERVED)
        if op.flags & ~OPF_RELU:
            raise operr(f"{lab}: field 'flags' 0x{op.flags:x} has unknown bits", R.OP_FLAGS)
        if not (-128 <= op.act_min <= op.act_max <= 127):
            raise operr(f"{lab}: act_min {op.act_min} / act_max {op.act_max} must satisfy "
                        "-128 <= act_min <= act_max <= 127", R.OP_ACT_RANGE)
        needs_in1 = od.n_inputs == 2
        for fname, t in (("in0", op.in0), ("out", op.out), ("in1", op.in1 if needs_in1 else 0)):
            if t >= n_tensors:
                raise operr(f"{lab}: field '{fname}' tensor id {t} >= n_tensors {n_tensors}", R.OP_TENSOR_ID)
        if not needs_in1 and op.in1 != NO_TENSOR:
            raise operr(f"{lab}: field 'in1' is {op.in1}, expected 0xFFFF (unused)", R.OP_IN1)
        for fname, t in (("in0", op.in0), ("in1", op.in1 if needs_in1 else None)):
            if t is not None and not produced[t]:
                raise operr(f"{lab}: field '{fname}' reads tensor {t} before any op produces it", R.OP_READ_BEFORE_WRITE)
        if produced[op.out]:
            raise operr(f"{lab}: field 'out' tensor {op.out} is already produced (the graph input or an earlier op)",
                        R.OP_WRITTEN_TWICE)
        produced[op.out] = True
        od.check(op, tensors, lab, operr)
        need = od.version_needed(op.params, tensors[op.in0].channels, tensors[op.out].channels)
        if need > version:
            raise operr(f"{lab}: needs format version {need} but the header says version {version}", R.OP_VERSION)
        if od.has_weights:
            op.block = _read_block(op, wdata, ws, tensors, lab, operr, source)
            od.check_block(op, f"{lab} weight block", operr)
            block_spans.append((op.weight_block, op.weight_block + op.weight_size, k))
        elif op.weight_block != NO_BLOCK or op.weight_size != 0:
            raise operr(f"{lab}: field 'weight_block' is {op.weight_block} / weight_size {op.weight_size}; "
                        "ops without weights need 0xFFFFFFFF / 0", R.OP_NO_WEIGHTS)
        ops.append(op)
    if not produced[out_t]:
        raise err(f"header field 'output_tensor' {out_t} is never produced by an op", R.HEADER_OUTPUT_TENSOR)
    if ws.count != len(block_spans):
        raise err(f"section WEIGHTS: count {ws.count} disagrees with the {len(block_spans)} ops that have weights",
                  R.SECTION_COUNT, entry[SEC_WEIGHTS])
    block_spans.sort()
    for (_a0, a1, ka), (b0, _, kb) in zip(block_spans, block_spans[1:], strict=False):
        if a1 > b0:
            raise err(f"op {ka} and op {kb}: weight blocks overlap in the WEIGHTS section", R.BLOCK_OVERLAP)
    _check_arena(tensors, ops, in_t, out_t, err)
    host_meta = _read_trailer(tail, meta, source, err) if tail else {}
    meta.update(host_meta)
    _check_host_fields(meta, tensors, err)
    return ModelBin(source, version, file_size, arena_size, in_t, out_t, n_classes,
                    S, meta, tensors, ops, full, tuple(host_meta))


def _at(err: Callable[..., ModelFormatError], index: int, msg: str, rule: str) -> ModelFormatError:
    """An op's refusal: the op index goes with the rule."""
    return err(msg, rule, index)


def _check_host_fields(meta: dict, tensors: list[TensorInfo], err: Callable[..., ModelFormatError]) -> None:
    """Fields only the host reads (the C loader does not: FORMAT.md section 10): the tensor
    scales (to quantize inputs) and the META plan (evaluate, run, inspect; in the META section or
    the host trailer)."""
    for i, t in enumerate(tensors):
        if not np.isfinite(t.scale) or t.scale <= 0:
            raise err(f"tensor {i}: field 'scale' {t.scale} must be positive and finite", R.TENSOR_SCALE, i)
    if "plan" in meta:  # read by evaluate/run/inspect: a broken one is refused here, once
        try:
            plan_meta = json.loads(meta["plan"]) if isinstance(meta["plan"], str) else meta["plan"]
        except (json.JSONDecodeError, TypeError) as exc:
            raise err(f"META 'plan' is not valid JSON ({exc})", R.META_PLAN) from exc
        if not isinstance(plan_meta, dict):
            raise err(f"META 'plan' is a JSON {type(plan_meta).__name__}, expected an object", R.META_PLAN)


def _read_block(op: OpInfo, wdata: bytes, ws: Section, T: list[TensorInfo], lab: str,
                err: Callable[[str, str], ModelFormatError], source: str) -> WeightBlock:
    wb, wsz = op.weight_block, op.weight_size
    if wb == NO_BLOCK:
        raise err(f"{lab}: field 'weight_block' is 0xFFFFFFFF but the op needs weights", R.BLOCK_MISSING)
    if (ws.offset + wb) % BLOCK_ALIGN:
        raise err(f"{lab}: field 'weight_block' {wb} is not aligned to {BLOCK_ALIGN}", R.BLOCK_ALIGN)
    if wsz < BLOCK_HEADER_SIZE or wb + wsz > ws.size:
        raise err(f"{lab}: weight block [{wb}, {wb + wsz}) lies outside the {ws.size}-byte WEIGHTS section "
                  f"or is smaller than its {BLOCK_HEADER_SIZE}-byte header", R.BLOCK_BOUNDS)
    blk = wdata[wb:wb + wsz]
    (bits, enc, res, c_out, span, K, nnz, o_bias, o_mult, o_shift, o_index, index_bytes, o_values,
     values_bytes) = BLOCK_STRUCT.unpack_from(blk, 0)
    bl = f"{lab} weight block"
    if not 1 <= bits <= 8:
        raise err(f"{bl}: field 'bits' {bits} outside 1..8", R.BLOCK_BITS)
    if enc > ENC_RUNLENGTH:
        raise err(f"{bl}: field 'encoding' {enc} unknown (expected 0 DENSE, 1 BITMASK, 2 RUNLENGTH)", R.BLOCK_ENCODING)
    if res:
        raise err(f"{bl}: field 'reserved' is not zero", R.BLOCK_RESERVED)
    want_c = op_def(op.op).block_c_out(op, T)
    if c_out != want_c:
        raise err(f"{bl}: field 'c_out' {c_out} disagrees with the expected {want_c} (output tensor channels"
                  f" {T[op.out].channels})", R.BLOCK_C_OUT)
    want_span = op_def(op.op).block_span(op, T, K, bl, err)
    if span != want_span:
        raise err(f"{bl}: field 'span' {span} disagrees with kernel x C_in/groups = {want_span}", R.BLOCK_SPAN)
    if c_out * span > MAX_LAYER_WEIGHTS:
        raise err(f"{bl}: c_out {c_out} x span {span} = {c_out * span} weights exceeds the limit 2^28", R.BLOCK_LIMIT)
    if enc == ENC_DENSE and (o_index or index_bytes):
        raise err(f"{bl}: DENSE block has off_index {o_index} / index_bytes {index_bytes}, expected 0 / 0",
                  R.BLOCK_INDEX_BYTES)
    arrays = [("bias", o_bias, 4 * c_out), ("mult", o_mult, 4 * c_out), ("shift", o_shift, align_up(c_out, 4))]
    if enc != ENC_DENSE:
        arrays.append(("index", o_index, index_bytes))
    arrays.append(("values", o_values, values_bytes))
    for nm, off, size in arrays:
        if off % 4:
            raise err(f"{bl}: field 'off_{nm}' {off} not aligned to 4", R.BLOCK_ARRAYS)
        if off < BLOCK_HEADER_SIZE or off + size > wsz:
            raise err(f"{bl}: array '{nm}' [{off}, {off + size}) lies outside the {wsz}-byte block", R.BLOCK_ARRAYS)
    bias = np.frombuffer(blk, "<i4", c_out, o_bias).astype(np.int64)
    mult = np.frombuffer(blk, "<i4", c_out, o_mult).astype(np.int64)
    shift = np.frombuffer(blk, np.int8, c_out, o_shift).astype(np.int64)
    if (mult < 0).any():
        c = int(np.flatnonzero(mult < 0)[0])
        raise err(f"{bl}: multiplier of channel {c} is negative ({int(mult[c])})", R.BLOCK_MULT)
    if ((shift < 1) | (shift > 62)).any():
        c = int(np.flatnonzero((shift < 1) | (shift > 62))[0])
        raise err(f"{bl}: shift of channel {c} is {int(shift[c])}, outside 1..62", R.BLOCK_SHIFT)
    levels = decode_levels(blk, bl, bits, enc, c_out, span, nnz, o_index, index_bytes, o_values, values_bytes, err)
    bound = np.abs(bias) + 128 * np.abs(levels.astype(np.int64)).sum(axis=1)
    if (bound >= 1 << 31).any():
        c = int(np.argmax(bound))
        raise err(f"{bl}: channel {c} violates the int32 accumulator bound (|bias| + 128*sum|w| = {int(bound[c])})",
                  R.BLOCK_BOUND)
    return WeightBlock(bits, enc, c_out, span, K, nnz, bias, mult, shift, levels,
                       ws.offset + wb, wsz, index_bytes, values_bytes)


def _check_arena(T: list[TensorInfo], ops: list[OpInfo], in_t: int, out_t: int,
                 err: Callable[..., ModelFormatError]) -> None:
    """Tensors alive at the same time must not share arena bytes, except an in-place op's output
    that aliases (same offset and size) an input dying at that op."""
    pops = [PlanOp(o.op, o.inputs, o.out) for o in ops]
    life = lifetimes(len(T), pops, in_t, out_t)
    allowed: set[tuple[int, int]] = set()
    for k, o in enumerate(ops):
        if op_def(o.op).in_place:
            for t in o.inputs:
                if (T[t].arena_offset == T[o.out].arena_offset and T[t].size_bytes == T[o.out].size_bytes
                        and life[t][1] == k):
                    allowed.add((min(t, o.out), max(t, o.out)))
    live = [i for i in range(len(T)) if life[i][0] <= life[i][1]]
    order = sorted(live, key=lambda i: T[i].arena_offset)
    for x, i in enumerate(order):
        end_i = T[i].arena_offset + T[i].size_bytes
        for j in order[x + 1:]:
            if T[j].arena_offset >= end_i:
                break
            if life[i][1] < life[j][0] or life[j][1] < life[i][0]:
                continue
            if (min(i, j), max(i, j)) in allowed:
                continue
            raise err(f"memory plan: tensors {i} and {j} are alive at the same time and overlap in the arena "
                      f"([{T[i].arena_offset}, {end_i}) and [{T[j].arena_offset}, {T[j].arena_offset + T[j].size_bytes}))",
                      R.PLAN_OVERLAP)
