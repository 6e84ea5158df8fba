"""Corpus files breaking an op's rule: record fields, tensor ids, graph order, each op's
parameters and shapes (FORMAT.md section 6), and its weight block (section 8)."""

from __future__ import annotations

import struct
from collections.abc import Callable

from ecg_edge.layerplan.bitpack import ENC_BITMASK, ENC_DENSE, ENC_RUNLENGTH
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.corpus.base import Cases, Model
from ecg_edge.modelbin.layout import (
    BLOCK_HEADER_SIZE,
    BLOCK_STRUCT,
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
    OP_SOFTMAX,
    align_up,
)
from ecg_edge.modelbin.records import OpInfo, TensorInfo

Add = Callable[[str, bytes, str | None], None]  # (case name suffix, bytes, rule)


def _window_len(L: int, k: int, s: int, pl: int, pr: int, d: int) -> int:
    span = L + pl + pr - d * (k - 1) - 1
    return span // s + 1 if span >= 0 else 0


def op_cases(m: Model, c: Cases) -> None:
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


def _op_params(m: Model, c: Cases, k: int, op: OpInfo, P: int, add: Add) -> None:
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

def _block(m: Model, c: Cases, k: int, op: OpInfo, add: Add) -> None:
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


def _matmul_ok(a: TensorInfo, b: TensorInfo, o: TensorInfo, heads: int, tb: int) -> bool:
    """FORMAT.md section 6's MATMUL shape rule."""
    if heads < 1 or a.channels % heads or b.channels % heads:
        return False
    k = a.channels // heads
    if tb and b.channels != a.channels or not tb and b.length != k:
        return False
    return (o.length, o.channels) == (a.length, heads * (b.length if tb else b.channels // heads))


