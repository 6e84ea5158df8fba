"""Quantization-aware training that ships exactly what it trained.

The trained object is the export graph itself (modelbin.graph: BatchNorm folded into the
convolutions, model.bin's weight order), not the PyTorch model: every weighted node holds a
latent float weight, a learned per-channel step size (LSQ) and a float bias; bit-widths and
pruning masks stay fixed. Activations are int8 at the graph's own tensors, with (scale, zero
point) from the packer's calibration (modelbin.calibrate) on the current weights, refreshed each
epoch and frozen for the last epochs.

Two forwards:
- training (surrogate): float fake-quant with straight-through rounding, so gradients reach the
  weights, the steps and the biases;
- evaluation (exact): the integer arithmetic of export/FORMAT.md section 7 in int64/float64,
  with the multipliers, shifts and int32 biases of the writer's own lowering (modelbin.ops), so
  its int8 logits equal the executor's on the packed model.bin bit for bit.
The packer then writes the learned steps as the shipped scales (pack_graph of the same graph).
Loss: distillation from the fp32 teacher (KL at a temperature, times T^2) plus cross-entropy;
Adam with a cosine schedule; early stopping on the validation loss of the exact forward.

HuBERT-ECG (format versions 2-3): the input is the host-side adapter's sequence (computed once,
as `graph_windows`); GROUPNORM/LAYERNORM hold trainable gamma/beta (shipped as the norm block's
+-127 levels and |gamma|/127 scales), the GELU tables, SOFTMAX (fixed 1/256 output grid) and
MATMUL (Q.K^T with the 1/sqrt(d) factor, P.V) train as float ops between fake-quantized tensors,
and the exact forward runs them by the numpy reference (modelbin.intops) with the writer's own
constants, so the int8 logits again equal model.bin's bit for bit.

The graph, its calibration and its integer lowering come from modelbin: what ships is defined
there, once, and trained here.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin import intops
from ecg_edge.modelbin.calibrate import calibrate, select_calibration
from ecg_edge.modelbin.graph import build_graph, graph_inputs, layer_mask
from ecg_edge.modelbin.layout import (
    OP_ADD,
    OP_CONV1D,
    OP_GLOBAL_AVGPOOL,
    OP_GROUPNORM,
    OP_LAYERNORM,
    OP_LINEAR,
    OP_LUT,
    OP_MATMUL,
    OP_MAXPOOL1D,
    OP_RELU,
    OP_SOFTMAX,
)
from ecg_edge.modelbin.ops.base import act_range, weighted_requant
from ecg_edge.modelbin.packer import apply_trained
from ecg_edge.modelbin.writer import integer_op
from ecg_edge.models.predict import predict
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.numerics import qmax_for_bits


@dataclass
class QATConfig:
    epochs: int = 6
    lr: float = 5e-4
    batch_size: int = 64
    temperature: float = 4.0
    kd_weight: float = 0.7  # share of the distillation term; the rest is cross-entropy
    freeze_epochs: int = 2  # last epochs with activation (scale, zero point) frozen
    patience: int = 2  # epochs without a better validation loss before stopping
    calib_windows: int = 256  # the packer's default calibration set size
    max_train: int = 0  # 0 = the whole training split every epoch
    seed: int = 0
    # Adam moves a parameter by about lr per step whatever its size, so a step size far below lr
    # (HuBERT's 8-bit layers: ~1e-3) goes negative within a few steps. > 0: each layer's steps
    # learn at this fraction of their initial mean per step (a relative rate); 0: at `lr`, like
    # the weights (how the ResNet1D figures in NOTES were measured); None: 0.01 for hubert_ecg, 0
    # otherwise.
    step_lr_relative: float | None = None
    # distil on augmented training windows (train.augment; the teacher scores each augmented
    # batch): a teacher that memorised the training split gives the student new targets
    augment: bool = False


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def _grad_scale(x: torch.Tensor, g: torch.Tensor | float) -> torch.Tensor:
    return (x - x * g).detach() + x * g


def bn_of(name: str) -> str:
    """The BatchNorm after a ResNet1D convolution (stem.conv -> stem.bn, blocks.0.conv1 -> blocks.0.bn1)."""
    head, _, last = name.rpartition(".")
    return f"{head}.{last.replace('conv', 'bn')}"


def _rshift(v: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """numerics.rounding_shift in int64: floor((v + 2^(n-1)) / 2^n)."""
    n = n.long()
    return torch.bitwise_right_shift(v + torch.bitwise_left_shift(torch.ones_like(n), n - 1), n)


def _batches(X: np.ndarray, batch: int):
    for i in range(0, len(X), batch):
        yield torch.from_numpy(np.array(X[i:i + batch], dtype=np.float32))


NORMS = (OP_GROUPNORM, OP_LAYERNORM)


def _heads(a: torch.Tensor, heads: int) -> torch.Tensor:
    """(N, L, H*K) -> (N, H, L, K): one attention head per channel slice."""
    n, L, c = a.shape
    return a.view(n, L, heads, c // heads).transpose(1, 2)


def _matmul_float(a: torch.Tensor, b: torch.Tensor, node) -> torch.Tensor:
    """MATMUL's real value on (N, C, L) tensors (graph layout [L][C] inside), as the float forward
    of modelbin.ops.matmul: per head A_h B_h^T (transpose_b) or A_h B_h, times alpha."""
    a, b = a.transpose(1, 2), b.transpose(1, 2)
    ah = _heads(a, node.heads)
    if node.transpose_b:
        y = ah @ _heads(b, node.heads).transpose(-1, -2)
    else:
        y = ah @ _heads(b, node.heads)  # B (K, Cb): its channel slices per head
    y = y * node.alpha
    return y.transpose(1, 2).reshape(a.shape[0], a.shape[1], -1).transpose(1, 2)


class QATGraph(nn.Module):
    """A trainable export graph (see the module docstring)."""

    def __init__(self, model: nn.Module, plan, calib_X: np.ndarray | None, arch: str = "resnet1d",
                 calib_windows: int = 256) -> None:
        super().__init__()

        model = copy.deepcopy(model).eval()
        self.arch = arch
        self._model = [model]  # the input adapter (HuBERT-ECG); a list keeps it out of parameters()
        self.g = build_graph(arch, model, plan)
        self.weighted = [n for n in self.g.nodes if n.op in (OP_CONV1D, OP_LINEAR)]
        self.norms = [n for n in self.g.nodes if n.op in NORMS]
        self.latent = nn.ParameterDict()
        self.step = nn.ParameterDict()
        self.bias = nn.ParameterDict()
        self.gamma = nn.ParameterDict()
        self.beta = nn.ParameterDict()
        self.masks: dict[str, torch.Tensor] = {}
        for node in self.weighted:
            key = self._key(node)
            mod = model.get_submodule(node.name)
            w = mod.weight.detach().double().numpy()
            qw = node.weights
            mask = layer_mask(w, qw.sparsity_plan)
            b = np.zeros(w.shape[0]) if mod.bias is None else mod.bias.detach().double().numpy()
            if node.op == OP_CONV1D and w.ndim == 3:
                try:
                    bn = model.get_submodule(bn_of(node.name))
                except AttributeError:
                    bn = None
                if isinstance(bn, nn.BatchNorm1d):
                    gamma = bn.weight.detach().double().numpy() / np.sqrt(bn.running_var.detach().double().numpy() + bn.eps)
                    w = w * gamma[:, None, None]
                    b = b * gamma + bn.bias.detach().double().numpy() - bn.running_mean.detach().double().numpy() * gamma
                w = np.ascontiguousarray(w.transpose(0, 2, 1)).reshape(w.shape[0], -1)
                mask = np.ascontiguousarray(mask.transpose(0, 2, 1)).reshape(mask.shape[0], -1)
            elif node.op == OP_LINEAR:
                t_in = self.g.tensors[node.inputs[0]]
                if t_in.length > 1:  # [C][L] -> model.bin's [L][C]
                    w = w.reshape(-1, t_in.channels, t_in.length).transpose(0, 2, 1).reshape(w.shape[0], -1)
                    mask = mask.reshape(-1, t_in.channels, t_in.length).transpose(0, 2, 1).reshape(mask.shape[0], -1)
            # else: an nn.Linear applied per frame, lowered as a K = 1 CONV1D: (C_out, C_in) as it is
            if not np.allclose(b, qw.bias, rtol=1e-9, atol=1e-12):
                raise ValueError(f"{node.name}: folded bias disagrees with the export graph's")
            self.latent[key] = nn.Parameter(torch.from_numpy(np.where(mask, w, 0.0)).float())
            self.step[key] = nn.Parameter(torch.from_numpy(qw.scale.copy()).float())
            self.bias[key] = nn.Parameter(torch.from_numpy(b.copy()).float())
            self.masks[key] = torch.from_numpy(np.ascontiguousarray(mask))
        for node in self.norms:  # gamma = levels * scale exactly (intops.norm_levels)
            w = node.weights
            self.gamma[self._key(node)] = nn.Parameter(torch.from_numpy(w.levels[:, 0] * w.scale).float())
            self.beta[self._key(node)] = nn.Parameter(torch.from_numpy(w.bias.copy()).float())
        if calib_X is not None:
            self.calibrate(calib_X, calib_windows)

    @staticmethod
    def _key(node) -> str:
        return node.name.replace(".", "__")

    # --- inputs -------------------------------------------------------------------------------
    def graph_windows(self, X: np.ndarray) -> np.ndarray:
        """Dataset windows (N, leads, samples) -> the graph's input as (N, C, L) float32: the
        windows themselves for a CNN, the input adapter's sequence (N, 1, window) for HuBERT-ECG."""
        if self.arch != "hubert_ecg":
            return X
        g = graph_inputs(self.arch, self._model[0], np.asarray(X, dtype=np.float32).transpose(0, 2, 1))
        return np.ascontiguousarray(g.transpose(0, 2, 1), dtype=np.float32)

    # --- the integer weights ------------------------------------------------------------------
    def quantized(self, node) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(levels int8, scale float64 > 0, bias float64) of a node from the current parameters."""
        k = self._key(node)
        w = self.latent[k].detach().double().numpy()
        s = np.maximum(self.step[k].detach().double().numpy(), 1e-12)
        m = self.masks[k].numpy()
        bits = node.weights.bits
        if bits == 1:
            lv = np.where(m, np.where(w >= 0, 1, -1), 0)
        else:
            q = qmax_for_bits(bits)
            lv = np.where(m, np.clip(np.round(w / s[:, None]), -q, q), 0)
        return lv.astype(np.int8), s, self.bias[k].detach().double().numpy().copy()

    def sync_graph(self) -> None:
        """Write the current integer weights into the export graph (what pack_graph serializes)."""
        for node in self.weighted:
            lv, s, b = self.quantized(node)
            node.weights.levels, node.weights.scale, node.weights.bias = lv, s, b
        for node in self.norms:
            k = self._key(node)
            levels, scale = intops.norm_levels(self.gamma[k].detach().double().numpy())
            node.weights.levels = levels.reshape(-1, 1).astype(np.int8)
            node.weights.scale, node.weights.bias = scale, self.beta[k].detach().double().numpy().copy()

    def calibrate(self, X: np.ndarray, max_windows: int = 256) -> None:
        """The packer's activation calibration on the current weights (dataset windows X)."""
        self.sync_graph()
        calibrate(self.g, graph_inputs(self.arch, self._model[0], select_calibration(X, max_windows)))

    def qparams(self) -> list[tuple[float, int]]:
        return [(t.scale, t.zero_point) for t in self.g.tensors]

    def set_qparams(self, qp: list[tuple[float, int]]) -> None:
        for t, (s, z) in zip(self.g.tensors, qp, strict=True):
            t.scale, t.zero_point = float(s), int(z)

    # --- training forward (float fake-quant, straight-through) --------------------------------
    def _fq_act(self, x: torch.Tensor, t: int, lo: int = -128) -> torch.Tensor:
        tt = self.g.tensors[t]
        q = torch.clamp(_round_ste(x / tt.scale) + tt.zero_point, lo, 127)
        return (q - tt.zero_point) * tt.scale

    def _fq_weight(self, node) -> torch.Tensor:
        k = self._key(node)
        w, m = self.latent[k], self.masks[k].to(self.latent[k].dtype)
        bits = node.weights.bits
        s = self.step[k].clamp_min(1e-12)
        nnz = m.sum(dim=1).clamp_min(1.0)
        if bits == 1:
            sgn = torch.where(w >= 0, 1.0, -1.0)
            q = w + (sgn - w).detach()
            return q * m * _grad_scale(s, 1.0 / torch.sqrt(nnz))[:, None]
        qmax = qmax_for_bits(bits)
        s = _grad_scale(s, 1.0 / torch.sqrt(nnz * qmax))  # LSQ's step-gradient scale
        return torch.clamp(_round_ste(w / s[:, None]), -qmax, qmax) * m * s[:, None]

    def forward_train(self, x: torch.Tensor) -> torch.Tensor:
        """Fake-quant logits (N, classes) of graph inputs (N, C, L) (`graph_windows`)."""
        g = self.g
        vals: list[torch.Tensor | None] = [None] * len(g.tensors)
        vals[g.input] = self._fq_act(x, g.input)
        for node in g.nodes:
            a = vals[node.inputs[0]]
            t = g.tensors[node.output]
            lo = max(t.zero_point, -128) if node.relu else -128
            if node.op == OP_CONV1D:
                w = self._fq_weight(node)
                wt = w.view(w.shape[0], node.kernel, -1).permute(0, 2, 1)
                a = F.pad(a, (node.pad_left, node.pad_right))
                y = F.conv1d(a, wt, self.bias[self._key(node)], node.stride, 0, node.dilation, node.groups)
            elif node.op == OP_LINEAR:
                w = self._fq_weight(node)
                y = (a.transpose(1, 2).reshape(a.shape[0], -1) @ w.T + self.bias[self._key(node)])[:, :, None]
            elif node.op == OP_ADD:
                y = a + vals[node.inputs[1]]
            elif node.op == OP_MAXPOOL1D:  # keeps its input's quantization: values stay on the grid
                vals[node.output] = F.max_pool1d(F.pad(a, (node.pad_left, node.pad_right), value=-1e30),
                                                 node.kernel, node.stride)
                continue
            elif node.op == OP_GLOBAL_AVGPOOL:
                y = a.mean(dim=2, keepdim=True)
            elif node.op == OP_RELU:
                vals[node.output] = torch.relu(a)
                continue
            elif node.op == OP_GROUPNORM:
                k = self._key(node)
                y = F.group_norm(a, node.groups, self.gamma[k], self.beta[k], node.eps)
            elif node.op == OP_LAYERNORM:
                k = self._key(node)
                y = F.layer_norm(a.transpose(1, 2), (a.shape[1],), self.gamma[k], self.beta[k], node.eps).transpose(1, 2)
            elif node.op == OP_LUT:
                if node.func != "gelu":
                    raise ValueError(f"QAT: LUT function {node.func!r} of {node.name} is not supported")
                y = F.gelu(a)  # erf GELU, the function the table holds
            elif node.op == OP_SOFTMAX:
                n, c, L = a.shape
                y = torch.softmax(a.transpose(1, 2).reshape(n, L, c // node.segment, node.segment), dim=-1)
                y = y.reshape(n, L, c).transpose(1, 2)
            elif node.op == OP_MATMUL:
                y = _matmul_float(a, vals[node.inputs[1]], node)
            else:
                raise ValueError(f"QAT: op {node.op} of {node.name} is not supported")
            vals[node.output] = self._fq_act(y, node.output, lo)
        return vals[g.output].reshape(x.shape[0], -1)

    # --- exact integer forward (what model.bin computes) --------------------------------------
    def _int_transformer_op(self, node, io, xs: list[torch.Tensor]) -> torch.Tensor:
        """A version 2-3 op by the numpy reference (intops) with the writer's constants (`io`:
        its IntOp); tensors (N, C, L) int64 in and out, [L][C] for intops."""
        g = self.g
        ta, to = g.tensors[node.inputs[0]], g.tensors[node.output]
        a = xs[0].transpose(1, 2).numpy()
        p = io.params
        if node.op in NORMS:
            w = node.weights
            aff = intops.norm_affine_levels(w.levels[:, 0], w.scale, w.bias, to.scale)  # as NormOp.lower_affine
            if node.op == OP_LAYERNORM:
                y = intops.layernorm(a, p[0], aff, to.zero_point, io.act_min, io.act_max)
            else:
                y = intops.groupnorm(a, p[0], p[1], aff, to.zero_point, io.act_min, io.act_max)
        elif node.op == OP_LUT:
            table = intops.lut_table(node.func, ta.scale, ta.zero_point, to.scale, to.zero_point)  # as Lut.lower
            y = intops.lut(a, table, io.act_min, io.act_max)
        elif node.op == OP_SOFTMAX:
            y = intops.softmax(a, p[0], p[1], p[2], p[3], p[4], to.zero_point, io.act_min, io.act_max)
        elif node.op == OP_MATMUL:
            tb = g.tensors[node.inputs[1]]
            y = intops.matmul(a, ta.zero_point, xs[1].transpose(1, 2).numpy(), tb.zero_point, p[0], bool(p[1]),
                              p[2], p[3], to.zero_point, io.act_min, io.act_max)
        else:
            raise ValueError(f"QAT: op {node.op} of {node.name} is not supported")
        return torch.from_numpy(np.ascontiguousarray(np.asarray(y, np.int64))).transpose(1, 2)

    @torch.no_grad()
    def forward_int(self, x: torch.Tensor) -> torch.Tensor:
        """int8 logits (N, classes) as int64 of graph inputs (N, C, L), by FORMAT.md's integer arithmetic."""
        return self.run_int(x)[self.g.output].reshape(x.shape[0], -1)

    @torch.no_grad()
    def run_int(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every tensor of the exact forward, (N, C, L) int64 (the executor's run_traced, transposed)."""
        g = self.g
        t_in = g.tensors[g.input]
        s_in = float(np.float32(t_in.scale))  # model.bin stores scales as float32; the host quantizes with that
        q = torch.clamp(torch.round(x.double() / s_in) + t_in.zero_point, -128, 127).long()
        vals: list[torch.Tensor | None] = [None] * len(g.tensors)
        vals[g.input] = q
        for node in g.nodes:
            a = vals[node.inputs[0]]
            ta, to = g.tensors[node.inputs[0]], g.tensors[node.output]
            if node.op in (OP_CONV1D, OP_LINEAR):
                amin, amax = act_range(node, to.zero_point)
                mult, shift, bias = (torch.from_numpy(np.asarray(v, dtype=np.int64)) for v in weighted_requant(g, node))
                lv = torch.from_numpy(node.weights.levels.astype(np.float64))
                if node.op == OP_CONV1D:
                    wt = lv.view(lv.shape[0], node.kernel, -1).permute(0, 2, 1).contiguous()
                    ap = F.pad(a.double(), (node.pad_left, node.pad_right), value=float(ta.zero_point))
                    acc = F.conv1d(ap, wt, None, node.stride, 0, node.dilation, node.groups)
                else:
                    acc = (a.transpose(1, 2).reshape(a.shape[0], -1).double() @ lv.T)[:, :, None]
                acc = acc.round().long() + bias[None, :, None]
                y = _rshift(acc * mult[None, :, None], shift[None, :, None]) + to.zero_point
                vals[node.output] = torch.clamp(y, amin, amax)
                continue
            io = integer_op(g, node)
            if node.op == OP_ADD:
                b = vals[node.inputs[1]]
                tb = g.tensors[node.inputs[1]]
                ma, mb, n = io.params
                y = _rshift((a - ta.zero_point) * ma + (b - tb.zero_point) * mb, torch.tensor(n)) + to.zero_point
            elif node.op == OP_MAXPOOL1D:
                ap = F.pad(a.double(), (node.pad_left, node.pad_right), value=-float(1 << 20))
                y = F.max_pool1d(ap, node.kernel, node.stride).long()
            elif node.op == OP_GLOBAL_AVGPOOL:
                m, n = io.params
                y = _rshift((a - ta.zero_point).sum(dim=2, keepdim=True) * m, torch.tensor(n)) + to.zero_point
            elif node.op == OP_RELU:
                y = a
            else:
                y = self._int_transformer_op(node, io, [vals[i] for i in node.inputs])
            vals[node.output] = torch.clamp(y, io.act_min, io.act_max)
        return vals  # type: ignore[return-value]

    def int8_logits(self, X: np.ndarray, batch: int = 128, adapted: bool = False) -> np.ndarray:
        """int8 logits of dataset windows X (or of graph inputs, `adapted`)."""
        G = X if adapted else self.graph_windows(X)
        out = [self.forward_int(xb) for xb in _batches(G, batch)]
        return torch.cat(out).numpy().astype(np.int8) if out else np.zeros((0, self.g.tensors[self.g.output].size), np.int8)

    def logits_exact(self, X: np.ndarray, batch: int = 128, adapted: bool = False) -> np.ndarray:
        """Dequantized exact logits (float64) of dataset windows X (or graph inputs, `adapted`)."""
        t = self.g.tensors[self.g.output]
        return (self.int8_logits(X, batch, adapted).astype(np.float64) - t.zero_point) * t.scale

    # --- snapshots (early stopping) and the checkpoint record ---------------------------------
    def snapshot(self) -> dict:
        return {"params": {k: v.detach().clone() for k, v in self.state_dict().items()}, "qp": self.qparams()}

    def restore(self, snap: dict) -> None:
        self.load_state_dict(snap["params"])
        self.set_qparams(snap["qp"])
        self.sync_graph()

    def export_state(self) -> dict:
        """The shipped integer graph as tensors and lists (checkpoint extra, torch weights_only)."""
        nodes = {}
        for node in self.weighted + self.norms:
            w = node.weights
            nodes[node.name] = {"levels": torch.from_numpy(np.array(w.levels)), "scale": torch.from_numpy(np.array(w.scale)),
                                "bias": torch.from_numpy(np.array(w.bias, dtype=np.float64))}
        return {"nodes": nodes, "tensors": [[float(s), int(z)] for s, z in self.qparams()]}

    def exportable(self) -> bool:
        """Whether the writer can lower every weighted node (its int32 accumulator bound holds)."""
        try:
            for node in self.weighted:
                integer_op(self.g, node)
        except EcgEdgeError:
            return False
        return True

    def load_export_state(self, st: dict) -> None:
        apply_trained(self.g, st)


HUBERT_STEP_LR_RELATIVE = 0.01
STEP_FLOOR = 0.125


def _relative_rate(qat: QATGraph, cfg: QATConfig) -> float:
    rel = cfg.step_lr_relative
    if rel is None:
        rel = HUBERT_STEP_LR_RELATIVE if qat.arch == "hubert_ecg" else 0.0
    return rel


def step_floors(qat: QATGraph, cfg: QATConfig) -> dict[str, torch.Tensor]:
    """With relative step rates: each step stays >= STEP_FLOOR of its initial value (a fixed
    relative rate can otherwise walk a step to 0 over enough iterations, and a tiny step makes
    the int32 bias of model.bin overflow); none otherwise (the ResNet1D path as measured)."""
    if _relative_rate(qat, cfg) <= 0:
        return {}
    return {k: STEP_FLOOR * p.detach().clone() for k, p in qat.step.items()}


def param_groups(qat: QATGraph, cfg: QATConfig) -> list[dict]:
    """Adam's parameter groups: everything at cfg.lr, or (step_lr_relative > 0) each layer's
    steps at step_lr_relative times their initial mean."""
    rel = _relative_rate(qat, cfg)
    if rel <= 0:
        return [{"params": list(qat.parameters())}]
    steps = {id(p) for p in qat.step.values()}
    groups = [{"params": [p for p in qat.parameters() if id(p) not in steps]}]
    for p in qat.step.values():
        groups.append({"params": [p], "lr": rel * float(p.detach().abs().mean().clamp_min(1e-8))})
    return groups


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, y: torch.Tensor, T: float, kd: float) -> torch.Tensor:
    ls = F.log_softmax(student / T, dim=1)
    lt = F.log_softmax(teacher / T, dim=1)
    kl = (lt.exp() * (lt - ls)).sum(dim=1).mean() * (T * T)
    return kd * kl + (1.0 - kd) * F.cross_entropy(student, y)


@dataclass
class QATResult:
    qat: QATGraph
    epochs_run: int
    best_epoch: int
    val_loss: list[float]  # index 0: before training
    train_loss: list[float]
    seconds: float


def train_qat(model: nn.Module, plan, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray,
              y_val: np.ndarray, cfg: QATConfig, warm: QATGraph | None = None, arch: str = "resnet1d",
              desc: str = "QAT", augmenter=None) -> QATResult:
    """Distillation QAT of `plan`; early stopping on the exact forward's validation loss; returns
    the best epoch's graph (weights and activation qparams). `warm`: a previous QAT graph whose
    trained weights seed the layers it shares (bits and mask unchanged)."""
    from ecg_edge.progress import progress

    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    qat = QATGraph(model, plan, X_train, arch, cfg.calib_windows)
    if warm is not None:
        old = {QATGraph._key(n): n.weights.bits for n in warm.weighted}
        with torch.no_grad():
            for node in qat.weighted:
                k = qat._key(node)
                if old.get(k) == node.weights.bits and torch.equal(qat.masks[k], warm.masks[k]):
                    qat.latent[k].copy_(warm.latent[k])
                    qat.step[k].copy_(warm.step[k])
                    qat.bias[k].copy_(warm.bias[k])
            for k in qat.gamma:  # norms have no plan entry: always the same shape
                qat.gamma[k].copy_(warm.gamma[k])
                qat.beta[k].copy_(warm.beta[k])
        qat.calibrate(X_train, cfg.calib_windows)
    G_train, G_val = qat.graph_windows(X_train), qat.graph_windows(X_val)
    t_train = torch.from_numpy(predict(model, X_train))
    t_val = torch.from_numpy(predict(model, X_val))
    yv = torch.from_numpy(np.asarray(y_val, dtype=np.int64))
    n = len(y_train)
    per_epoch = n if not cfg.max_train or cfg.max_train >= n else cfg.max_train
    steps_per_epoch = max(1, math.ceil(per_epoch / cfg.batch_size))
    total = steps_per_epoch * max(cfg.epochs, 1)
    opt = torch.optim.Adam(param_groups(qat, cfg), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total)))

    floors = step_floors(qat, cfg)

    def val_loss() -> float:
        if not qat.exportable():  # a state model.bin cannot hold is never the best one
            return math.inf
        lg = torch.from_numpy(qat.logits_exact(G_val, adapted=True)).float()
        return float(distill_loss(lg, t_val, yv, cfg.temperature, cfg.kd_weight))

    best = (val_loss(), 0, qat.snapshot())
    vals, trains = [best[0]], []
    bad, epochs_run = 0, 0
    bar = progress(total=total, desc=desc, unit="step")
    try:
        for ep in range(1, cfg.epochs + 1):
            if 1 < ep <= cfg.epochs - cfg.freeze_epochs:
                qat.calibrate(X_train, cfg.calib_windows)
            idx = rng.permutation(n)[:per_epoch]
            run = 0.0
            for i in range(0, len(idx), cfg.batch_size):
                bi = np.sort(idx[i:i + cfg.batch_size])
                yb = torch.from_numpy(np.asarray(y_train[bi], dtype=np.int64))
                if augmenter is None:
                    xb, tb = torch.from_numpy(np.array(G_train[bi], dtype=np.float32)), t_train[bi]
                else:
                    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + ep * 10_007 + i)
                    xa = augmenter(torch.from_numpy(np.array(X_train[bi], dtype=np.float32)), gen)
                    with torch.no_grad():
                        tb = model(xa)
                    xb = torch.from_numpy(np.array(qat.graph_windows(xa.numpy()), dtype=np.float32))
                loss = distill_loss(qat.forward_train(xb), tb, yb, cfg.temperature, cfg.kd_weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if floors:
                    with torch.no_grad():
                        for k, f in floors.items():
                            qat.step[k].clamp_(min=f)
                sched.step()
                lv = float(loss.detach())
                run += lv * len(bi)
                bar.update(1)
                bar.set_postfix(epoch=ep, loss=f"{lv:.4f}")
            epochs_run = ep
            trains.append(run / max(len(idx), 1))
            qat.sync_graph()
            v = val_loss()
            vals.append(v)
            bar.set_postfix(epoch=ep, loss=f"{trains[-1]:.4f}", val_loss=f"{v:.4f}")
            if v < best[0] - 1e-6:
                best, bad = (v, ep, qat.snapshot()), 0
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
    finally:
        bar.close()
    qat.restore(best[2])
    return QATResult(qat, epochs_run, best[1], vals, trains, time.perf_counter() - t0)


def qat_int8_logits(ckpt, plan, X: np.ndarray) -> np.ndarray:
    """int8 logits of a QAT-compressed checkpoint's exact forward: the fake-quant reference its
    shipped model.bin is compared with (ckpt.extra["qat"] holds the trained integer graph)."""
    X = np.asarray(X)
    qat = QATGraph(model_from_checkpoint(ckpt), plan, None, ckpt.arch)
    qat.load_export_state(ckpt.extra["qat"])
    return qat.int8_logits(X)
