"""What every op module defines (export/FORMAT.md section 6), and the pieces several ops share.

An op is one `OpDef` subclass instance named `OP` in its own module of this package; the
registry (`ecg_edge.modelbin.ops`) finds it by its op code. Writer, reader, executor, planner,
calibration, the float forward and MAC counting all ask the registry, so an op's rules live in
one file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.blocks import encode_block
from ecg_edge.modelbin.ir import GNode, Graph, GTensor
from ecg_edge.modelbin.layout import MAX_TENSOR_ELEMENTS, OP_NAMES
from ecg_edge.modelbin.records import OpInfo, TensorInfo
from ecg_edge.numerics import INT8_MAX, INT8_MIN, quantize_multiplier

ACC_LIMIT = 1 << 31
MAX_POOL_SUM = 1 << 23
MAX_WINDOW_ELEMENTS = (1 << 31) - 1  # a CONV1D window's span in input elements (int32 offsets)
Err = Callable[[str, str], Exception]  # (message, rule id of ecg_edge.modelbin.rules)


@dataclass
class IntOp:
    """One op's integer parameters (the bytes of its OPS record and weight block)."""
    node: GNode
    act_min: int
    act_max: int
    params: list[int]
    block: bytes = b""
    encoding: int = -1
    nnz: int = 0


