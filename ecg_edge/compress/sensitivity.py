"""Label-free sensitivity of every layer x candidate (bits, sparsity), for the allocator.

- "kl": the output distortion of the whole model with only that layer compressed,
  mean KL(p_fp32 || p_compressed) over training windows (no labels, so far less noise than
  accuracy on a few hundred validation windows). The stage before the layer runs once per layer
  (StagedRunner) and every candidate re-runs only the stages from the layer on.
- "hutchinson": HAWQ-V2/V3 style, Omega = 1/2 * Tr(H_l)/n_l * ||Q(W_l) - W_l||^2 with H_l the
  Hessian of the same KL at the fp32 point (there it equals the Fisher information, so it is
  label-free too), its trace estimated by Hutchinson's method (Rademacher probes, Hessian-vector
  products by double backward). One pass of probes serves every candidate.
The paper's importance (PDI + PVI, eq. 3) stays the paper's method (laq / laq+lap in search.py)
and the baseline these are compared with.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ecg_edge.compress.allocate import Option
from ecg_edge.compress.layers import discover_layers, set_weight, to_weight_order, weight_numpy
from ecg_edge.compress.quantize import compress_weight
from ecg_edge.compress.staged import StagedRunner
from ecg_edge.layerplan.bitpack import ENC_DENSE, ENCODING_NAMES, weight_block_bytes

METHODS = ("kl", "hutchinson")
DEFAULT_BITS = (1, 2, 3, 4, 6, 8)
DEFAULT_SPARSITIES = (0.0, 0.5, 0.9)
DEFAULT_WINDOWS = 2000


@dataclass
class Sensitivity:
    method: str
    windows: int
    options: dict[str, list[Option]]
    seconds: float
    traces: dict[str, float] = field(default_factory=dict)  # Hutchinson: Tr(H_l)

    def option(self, name: str, choice: tuple[int, float]) -> Option:
        for o in self.options[name]:
            if o.choice[0] == choice[0] and abs(o.choice[1] - choice[1]) < 1e-9:
                return o
        raise KeyError((name, choice))


def from_record(rec: dict, where: str = "plan.json") -> Sensitivity:
    """The Sensitivity a `compress --method qat` run recorded in its plan metrics ("sensitivity":
    method, windows, seconds, options [bits, sparsity, bytes, sensitivity, macs(, encoding)]), so
    a later run on the same checkpoint can reuse it instead of measuring again."""
    try:
        opts = {name: [Option((int(r[0]), float(r[1])), int(r[2]), float(r[3]), int(r[4]),
                              str(r[5]) if len(r) > 5 else "") for r in rows]
                for name, rows in rec["options"].items()}
        return Sensitivity(str(rec["method"]), int(rec["windows"]), opts, float(rec.get("seconds", 0.0)))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{where}: metrics.sensitivity is not a recorded sensitivity ({exc!r})") from exc


def kl_rows(p_logits: np.ndarray, q_logits: np.ndarray) -> np.ndarray:
    """KL(softmax p || softmax q) per row, in float64."""
    def logsoftmax(z: np.ndarray) -> np.ndarray:
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    lp, lq = logsoftmax(np.asarray(p_logits, np.float64)), logsoftmax(np.asarray(q_logits, np.float64))
    return (np.exp(lp) * (lp - lq)).sum(axis=1)


def layer_macs(model: nn.Module, n_leads: int, n_samples: int) -> dict[str, int]:
    """Dense multiply-accumulates of every Conv1d / Linear for one window."""
    from ecg_edge.models.registry import forward_with_hooks

    macs: dict[str, int] = {}

    def hook(name: str):
        def fn(mod: nn.Module, _inp, out: torch.Tensor) -> None:
            per = out.numel() // out.shape[0]
            macs[name] = per * (mod.in_channels // mod.groups * mod.kernel_size[0] if isinstance(mod, nn.Conv1d)
                                else mod.in_features)
        return fn

    handles = [model.get_submodule(li.name).register_forward_hook(hook(li.name)) for li in discover_layers(model)]
    forward_with_hooks(model, torch.zeros(1, n_leads, n_samples), handles)
    return macs


def training_windows(X: np.ndarray, n: int = DEFAULT_WINDOWS, seed: int = 0) -> np.ndarray:
    """A seeded subset of n training windows (all of them when the split is smaller)."""
    idx = np.arange(len(X))
    if len(X) > n:
        idx = np.sort(np.random.default_rng(seed).choice(len(X), n, replace=False))
    return np.asarray(X[idx], dtype=np.float32)


def _options(name: str, w: np.ndarray, bits: Sequence[int], sparsities: Sequence[float], order: str,
             macs: int, score) -> list[Option]:
    out = []
    for b in sorted(set(int(x) for x in bits)):
        for p in sparsities:
            cl = compress_weight(w, b, float(p), order)
            # bytes with every kept weight non-zero: an upper bound QAT cannot exceed (it may
            # move levels off zero inside the mask, never outside it)
            enc, nbytes = weight_block_bytes(to_weight_order(cl.mask), b)
            # DENSE blocks execute every weight; BITMASK / RUNLENGTH only the kept ones.
            executed = macs if enc == ENC_DENSE else int(round(macs * float(cl.mask.mean())))
            out.append(Option((b, float(p)), int(nbytes), float(score(cl)), executed, ENCODING_NAMES[enc]))
    return out


def kl_sensitivity(model: nn.Module, X: np.ndarray, bits: Sequence[int] = DEFAULT_BITS,
                   sparsities: Sequence[float] = DEFAULT_SPARSITIES, order: str = "prune-then-quantize",
                   batch_size: int = 250) -> Sensitivity:
    t0 = time.perf_counter()
    model = copy.deepcopy(model).eval()
    names = [li.name for li in discover_layers(model)]
    runner = StagedRunner(model, X, batch_size)
    ref = runner.logits()
    macs = layer_macs(model, X.shape[1], X.shape[2])
    out: dict[str, list[Option]] = {}
    for name in names:
        fp = weight_numpy(model, name)
        stage = runner.stage_of[name]
        acts = runner.inputs_of(stage)

        def score(cl, name: str = name, stage: int = stage, acts: list = acts) -> float:
            set_weight(model, name, cl.weight)
            return float(kl_rows(ref, runner.logits_from(stage, acts)).mean())

        out[name] = _options(name, fp, bits, sparsities, order, macs[name], score)
        set_weight(model, name, fp)
    return Sensitivity("kl", len(X), out, time.perf_counter() - t0)


def hutchinson_traces(model: nn.Module, X: np.ndarray, probes: int = 8, batch_size: int = 250,
                      seed: int = 0) -> dict[str, float]:
    """Tr(H_l) of KL(p_fp32 || p_theta) at theta = fp32 weights, per layer (Hutchinson)."""
    model = copy.deepcopy(model).eval()
    layers = discover_layers(model)
    params = [model.get_submodule(li.name).weight for li in layers]
    gen = torch.Generator().manual_seed(seed)
    tr = np.zeros(len(params))
    n_total = len(X)
    for i in range(0, n_total, batch_size):
        xb = torch.from_numpy(np.array(X[i:i + batch_size], dtype=np.float32))
        with torch.no_grad():
            p0 = torch.softmax(model(xb), dim=1)
        logq = torch.log_softmax(model(xb), dim=1)
        # KL(p0 || q) summed over the batch; its Hessian at theta0 is the (batch-summed) Fisher.
        loss = -(p0 * logq).sum()
        grads = torch.autograd.grad(loss, params, create_graph=True)
        for k in range(probes):
            vs = [torch.randint(0, 2, p.shape, generator=gen).to(p.dtype) * 2 - 1 for p in params]
            hv = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=k < probes - 1)
            for j, (h, v) in enumerate(zip(hv, vs, strict=True)):
                tr[j] += float((h * v).sum()) / probes
    return {li.name: float(t) / n_total for li, t in zip(layers, tr, strict=True)}


def hutchinson_sensitivity(model: nn.Module, X: np.ndarray, bits: Sequence[int] = DEFAULT_BITS,
                           sparsities: Sequence[float] = DEFAULT_SPARSITIES, order: str = "prune-then-quantize",
                           probes: int = 16) -> Sensitivity:
    t0 = time.perf_counter()
    traces = hutchinson_traces(model, X, probes)
    macs = layer_macs(model, X.shape[1], X.shape[2])
    out = {}
    for li in discover_layers(model):
        fp = weight_numpy(model, li.name)
        per = max(traces[li.name], 0.0) / li.params

        def score(cl, fp: np.ndarray = fp, per: float = per) -> float:
            return 0.5 * per * float(((cl.weight - fp) ** 2).sum())

        out[li.name] = _options(li.name, fp, bits, sparsities, order, macs[li.name], score)
    return Sensitivity("hutchinson", len(X), out, time.perf_counter() - t0, traces)


def measure(model: nn.Module, X: np.ndarray, method: str = "kl", bits: Sequence[int] = DEFAULT_BITS,
            sparsities: Sequence[float] = DEFAULT_SPARSITIES, order: str = "prune-then-quantize") -> Sensitivity:
    if method == "kl":
        return kl_sensitivity(model, X, bits, sparsities, order)
    if method == "hutchinson":
        return hutchinson_sensitivity(model, X, bits, sparsities, order)
    raise ValueError(f"sensitivity method must be one of {METHODS}, got {method!r}")
