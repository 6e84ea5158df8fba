"""LUT (op 13, format version 3): an elementwise int8 -> int8 function as a 256-entry table,
out = table[q + 128]. The packer tabulates the exactly rounded function on the int8 grid (GELU:
no polynomial error at all); the table is a table block: DENSE, 8 bits, c_out 1, span 256,
K 1, bias 0, M 0, n 1. No parameters."""

from __future__ import annotations

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.layerplan.bitpack import ENC_DENSE
from ecg_edge.modelbin import intops
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.blocks import encode_block
from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import OP_LUT
from ecg_edge.modelbin.ops.base import Err, IntOp, OpDef, check_same_shape, check_v2_record
from ecg_edge.modelbin.records import OpInfo, TensorInfo


class Lut(OpDef):
    code = OP_LUT
    has_weights = True
    min_version = 3

    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        try:
            return intops.LUT_FUNCS[node.func](xs[0])
        except KeyError:
            raise EcgEdgeError(f"{node.name}: LUT function {node.func!r} unknown") from None

    def lower(self, g: Graph, node: GNode) -> IntOp:
        t_in, t_out = g.tensors[node.inputs[0]], g.tensors[node.output]
        try:
            table = intops.lut_table(node.func, t_in.scale, t_in.zero_point, t_out.scale, t_out.zero_point)
        except ValueError as exc:
            raise EcgEdgeError(f"{node.name}: {exc}") from exc
        block, enc = encode_block(table.reshape(1, -1), 8, 1, np.zeros(1, np.int64), np.zeros(1, np.int64),
                                  np.ones(1, np.int64), encoding=ENC_DENSE)
        return IntOp(node, -128, 127, [], block, enc, int(np.count_nonzero(table)))

    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        check_v2_record(op, 0, lab, err)
        check_same_shape(op, T, lab, err)

    def block_c_out(self, op: OpInfo, T: list[TensorInfo]) -> int:
        return 1

    def block_span(self, op: OpInfo, T: list[TensorInfo], kernel: int, bl: str, err: Err) -> int:
        if kernel != 1:
            raise err(f"{bl}: field 'kernel' {kernel} must be 1 for a table block", R.BLOCK_KERNEL)
        return intops.LUT_SIZE

    def check_block(self, op: OpInfo, bl: str, err: Err) -> None:
        blk = op.block
        assert blk is not None
        if blk.encoding != ENC_DENSE or blk.bits != 8:
            raise err(f"{bl}: a table block must be DENSE 8-bit, got encoding {blk.encoding}, bits {blk.bits}",
                      R.BLOCK_TABLE)
        if int(blk.bias[0]) != 0 or int(blk.mult[0]) != 0 or int(blk.shift[0]) != 1:
            raise err(f"{bl}: a table block has bias 0, M 0, n 1, got {int(blk.bias[0])}, "
                      f"{int(blk.mult[0])}, {int(blk.shift[0])}", R.BLOCK_TABLE)

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        blk = op.block
        assert blk is not None
        return intops.lut(xs[0], blk.levels[0], op.act_min, op.act_max)


OP = Lut()