class OpDef:
    """One op of model.bin. Subclasses set `code` and override what applies to them."""
    code: int = -1
    n_inputs: int = 1
    has_weights: bool = False
    keeps_qparams: bool = False  # output (scale, zero point) must equal the input's
    fixed_qparams: tuple[float, int] | None = None  # output (scale, zero point) set by the op
    min_version: int = 1  # lowest model.bin version that may hold the op
    in_place: bool = False  # output may share the buffer of an input that dies at this op

    @property
    def name(self) -> str:
        return OP_NAMES[self.code]

    # -------------------------------------------------------------- float side (export graph)
    def float_forward(self, node: GNode, xs: list[np.ndarray], out: GTensor) -> np.ndarray:
        """Float value of the output (N, L, C) from the inputs' (before the fused ReLU)."""
        raise NotImplementedError

    def lower(self, g: Graph, node: GNode) -> IntOp:
        """Integer parameters (requantization, folded biases, weight block) of a calibrated node."""
        raise NotImplementedError

    # -------------------------------------------------------------- integer side (model.bin)
    def check(self, op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
        """Shape rule and parameter ranges (FORMAT.md section 10); raise err(message, rule) on a violation."""
        raise NotImplementedError

    def block_span(self, op: OpInfo, T: list[TensorInfo], kernel: int, bl: str, err: Err) -> int:
        """Weighted ops: the weight block's expected span (checking its 'kernel' field)."""
        raise NotImplementedError

    def block_c_out(self, op: OpInfo, T: list[TensorInfo]) -> int:
        """Weighted ops: the weight block's expected c_out (the output channels by default)."""
        return T[op.out].channels

    def check_block(self, op: OpInfo, bl: str, err: Err) -> None:
        """Weighted ops: rules on the decoded block beyond section 8's (none by default)."""

    def version_needed(self, params: list[int], c_in: int, c_out: int) -> int:
        """Lowest format version that may hold this op with these parameters and in0/out channels."""
        return self.min_version

    def run(self, op: OpInfo, xs: list[np.ndarray], T: list[TensorInfo]) -> np.ndarray:
        """int8 output (N, L, C) from int8 inputs, with FORMAT.md section 7's arithmetic."""
        raise NotImplementedError

    def macs(self, op: OpInfo, T: list[TensorInfo]) -> tuple[int, int]:
        """(dense, non-zero-weight) multiply-accumulates per inference; 0 for ops without weights."""
        return 0, 0


# ------------------------------------------------------------------ lowering helpers

def multiplier(real: float, where: str) -> tuple[int, int]:
    try:
        return quantize_multiplier(real)
    except ValueError as exc:
        raise EcgEdgeError(f"{where}: {exc}") from exc


def act_range(node: GNode, zp_out: int) -> tuple[int, int]:
    return (max(zp_out, INT8_MIN) if node.relu else INT8_MIN), INT8_MAX


def same_qparams(g: Graph, node: GNode) -> None:
    a, o = g.tensors[node.inputs[0]], g.tensors[node.output]
    if (a.scale, a.zero_point) != (o.scale, o.zero_point):
        raise EcgEdgeError(f"{node.name}: output quantization must equal the input's")


def lower_mean(g: Graph, node: GNode, count: int, params: list[int]) -> IntOp:
    """AVGPOOL1D/GLOBAL_AVGPOOL: a sum of `count` values (x - z_in) is requantized by
    M * 2^-n = s_in / (count * s_out), so the pair (M, n) follows the op's other params."""
    t_in, t_out = g.tensors[node.inputs[0]], g.tensors[node.output]
    m, n = multiplier(t_in.scale / (count * t_out.scale), f"{node.name}: requantization factor")
    return IntOp(node, *act_range(node, t_out.zero_point), [*params, m, n])


# ------------------------------------------------------------------ validation helpers

def check_window(op: OpInfo, T: list[TensorInfo], lab: str, err: Err, dil: int, pads_below_kernel: bool,
                 max_kernel: int = MAX_TENSOR_ELEMENTS, conv: bool = False) -> None:
    """Kernel/stride/padding/dilation ranges and the output-length rule of a sliding window
    (conv: also the reach limits the C kernels' int32 offsets need)."""
    a, o = T[op.in0], T[op.out]
    K, stride, pl, pr = op.params[:4]
    if K < 1 or stride < 1 or dil < 1:
        raise err(f"{lab}: kernel {K}, stride {stride}, dilation {dil} must all be >= 1", R.OP_PARAMS)
    if max(K, stride, dil, pl, pr) > MAX_TENSOR_ELEMENTS:
        raise err(f"{lab}: kernel/stride/padding/dilation ({K}, {stride}, {pl}, {pr}, {dil}) exceed 2^24", R.OP_PARAMS)
    if max_kernel < K:
        raise err(f"{lab}: kernel {K} exceeds 2^23 (accumulator bound)", R.OP_PARAMS)
    if conv and dil * (K - 1) > MAX_TENSOR_ELEMENTS:
        raise err(f"{lab}: dilation {dil} x (kernel {K} - 1) exceeds 2^24", R.OP_PARAMS)
    if conv and (dil * (K - 1) + 1) * a.channels > MAX_WINDOW_ELEMENTS:
        raise err(f"{lab}: a window spans (dilation {dil} x (kernel {K} - 1) + 1) x {a.channels} channels, "
                  "more than 2^31 - 1 input elements", R.OP_PARAMS)
    if pads_below_kernel and (pl >= K or pr >= K):
        raise err(f"{lab}: pad_left {pl} / pad_right {pr} must be < kernel {K} (a window must touch the input)",
                  R.OP_PARAMS)
    span = a.length + pl + pr - dil * (K - 1) - 1
    if span < 0:
        raise err(f"{lab}: window (kernel {K}, dilation {dil}) is longer than the padded input "
                  f"({a.length} + {pl} + {pr})", R.OP_SHAPE)
    lo = span // stride + 1
    if lo != o.length:
        raise err(f"{lab}: output length {o.length} disagrees with "
                  f"floor(({a.length}+{pl}+{pr}-{dil}*({K}-1)-1)/{stride})+1 = {lo}", R.OP_SHAPE)


def check_same_channels(op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
    a, o = T[op.in0], T[op.out]
    if o.channels != a.channels:
        raise err(f"{lab}: output channels {o.channels} differ from input channels {a.channels}", R.OP_SHAPE)


def check_same_shape(op: OpInfo, T: list[TensorInfo], lab: str, err: Err) -> None:
    a, o = T[op.in0], T[op.out]
    if (a.length, a.channels) != (o.length, o.channels):
        raise err(f"{lab}: output shape {o.length}x{o.channels} differs from input {a.length}x{a.channels}", R.OP_SHAPE)


def check_mult(op: OpInfo, im: int, ish: int, lab: str, err: Err) -> None:
    m, n = op.sparam(im), op.params[ish]
    if m < 0:
        raise err(f"{lab}: multiplier (p{im}) {m} is negative", R.OP_PARAMS)
    if not 1 <= n <= 62:
        raise err(f"{lab}: shift (p{ish}) {n} outside 1..62", R.OP_PARAMS)


# ------------------------------------------------------------------ execution helpers

def float_windows(x: np.ndarray, k: int, stride: int, pl: int, pr: int, l_out: int, fill: float,
                  dilation: int = 1) -> list[np.ndarray]:
    """The k strided views (N, l_out, C) of x padded with `fill`, one per kernel tap."""
    xp = np.pad(x, ((0, 0), (pl, pr), (0, 0)), constant_values=fill)
    last = stride * (l_out - 1) + 1
    return [xp[:, j * dilation:j * dilation + last:stride, :] for j in range(k)]


def int_windows(x: np.ndarray, K: int, stride: int, pl: int, pr: int, l_out: int, fill: int) -> list[np.ndarray]:
    n, L, c = x.shape
    xp = np.full((n, L + pl + pr, c), fill, dtype=np.int64)
    xp[:, pl:pl + L, :] = x
    last = stride * (l_out - 1) + 1
    return [xp[:, k:k + last:stride, :] for k in range(K)]


def dot_dtype(levels: np.ndarray) -> type:
    """float32 when every partial sum is an integer below 2^24 (so exactly representable in any
    order): |x| <= 128 and 128 * sum|w[c]| < 2^24; float64 (exact below 2^53) otherwise."""
    bound = 128 * int(np.abs(levels.astype(np.int64)).sum(axis=1).max(initial=0))
    return np.float32 if bound < (1 << 24) else np.float64


def clamp(y: np.ndarray, op: OpInfo) -> np.ndarray:
    return np.clip(y, op.act_min, op.act_max).astype(np.int8)


def weighted_requant(g: Graph, node: GNode) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CONV1D/LINEAR: per-channel multipliers, shifts and the folded int32 bias (FORMAT.md
    section 7). The QAT integer forward (compress.qat) uses this too, so the arithmetic trained
    is the arithmetic written."""
    t_in, t_out = g.tensors[node.inputs[0]], g.tensors[node.output]
    w = node.weights
    assert w is not None
    real = t_in.scale * w.scale / t_out.scale
    mn = [multiplier(float(r), f"{node.name}: channel {c} requantization factor") for c, r in enumerate(real)]
    mult = np.array([m for m, _ in mn], dtype=np.int64)
    shift = np.array([n for _, n in mn], dtype=np.int64)
    lv = w.levels.astype(np.int64)
    bias = np.round(w.bias / (t_in.scale * w.scale)) - t_in.zero_point * lv.sum(axis=1)
    return mult, shift, bias


def lower_weighted(g: Graph, node: GNode, kernel: int, params: list[int]) -> IntOp:
    """CONV1D/LINEAR: per-channel multipliers, the folded int32 bias, the accumulator bound and
    the smallest encoding of the weight block (FORMAT.md sections 7-8)."""
    t_out = g.tensors[node.output]
    w = node.weights
    assert w is not None
    mult, shift, bias = weighted_requant(g, node)
    lv = w.levels.astype(np.int64)
    bound = np.abs(bias) + 128 * np.abs(lv).sum(axis=1)
    worst = int(np.argmax(bound))
    if bound[worst] >= ACC_LIMIT:
        raise EcgEdgeError(
            f"{node.name}: int32 accumulator bound violated in output channel {worst}: "
            f"|bias| + 128*sum|w| = {int(bound[worst])} >= 2^31; the layer cannot be exported "
            "(its bias is too large for its weight scale; retrain or re-calibrate)")
    block, enc = encode_block(w.levels, w.bits, kernel, bias.astype(np.int64), mult, shift)
    amin, amax = act_range(node, t_out.zero_point)
    return IntOp(node, amin, amax, params, block, enc, int(np.count_nonzero(w.levels)))


def weighted_macs(op: OpInfo, positions: int) -> tuple[int, int]:
    blk = op.block
    assert blk is not None
    return positions * blk.c_out * blk.span, positions * int(np.count_nonzero(blk.levels))


# ------------------------------------------------------------------ transformer ops (version 2)

def check_v2_record(op: OpInfo, n_params: int, lab: str, err: Err) -> None:
    """Version-2 ops: no fused ReLU flag, every parameter after the op's last one zero."""
    if op.flags:
        raise err(f"{lab}: field 'flags' 0x{op.flags:x} must be 0 for this op", R.OP_FLAGS)
    if any(op.params[n_params:]):
        raise err(f"{lab}: parameters p{n_params}..p8 must be 0, got {op.params[n_params:]}", R.OP_PARAMS)


def check_range(v: int, lo: int, hi: int, what: str, lab: str, err: Err, rule: str = R.OP_PARAMS) -> None:
    if not lo <= v <= hi:
        raise err(f"{lab}: {what} {v} outside {lo}..{hi}", rule)
