"""Integer transformer ops of model.bin versions 2 and 3 (export/FORMAT.md section 7, "Transformer
ops"), written once in numpy: the reference the C kernels (`runtime_c/src/*_s8.c` of these ops)
match byte for byte, plus the packer-side constants of each op (the only place floats appear).

Every function takes raw int8 tensors laid out [..., L, C] (any leading batch axes) and returns
int8; all arithmetic is int64 and exact, so the result is defined by the integer algorithm alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecg_edge.numerics import quantize_multiplier, requantize

# Normalisation: z = (x - mean) / sigma with NORM_FRAC fractional bits, clamped to +-NORM_ZMAX.
NORM_FRAC = 11
NORM_ZMAX = 1 << 15
NORM_MAX_N = 1 << 14
NORM_MAX_BIAS = 1 << 30
# I-BERT (Kim et al. 2021) polynomial constants: erf(u) ~ sign(u) (1 - A (B - min(|u|, B))^2),
# exp(p) ~ EXP_A (p + EXP_B)^2 + EXP_C on (-ln 2, 0].
GELU_A, GELU_B = 0.2888, 1.769
GELU_MAX_B, GELU_MAX_C = 1 << 11, 1 << 22
EXP_A, EXP_B, EXP_C = 0.3585, 1.353, 0.344
SOFTMAX_MAX_Q, SOFTMAX_MAX_C, SOFTMAX_MAX_SHIFT, SOFTMAX_MAX_SEG = 1 << 20, 1 << 30, 16, 1 << 14
SOFTMAX_OUT_SCALE = 1.0 / 256  # SOFTMAX output: probability = (q - zp_out) / 256
MATMUL_MAX_K = 1 << 15
LUT_SIZE = 256  # LUT: one int8 output per int8 input, entry j for input j - 128


def isqrt(v: np.ndarray) -> np.ndarray:
    """floor(sqrt(v)) of non-negative int64 values, exact (math.isqrt per element)."""
    flat = np.asarray(v, dtype=np.int64).ravel()
    return np.array([math.isqrt(int(a)) for a in flat], dtype=np.int64).reshape(np.shape(v))


def norm_z(x: np.ndarray, eps: int) -> np.ndarray:
    """Normalise each row of x (int, shape (S, N): S sets of N values) to fixed point.

    d = N x - sum (N times the distance to the mean, exact), sd = isqrt(floor(sum d^2 / N) + eps)
    ~ N sigma, z = sign(d) floor((|d| 2^(F+1) + sd) / (2 sd)) clamped to +-2^15.
    """
    x = np.asarray(x, dtype=np.int64)
    n = x.shape[-1]
    d = n * x - x.sum(axis=-1, keepdims=True)
    sd = isqrt((d * d).sum(axis=-1, keepdims=True) // n + int(eps))
    z = ((np.abs(d) << (NORM_FRAC + 1)) + sd) // (2 * sd)
    return np.sign(d) * np.minimum(z, NORM_ZMAX)


@dataclass(frozen=True)
class NormAffine:
    """Per-channel affine of LAYERNORM/GROUPNORM: out = requantize(z w + bias, mult, shift);
    w are the int8 levels of a DENSE span-1 weight block."""

    levels: np.ndarray  # int (C,)
    bias: np.ndarray  # int (C,), |bias| <= 2^30
    mult: np.ndarray  # int (C,)
    shift: np.ndarray  # int (C,)


def _affine(z: np.ndarray, aff: NormAffine, zp_out: int, act_min: int, act_max: int) -> np.ndarray:
    acc = z * np.asarray(aff.levels, np.int64) + np.asarray(aff.bias, np.int64)
    return requantize(acc, np.asarray(aff.mult, np.int64), np.asarray(aff.shift, np.int64), zp_out,
                      act_min, act_max)


def layernorm(x: np.ndarray, eps: int, aff: NormAffine, zp_out: int, act_min: int = -128,
              act_max: int = 127) -> np.ndarray:
    """LAYERNORM: each time step of x (L, C) over its C channels."""
    return _affine(norm_z(x, eps), aff, zp_out, act_min, act_max)


def groupnorm(x: np.ndarray, groups: int, eps: int, aff: NormAffine, zp_out: int,
              act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """GROUPNORM: G groups of C/G consecutive channels, each over all L time steps."""
    x = np.asarray(x, np.int64)
    *lead, L, C = x.shape
    cg = C // groups
    sets = np.moveaxis(x.reshape(*lead, L, groups, cg), -2, -3).reshape(*lead, groups, L * cg)
    z = np.moveaxis(norm_z(sets, eps).reshape(*lead, groups, L, cg), -3, -2).reshape(x.shape)
    return _affine(z, aff, zp_out, act_min, act_max)


def gelu(x: np.ndarray, zp_in: int, b_int: int, c_int: int, mult: int, shift: int, zp_out: int,
         act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """GELU (I-BERT i-GELU): v = q - zp_in, m = min(|v|, b_int), e = sign(v) (c_int - (b_int - m)^2),
    out = requantize(v (c_int + e), M, n)."""
    v = np.asarray(x, np.int64) - zp_in
    t = b_int - np.minimum(np.abs(v), b_int)
    e = c_int - t * t
    e = np.where(v < 0, -e, e)
    return requantize(v * (c_int + e), mult, shift, zp_out, act_min, act_max)


def softmax(x: np.ndarray, seg: int, q_ln2: int, q_b: int, q_c: int, pre_shift: int, zp_out: int,
            act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """SOFTMAX over segments of `seg` channels (I-BERT i-exp): d = (max - x) 2^k,
    z = d // q_ln2, r = d - z q_ln2, e = ((q_b - r)^2 + q_c) >> z (0 for z >= 63),
    out = floor((e 2^9 + S) / (2 S)) + zp_out with S the segment's sum of e."""
    x = np.asarray(x, np.int64)
    xs = x.reshape(*x.shape[:-1], x.shape[-1] // seg, seg)
    d = (xs.max(axis=-1, keepdims=True) - xs) << pre_shift
    z = d // q_ln2
    r = d - z * q_ln2
    lv = (q_b - r) ** 2 + q_c
    e = np.where(z >= 63, 0, lv >> np.minimum(z, 62))
    s = e.sum(axis=-1, keepdims=True)
    out = (e * 512 + s) // (2 * s) + zp_out
    return np.clip(out, act_min, act_max).astype(np.int8).reshape(x.shape)


def matmul(a: np.ndarray, zp_a: int, b: np.ndarray, zp_b: int, heads: int, transpose_b: bool,
           mult: int, shift: int, zp_out: int, act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """MATMUL of two activations with heads: head h of A (La, Ca) is its channel slice of width
    K = Ca/H. transpose_b: B (Lb, Ca) -> out (La, H*Lb) = per head A_h B_h^T; otherwise
    B (K, Cb) -> out (La, Cb) = per head A_h B_h with B_h the slice of width Cb/H."""
    a = np.asarray(a, np.int64) - zp_a
    bb = np.asarray(b, np.int64) - zp_b
    *lead, La, Ca = a.shape
    Lb, Cb = bb.shape[-2:]
    K = Ca // heads
    ah = np.moveaxis(a.reshape(*lead, La, heads, K), -2, -3)  # (..., H, La, K)
    if transpose_b:
        bh = np.moveaxis(bb.reshape(*lead, Lb, heads, K), -2, -3).swapaxes(-1, -2)  # (..., H, K, Lb)
    else:
        bh = np.moveaxis(bb.reshape(*lead, K, heads, Cb // heads), -2, -3)  # (..., H, K, D)
    acc = np.matmul(ah, bh)  # exact in int64: |sum| < 2^31 for K <= 2^15
    out = np.moveaxis(acc, -3, -2).reshape(*lead, La, -1)
    return requantize(out, mult, shift, zp_out, act_min, act_max)


def lut(x: np.ndarray, table: np.ndarray, act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """LUT: out = clamp(table[q + 128], act_min, act_max), elementwise."""
    t = np.asarray(table, np.int64)
    return np.clip(t[np.asarray(x, np.int64) + 128], act_min, act_max).astype(np.int8)


# ---------------------------------------------------------------- packer-side constants


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


# Elementwise functions a LUT may tabulate (the graph node's `func`), in float64.
LUT_FUNCS = {"gelu": _gelu}


def lut_table(func: str, s_in: float, zp_in: int, s_out: float, zp_out: int) -> np.ndarray:
    """The 256 int8 entries of LUT `func`: entry j = clamp(round(f((j - 128 - zp_in) s_in) / s_out)
    + zp_out): the exactly rounded function on the int8 grid (round half away from zero)."""
    try:
        f = LUT_FUNCS[func]
    except KeyError:
        raise ValueError(f"LUT function {func!r} unknown (known: {', '.join(LUT_FUNCS)})") from None
    q = np.arange(-128, 128, dtype=np.float64)
    y = f((q - zp_in) * s_in) / s_out
    y = np.sign(y) * np.floor(np.abs(y) + 0.5) + zp_out
    return np.clip(y, -128, 127).astype(np.int8)


def gelu_input_floor(s_out: float) -> float:
    """The lowest GELU input worth resolving: -x for the smallest x >= 1 (in steps of 1/8) with
    |gelu(-x)| < s_out / 8. |gelu(-t)| falls for t >= 1, so clipping a GELU input range there
    moves no output by more than an eighth of its step."""
    x = 1.0
    while abs(float(_gelu(np.array(-x)))) >= s_out / 8.0 and x < 40.0:
        x += 0.125
    return -x


def norm_eps(eps: float, n: int, s_in: float) -> int:
    """eps of the real variance in the units of floor(sum d^2 / N) (= N^2 sigma_q^2): >= 1."""
    return max(1, min(0xFFFFFFFF, int(round(eps * n * n / (s_in * s_in)))))


def norm_levels(gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """gamma as one int8 level per channel and its scale: level +-127 (0 where gamma is 0),
    scale |gamma| / 127 (1 where gamma is 0), so level * scale = gamma."""
    gamma = np.asarray(gamma, np.float64)
    levels = np.where(gamma == 0, 0, np.where(gamma < 0, -127, 127)).astype(np.int64)
    return levels, np.where(gamma == 0, 1.0, np.abs(gamma) / 127.0)


def norm_affine(gamma: np.ndarray, beta: np.ndarray, s_out: float) -> NormAffine:
    """Levels/bias/multipliers of the affine gamma z + beta (levels of norm_levels), bias in
    units of 2^-F * |gamma| / 127."""
    levels, s_w = norm_levels(gamma)
    return norm_affine_levels(levels, s_w, beta, s_out)


def norm_affine_levels(levels: np.ndarray, s_w: np.ndarray, beta: np.ndarray, s_out: float) -> NormAffine:
    """The affine (levels * s_w) z + beta requantized to s_out."""
    levels = np.asarray(levels, np.int64)
    beta = np.asarray(beta, np.float64)
    unit = np.asarray(s_w, np.float64) * 2.0 ** -NORM_FRAC  # real value of one accumulator step
    bias = np.clip(np.round(beta / unit), -NORM_MAX_BIAS, NORM_MAX_BIAS).astype(np.int64)
    ms = [quantize_multiplier(float(u / s_out)) for u in unit]
    return NormAffine(levels, bias, np.array([m for m, _ in ms], np.int64),
                      np.array([n for _, n in ms], np.int64))


@dataclass(frozen=True)
class GeluConsts:
    b_int: int
    c_int: int
    mult: int
    shift: int


def gelu_consts(s_in: float, s_out: float) -> GeluConsts:
    """I-GELU constants for input scale s_in and output scale s_out; refuses scales whose
    constants leave the ranges the accumulator bound needs (s_in below ~1.3e-3)."""
    S = s_in / math.sqrt(2.0)
    b_int = int(math.floor(GELU_B / S))
    c_int = int(math.floor(1.0 / (GELU_A * S * S)))
    if b_int > GELU_MAX_B or c_int > GELU_MAX_C:
        raise ValueError(f"GELU input scale {s_in:g} is too fine for the integer polynomial "
                         f"(b_int {b_int} > {GELU_MAX_B} or c_int {c_int} > {GELU_MAX_C})")
    m, n = quantize_multiplier(s_in * GELU_A * S * S / 2.0 / s_out)
    return GeluConsts(b_int, max(1, c_int), m, n)


@dataclass(frozen=True)
class SoftmaxConsts:
    q_ln2: int
    q_b: int
    q_c: int
    pre_shift: int


def softmax_consts(s_in: float) -> SoftmaxConsts:
    """I-exp constants for score scale s_in: the largest pre-shift k (<= 16) whose constants
    fit their ranges, so the floored ln 2 step is accurate."""
    for k in range(SOFTMAX_MAX_SHIFT, -1, -1):
        S = s_in / (1 << k)
        q_ln2 = int(math.floor(math.log(2.0) / S))
        q_b = int(math.floor(EXP_B / S))
        q_c = int(math.floor(EXP_C / (EXP_A * S * S)))
        if q_ln2 <= SOFTMAX_MAX_Q and q_b <= SOFTMAX_MAX_Q and q_c <= SOFTMAX_MAX_C and q_ln2 >= 1:
            return SoftmaxConsts(q_ln2, q_b, max(1, q_c), k)
    raise ValueError(f"softmax input scale {s_in:g} is too coarse for the integer exp (ln2 step < 1)")
