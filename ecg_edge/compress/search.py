"""The searches of paper section 2.3 on a fixed validation subset: fixed baselines, LAQ (eq. 3),
LAP (eq. 4) and LAQ+LAP.

Eq. (3), b_l* = min{b : Acc >= A0 - gamma * I_l}, is read two ways (DESIGN.md):
- "printed": the floor is A0 - gamma * Î_l, so MORE important layers may lose more accuracy,
  i.e. importance acts as priority for compression (large, high-variance layers give the most
  bytes back and get the most slack).
- "conservative": the paper's text (important layers are compressed conservatively): the floor
  is A0 - gamma * (1 - Î_l + Î_min), so the least important layer gets the whole tolerance and
  the most important one the least.
Î_l = I_l / max I (importance.py), so every floor lies within [A0 - gamma, A0]. The default
reading is chosen in engine.py (DEFAULT_READING) from measurements of both. Both readings
visit layers least important first, as the paper's greedy does; a layer keeps the smallest
bit-width whose whole-model validation accuracy (all earlier choices applied) meets its floor.

The per-layer minimum is found by bisection over the sorted candidates, assuming accuracy is
monotone in the bit-width / sparsity of one layer (scan=True checks every candidate instead).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from ecg_edge.compress.importance import Importance
from ecg_edge.compress.layers import discover_layers, set_weight, weight_numpy
from ecg_edge.compress.quantize import CompressedLayer, compress_weight
from ecg_edge.compress.staged import StagedRunner

READINGS = ("printed", "conservative")
METRICS = ("accuracy", "macro_f1")
Choice = tuple[int, float]  # (bits, sparsity)
LAP_GRID = 128  # bisection resolution of LAP's global sparsity scale


@dataclass
class SearchResult:
    assign: dict[str, Choice]
    val_accuracy: float
    baseline_accuracy: float
    evaluations: int
    seconds: float
    trace: list[dict] = field(default_factory=list)


def macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    """Macro-F1 over the classes present in y or pred (as metrics.classification_metrics)."""
    f1s = []
    for c in np.union1d(np.unique(y), np.unique(pred)):
        tp = float(np.sum((pred == c) & (y == c)))
        p, r = tp / max(np.sum(pred == c), 1), tp / max(np.sum(y == c), 1)
        f1s.append(2 * p * r / (p + r) if p + r > 0 else 0.0)
    return float(np.mean(f1s)) if f1s else 0.0


class SearchContext:
    """A model whose compressible layers can be switched between fp32 and any (bits, sparsity),
    with compressed layers cached and accuracy measured on a fixed validation subset."""

    def __init__(self, model: nn.Module, X_val: np.ndarray, y_val: np.ndarray,
                 order: str = "prune-then-quantize", batch_size: int = 256, metric: str = "accuracy") -> None:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        self.metric = metric
        self.model = model.eval()
        self.names = [li.name for li in discover_layers(model)]
        self.fp = {n: weight_numpy(model, n) for n in self.names}
        self.runner = StagedRunner(model, X_val, batch_size)
        self.y = np.asarray(y_val)
        self.order = order
        self.evaluations = 0
        self._cache: dict[tuple[str, int, float, str], CompressedLayer] = {}
        self._current: dict[str, Choice | None] = {n: None for n in self.names}
        self.baseline = self.accuracy()

    def compressed(self, name: str, choice: Choice) -> CompressedLayer:
        key = (name, int(choice[0]), round(float(choice[1]), 6), self.order)
        if key not in self._cache:
            self._cache[key] = compress_weight(self.fp[name], key[1], key[2], self.order)
        return self._cache[key]

    def set_order(self, order: str) -> None:
        """Switch prune-then-quantize / quantize-then-prune (cached layers of both are kept)."""
        if order != self.order:
            self.restore()
            self.order = order

    def set(self, name: str, choice: Choice | None) -> None:
        if self._current[name] == choice:
            return
        set_weight(self.model, name, self.fp[name] if choice is None else self.compressed(name, choice).weight)
        self._current[name] = choice

    def set_all(self, assign: dict[str, Choice | None]) -> None:
        for n in self.names:
            self.set(n, assign.get(n))

    def logits(self, stage: int = 0, acts: list | None = None) -> np.ndarray:
        self.evaluations += 1
        return self.runner.logits_from(stage, acts)

    def accuracy(self, stage: int = 0, acts: list | None = None) -> float:
        """The search score: accuracy (the paper's criterion) or macro-F1 (robust to a model that
        collapses onto the majority class of an imbalanced set, which accuracy can accept)."""
        pred = self.logits(stage, acts).argmax(1)
        if self.metric == "accuracy":
            return float((pred == self.y).mean())
        return macro_f1(self.y, pred)

    def restore(self) -> None:
        self.set_all({})


def floors(imp: Importance, tolerance: float, baseline: float, reading: str) -> dict[str, float]:
    if reading == "printed":
        slack = imp.normalized
    elif reading == "conservative":
        slack = 1.0 - imp.normalized + imp.normalized.min()
    else:
        raise ValueError(f"reading must be one of {READINGS}, got {reading!r}")
    return {n: baseline - tolerance * float(s) for n, s in zip(imp.names, slack, strict=True)}


def visit_order(imp: Importance) -> list[str]:
    """Least important first (ties: definition order)."""
    return [imp.names[i] for i in np.argsort(imp.score, kind="stable")]


def _first_passing(cands: Sequence[Choice], passes: Callable[[Choice], bool], scan: bool) -> Choice:
    """cands sorted most aggressive first; the last one is the layer's current choice and is
    taken to pass. Returns the most aggressive passing candidate."""
    if scan:
        for c in cands[:-1]:
            if passes(c):
                return c
        return cands[-1]
    lo, hi = 0, len(cands) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if passes(cands[mid]):
            hi = mid
        else:
            lo = mid + 1
    return cands[lo]


def greedy_layerwise(ctx: SearchContext, assign: dict[str, Choice], order: list[str],
                     candidates: Callable[[str, Choice], list[Choice]], floor: dict[str, float],
                     scan: bool = False, trace: list[dict] | None = None) -> dict[str, Choice]:
    assign = dict(assign)
    for name in order:
        cands = candidates(name, assign[name])
        if len(cands) <= 1:
            continue
        ctx.set_all(assign)
        stage = ctx.runner.stage_of[name]
        acts = ctx.runner.inputs_of(stage)

        def passes(c: Choice, name: str = name, stage: int = stage, acts: list = acts) -> bool:
            ctx.set(name, c)
            acc = ctx.accuracy(stage, acts)
            ok = acc >= floor[name] - 1e-12
            if trace is not None:
                trace.append({"layer": name, "bits": c[0], "sparsity": c[1], "val_acc": acc,
                              "floor": floor[name], "pass": ok})
            return ok

        assign[name] = _first_passing(cands, passes, scan)
        ctx.set(name, assign[name])
    return assign


def fixed(ctx: SearchContext, bits: int, sparsity: float) -> SearchResult:
    t0 = time.perf_counter()
    assign = {n: (bits, sparsity) for n in ctx.names}
    ctx.set_all(assign)
    acc = ctx.accuracy()
    return SearchResult(assign, acc, ctx.baseline, 1, time.perf_counter() - t0)


def laq(ctx: SearchContext, imp: Importance, tolerance: float, bits: Sequence[int],
        reading: str = "printed", start: dict[str, Choice] | None = None, scan: bool = False) -> SearchResult:
    """Eq. (3): per layer the smallest supported bit-width meeting its accuracy floor."""
    t0, e0 = time.perf_counter(), ctx.evaluations
    bits = sorted(set(int(b) for b in bits))
    assign = dict(start) if start else {n: (bits[-1], 0.0) for n in ctx.names}
    trace: list[dict] = []

    def cands(name: str, cur: Choice) -> list[Choice]:
        return [(b, cur[1]) for b in bits if b < cur[0]] + [cur]

    assign = greedy_layerwise(ctx, assign, visit_order(imp), cands,
                              floors(imp, tolerance, ctx.baseline, reading), scan, trace)
    ctx.set_all(assign)
    acc = ctx.accuracy()
    return SearchResult(assign, acc, ctx.baseline, ctx.evaluations - e0, time.perf_counter() - t0, trace)


def lap_sparsities(imp: Importance, scale: float, max_sparsity: float = 0.99) -> dict[str, float]:
    """Eq. (4) with importance-guided factors: p_l = scale * (1 - Î_l + Î_min), so the most
    important layer is pruned least and the least important one at `scale`."""
    w = 1.0 - imp.normalized + imp.normalized.min()
    return {n: float(min(max_sparsity, round(scale * wi, 4))) for n, wi in zip(imp.names, w, strict=True)}


def pays(ctx: SearchContext, name: str, choice: Choice) -> bool:
    """True when the layer's sparsity makes its exact model.bin weight block smaller than the
    same bit-width unpruned (bitpack.weight_block_bytes of the shipped non-zero pattern)."""
    return (choice[1] > 0.0 and ctx.compressed(name, choice).block_bytes()[1]
            < ctx.compressed(name, (choice[0], 0.0)).block_bytes()[1])


def lap(ctx: SearchContext, imp: Importance, tolerance: float, bits: dict[str, int] | int = 8,
        max_sparsity: float = 0.99, floor: float | None = None, byte_aware: bool = False) -> SearchResult:
    """Eq. (4): the largest global scale whose importance-guided per-layer sparsities keep the
    validation accuracy >= A0 - tolerance (bisection on a 1/LAP_GRID grid of [0, max_sparsity]).

    byte_aware (LAQ+LAP): at every scale, a layer whose sparsity does not shrink its exact
    weight block at its bit-width (pays) is left unpruned, and the accuracy check sees that
    final assignment."""
    t0, e0 = time.perf_counter(), ctx.evaluations
    bmap = bits if isinstance(bits, dict) else {n: int(bits) for n in ctx.names}
    floor = ctx.baseline - tolerance if floor is None else floor
    trace: list[dict] = []

    def at(k: int) -> dict[str, Choice]:
        sp = lap_sparsities(imp, max_sparsity * k / LAP_GRID, max_sparsity)
        out = {n: (bmap[n], sp[n]) for n in ctx.names}
        if byte_aware:
            out = {n: c if pays(ctx, n, c) else (c[0], 0.0) for n, c in out.items()}
        return out

    lo, hi = 0, LAP_GRID  # invariant: lo passes (scale 0 = the bits alone, taken as the start)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        ctx.set_all(at(mid))
        acc = ctx.accuracy()
        ok = acc >= floor - 1e-12
        trace.append({"scale": max_sparsity * mid / LAP_GRID, "val_acc": acc, "floor": floor, "pass": ok})
        if ok:
            lo = mid
        else:
            hi = mid - 1
    assign = at(lo)
    ctx.set_all(assign)
    acc = ctx.accuracy()
    return SearchResult(assign, acc, ctx.baseline, ctx.evaluations - e0, time.perf_counter() - t0, trace)


def laq_lap(ctx: SearchContext, imp: Importance, tolerance: float, bits: Sequence[int],
            reading: str = "printed", laq_share: float = 0.5, scan: bool = False) -> SearchResult:
    """LAQ within laq_share of the tolerance, then LAP on top of those bit-widths within the
    whole tolerance (both measured against the fp32 baseline A0).

    Byte-aware (beyond the paper): a layer keeps LAP's sparsity only where it shrinks that
    layer's exact model.bin weight block at its LAQ bit-width; otherwise its sparsity is 0.
    Why: the paper counts b_l * nnz_l bits, but a sparse block also ships its index (a bitmask
    costs ~1 bit per weight), so at 1-3 bits moderate sparsity makes the block LARGER (ResNet1D,
    synthetic chapman4: LAQ 41,680 B vs paper-style LAQ+LAP 65,440 B at similar accuracy). The
    rule is applied inside LAP's bisection, so the accuracy floor is checked on the shipped
    assignment, and LAQ+LAP's weight blocks never exceed those of its own LAQ stage."""
    t0, e0 = time.perf_counter(), ctx.evaluations
    q = laq(ctx, imp, tolerance * laq_share, bits, reading, scan=scan)
    p = lap(ctx, imp, tolerance, {n: c[0] for n, c in q.assign.items()}, byte_aware=True)
    return SearchResult(p.assign, p.val_accuracy, ctx.baseline, ctx.evaluations - e0,
                        time.perf_counter() - t0, q.trace + p.trace)
