"""What LAYERNORM (op 7) and GROUPNORM (op 10) share (a helper module, not an op): the norm
block (DENSE, span 1, one level per channel, |bias| <= 2^30, FORMAT.md section 7), its
lowering from gamma/beta, and the float forward gamma * (x - mean) / sqrt(var + eps) + beta."""

from __future__ import annotations

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.layerplan.bitpack import ENC_DENSE
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.blocks import encode_block
from ecg_edge.modelbin.intops import (
    NORM_MAX_BIAS,
    NORM_MAX_N,
    NormAffine,
    norm_affine_levels,
    norm_eps,
)
from ecg_edge.modelbin.ir import GNode, Graph
from ecg_edge.modelbin.ops.base import Err, IntOp, OpDef, check_same_shape
from ecg_edge.modelbin.records import OpInfo, TensorInfo


class NormOp(OpDef):
    has_weights = True
    min_version = 2

    def affine_float(self, node: GNode, z: np.ndarray) -> np.ndarray:
        w = node.weights
        assert w is not None
        return z * (w.levels[:, 0] * w.scale) + w.bias

    def lower_affine(self, g: Graph, node: GNode, n_set: int, params_before_eps: list[int]) -> IntOp:
        t_in, t_out = g.tensors[node.inputs[0]], g.tensors[node.output]
        w = node.weights
        assert w is not None
        if n_set > NORM_MAX_N:
            raise EcgEdgeError(f"{node.name}: normalises {n_set} values at once; the integer sums allow {NORM_MAX_N}")
        aff = norm_affine_levels(w.levels[:, 0], w.scale, w.bias, t_out.scale)
        if (np.abs(aff.bias) >= NORM_MAX_BIAS).any():
            raise EcgEdgeError(f"{node.name}: beta / gamma too large for the int32 norm bias (|bias| >= 2^30)")
        block, enc = encode_block(aff.levels.reshape(-1, 1), 8, 1, aff.bias, aff.mult, aff.shift, encoding=ENC_DENSE)
        eps = norm_eps(node.eps, n_set, t_in.scale)
        return IntOp(node, -128, 127, [*params_before_eps, eps], block, enc, int(np.count_nonzero(aff.levels)))

    def check_shape(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        check_same_shape(op, T, lab, err)

    def block_span(self, op: OpInfo, T: list[TensorInfo], kernel: int, bl: str, err: Err) -> int:
        if kernel != 1:
            raise err(f"{bl}: field 'kernel' {kernel} must be 1 for a norm block", R.BLOCK_KERNEL)
        return 1

    def check_block(self, op: OpInfo, bl: str, err: Err) -> None:
        blk = op.block
        assert blk is not None
        if blk.encoding != ENC_DENSE:
            raise err(f"{bl}: a norm block must be DENSE (encoding 0), got {blk.encoding}", R.BLOCK_NORM)
        if (np.abs(blk.bias) > NORM_MAX_BIAS).any():
            c = int(np.argmax(np.abs(blk.bias)))
            raise err(f"{bl}: bias of channel {c} is {int(blk.bias[c])}, |bias| must be <= 2^30", R.BLOCK_NORM)

    @staticmethod
    def affine_of(op: OpInfo) -> NormAffine:
        blk = op.block
        assert blk is not None
        return NormAffine(blk.levels[:, 0].astype(np.int64), blk.bias, blk.mult, blk.shift)
