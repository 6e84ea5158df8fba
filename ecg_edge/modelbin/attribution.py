"""Where a model.bin's integer arithmetic departs from its float graph: per-op attribution.

Each op of the file runs in one of three modes:
- I: the integer op of model.bin (FORMAT.md section 7, the registry's `run`);
- Q: the float op (the graph's `float_forward`) on the dequantized inputs, its output rounded to
  the op's int8 grid (scale, zero point, act_min..act_max): the op made ideal, activations int8;
- F: the float op with a float output (no quantization at all).
The graph input is quantized (its mode is that of the pseudo-op "input": I = Q, F = float).
A pipeline assigns a mode to every op; the all-I pipeline is the model.bin itself (bit-exact with
the executor), the all-F pipeline is the graph's float forward (weights as packed): the reference.
A row "op kind X ideal" is every op integer except those of kind X in Q: how much agreement the
integer approximation of X costs. Agreement = argmax equal to the reference; logit error =
RMS(logits - reference) / RMS(reference), dequantized logits.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ecg_edge.checkpoint import Checkpoint
from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin.graph import build_graph, graph_inputs
from ecg_edge.modelbin.ir import Graph
from ecg_edge.modelbin.layout import OP_NAMES
from ecg_edge.modelbin.ops import op_def
from ecg_edge.modelbin.records import ModelBin
from ecg_edge.numerics import quantize_activation

MODES = ("I", "Q", "F")
INPUT = "input"
CHUNK = 32


@dataclass(frozen=True)
class RowSpec:
    """One pipeline: `modes` maps a pattern (an op kind such as SOFTMAX, an op name, a glob over
    op names, or "input") to I/Q/F; ops no pattern matches take `default`. Later patterns win."""
    label: str
    modes: tuple[tuple[str, str], ...] = ()
    default: str = "I"


@dataclass
class RowResult:
    label: str
    agreement: float
    logit_error: float
    differ: int
    n: int
    ops_changed: int  # ops not in mode I


@dataclass
class Attribution:
    n: int
    rows: list[RowResult]
    fp32_vs_reference: float | None = None  # argmax agreement of the PyTorch model with the reference
    fp32_vs_modelbin: float | None = None
    notes: list[str] = field(default_factory=list)


def parse_row(text: str) -> RowSpec:
    """`PATTERN=MODE[,PATTERN=MODE...]` (e.g. `SOFTMAX=Q`, `*.attention.*=F,input=F`); `*=Q`
    sets the default."""
    pairs = []
    default = "I"
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        pat, sep, mode = part.rpartition("=")
        mode = mode.strip().upper()
        if not sep or not pat.strip() or mode not in MODES:
            raise EcgEdgeError(f"--row {text!r}: {part!r} is not PATTERN=MODE with MODE one of {', '.join(MODES)}")
        if pat.strip() == "*":
            default = mode
        else:
            pairs.append((pat.strip(), mode))
    if not pairs and default == "I":
        raise EcgEdgeError(f"--row {text!r}: no op set to Q or F")
    return RowSpec(text, tuple(pairs), default)


def op_labels(mb: ModelBin) -> list[str]:
    names = mb.meta.get("op_names")
    if isinstance(names, list) and len(names) == len(mb.ops):
        return [str(n) for n in names]
    return [f"op{k}" for k in range(len(mb.ops))]


def resolve_modes(mb: ModelBin, spec: RowSpec) -> tuple[str, list[str]]:
    """(input mode, per-op modes) of a row; a pattern that matches nothing is refused."""
    names = op_labels(mb)
    kinds = [OP_NAMES.get(o.op, "") for o in mb.ops]
    modes = [spec.default] * len(mb.ops)
    in_mode = "F" if spec.default == "F" else "I"
    for pat, mode in spec.modes:
        if pat == INPUT:
            in_mode = mode
            continue
        hit = [k for k in range(len(mb.ops)) if kinds[k] == pat or fnmatch.fnmatchcase(names[k], pat)]
        if not hit:
            raise EcgEdgeError(f"row {spec.label!r}: pattern {pat!r} matches no op kind or op name of {mb.source} "
                               f"(kinds: {', '.join(sorted(set(kinds)))})")
        for k in hit:
            modes[k] = mode
    return in_mode, modes


def matched_graph(mb: ModelBin, ckpt: Checkpoint) -> Graph:
    """The export graph of `ckpt` with model.bin's plan and activation quantization: node k is
    op k of the file. Refuses a checkpoint the file was not packed from."""
    from ecg_edge.layerplan.plan import plan_from_summary
    from ecg_edge.modelbin.packer import apply_trained, checkpoint_sha256
    from ecg_edge.models.registry import model_from_checkpoint

    want = mb.meta.get("source_checkpoint_sha256")
    if want and checkpoint_sha256(ckpt) != want:
        raise EcgEdgeError(f"the checkpoint's weights differ from the one {mb.source} was packed from "
                           "(META source_checkpoint_sha256)")
    plan = plan_from_summary(json.loads(str(mb.meta.get("plan", "{}") or "{}")), f"{mb.source}: META 'plan'")
    g = build_graph(ckpt.arch, model_from_checkpoint(ckpt), plan)
    if "qat" in (ckpt.extra or {}):
        apply_trained(g, ckpt.extra["qat"])
    if len(g.nodes) != len(mb.ops) or len(g.tensors) != len(mb.tensors):
        raise EcgEdgeError(f"{mb.source}: {len(mb.ops)} ops / {len(mb.tensors)} tensors, the checkpoint lowers to "
                           f"{len(g.nodes)} / {len(g.tensors)}")
    for k, (node, op) in enumerate(zip(g.nodes, mb.ops, strict=True)):
        if node.op != op.op or tuple(node.inputs) != op.inputs or node.output != op.out:
            raise EcgEdgeError(f"{mb.source}: op {k} ({OP_NAMES.get(op.op)}) does not match the checkpoint's "
                               f"lowered node {node.name!r} ({OP_NAMES.get(node.op)})")
    for gt, t in zip(g.tensors, mb.tensors, strict=True):
        if (gt.length, gt.channels) != (t.length, t.channels):
            raise EcgEdgeError(f"{mb.source}: tensor {gt.name!r} is {t.length}x{t.channels} in the file, "
                               f"{gt.length}x{gt.channels} in the checkpoint's graph")
        gt.scale, gt.zero_point = t.scale, t.zero_point
    return g


def _dequant(q: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return (q.astype(np.float64) - zp) * scale


def run_pipeline(mb: ModelBin, g: Graph, x: np.ndarray, in_mode: str, modes: list[str]) -> np.ndarray:
    """Dequantized (or float) logits (N, classes) of graph inputs x (N, L, C) with each op in its mode."""
    T = mb.tensors
    ints: list[np.ndarray | None] = [None] * len(T)
    reals: list[np.ndarray | None] = [None] * len(T)
    ti = T[mb.input_tensor]
    if in_mode == "F":
        reals[mb.input_tensor] = np.asarray(x, np.float64)
    else:
        ints[mb.input_tensor] = quantize_activation(x, ti.scale, ti.zero_point)
    for op, node, mode in zip(mb.ops, g.nodes, modes, strict=True):
        od = op_def(op.op)
        to = T[op.out]
        if mode == "I":
            xs = [ints[i] if ints[i] is not None else quantize_activation(reals[i], T[i].scale, T[i].zero_point)
                  for i in op.inputs]
            ints[op.out] = od.run(op, xs, T)
            continue
        xs = [reals[i] if ints[i] is None else _dequant(ints[i], T[i].scale, T[i].zero_point) for i in op.inputs]
        y = od.float_forward(node, xs, g.tensors[op.out])
        if node.relu:
            y = np.maximum(y, 0.0)
        if mode == "Q":
            ints[op.out] = np.clip(quantize_activation(y, to.scale, to.zero_point), op.act_min, op.act_max).astype(np.int8)
        else:
            reals[op.out] = y
    t = T[mb.output_tensor]
    o = ints[mb.output_tensor]
    out = _dequant(o, t.scale, t.zero_point) if o is not None else reals[mb.output_tensor]
    assert out is not None
    return out.reshape(out.shape[0], -1)


def default_rows(mb: ModelBin, per_op: bool = False) -> list[RowSpec]:
    """model.bin; every op ideal; each op kind alone ideal (and, with per_op, each op alone)."""
    kinds = sorted({OP_NAMES[o.op] for o in mb.ops}, key=lambda k: [OP_NAMES[o.op] for o in mb.ops].index(k))
    rows = [RowSpec("model.bin (every op integer)"), RowSpec("every op ideal (Q): int8 activations only", (), "Q")]
    rows += [RowSpec(f"{k} ideal (Q)", ((k, "Q"),)) for k in kinds]
    if per_op:
        rows += [RowSpec(f"{n} ideal (Q)", ((n, "Q"),)) for n in op_labels(mb)]
    return rows


def attribute(mb: ModelBin, ckpt: Checkpoint, X: np.ndarray, rows: list[RowSpec], chunk: int = CHUNK,
              progress: Callable[[int, int], None] | None = None) -> Attribution:
    """Run every row over dataset windows X (N, leads, samples) against the float reference."""
    from ecg_edge.models.predict import predict
    from ecg_edge.models.registry import model_from_checkpoint

    if X.shape[0] == 0:
        raise EcgEdgeError("attribution needs at least one window")
    g = matched_graph(mb, ckpt)
    resolved = [resolve_modes(mb, r) for r in rows]
    model = model_from_checkpoint(ckpt)
    ref_parts: list[np.ndarray] = []
    outs: list[list[np.ndarray]] = [[] for _ in rows]
    fp32 = predict(model, X)
    for s in range(0, X.shape[0], chunk):
        xg = graph_inputs(ckpt.arch, model, np.asarray(X[s:s + chunk]).transpose(0, 2, 1))
        ref_parts.append(run_pipeline(mb, g, xg, "F", ["F"] * len(mb.ops)))
        for k, (in_mode, modes) in enumerate(resolved):
            outs[k].append(run_pipeline(mb, g, xg, in_mode, modes))
        if progress is not None:
            progress(min(s + chunk, X.shape[0]), X.shape[0])
    ref = np.concatenate(ref_parts)
    ref_arg = ref.argmax(1)
    rms_ref = math.sqrt(float(np.mean(ref ** 2))) or 1.0
    res = []
    binary = None
    for spec, (in_mode, modes), parts in zip(rows, resolved, outs, strict=True):
        y = np.concatenate(parts)
        same = y.argmax(1) == ref_arg
        if in_mode != "F" and all(m == "I" for m in modes):
            binary = y.argmax(1)
        res.append(RowResult(spec.label, float(same.mean()), math.sqrt(float(np.mean((y - ref) ** 2))) / rms_ref,
                             int((~same).sum()), int(len(y)), sum(m != "I" for m in modes)))
    out = Attribution(int(X.shape[0]), res, float(np.mean(fp32.argmax(1) == ref_arg)))
    if binary is not None:
        out.fp32_vs_modelbin = float(np.mean(fp32.argmax(1) == binary))
    return out


def format_attribution(a: Attribution) -> str:
    w = max([len(r.label) for r in a.rows] + [8])
    lines = [f"{a.n} windows; reference: the graph's float forward (weights as packed, float activations)"]
    if a.fp32_vs_reference is not None:
        lines.append(f"PyTorch fp32 model vs reference: argmax agreement {a.fp32_vs_reference:.4f}"
                     + (f"; model.bin vs PyTorch fp32: {a.fp32_vs_modelbin:.4f}" if a.fp32_vs_modelbin is not None else ""))
    lines.append(f"{'pipeline':{w}s} {'ops Q/F':>7s} {'agreement':>9s} {'differ':>6s} {'logit error':>11s}")
    for r in a.rows:
        lines.append(f"{r.label:{w}s} {r.ops_changed:7d} {r.agreement:9.4f} {r.differ:6d} {r.logit_error:11.4f}")
    lines += [f"note: {n}" for n in a.notes]
    return "\n".join(lines)
