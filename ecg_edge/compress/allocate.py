"""Budgeted mode (beyond the paper, after HAWQ-V3): given a byte budget, choose one
(bits, sparsity) option per layer to minimise the summed measured sensitivity, a multiple-choice
knapsack solved exactly by dynamic programming over bytes.

Sensitivity of an option = mean KL(p_fp32 || p_option) over the validation subset with only that
layer compressed (others fp32): smooth where accuracy on a few hundred windows is coarse, and
approximately additive across layers (the assumption HAWQ-style allocators make). Bytes are the
exact weight-block bytes, all multiples of 4, so the DP is exact in 4-byte units.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ecg_edge.compress.search import Choice, SearchContext, SearchResult
from ecg_edge.errors import EcgEdgeError

DEFAULT_SPARSITIES = (0.0, 0.5, 0.75, 0.9)
UNIT = 4


@dataclass
class Option:
    """One candidate of one layer: exact weight-block bytes, sensitivity, executed MACs per
    window (0 = not measured; a MAC budget then refuses to run)."""
    choice: Choice
    bytes: int
    sensitivity: float
    macs: int = 0
    encoding: str = ""


def _kl(p_logits: np.ndarray, q_logits: np.ndarray) -> float:
    def logsoftmax(z: np.ndarray) -> np.ndarray:
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    lp, lq = logsoftmax(p_logits.astype(np.float64)), logsoftmax(q_logits.astype(np.float64))
    return float((np.exp(lp) * (lp - lq)).sum(axis=1).mean())


def measure_sensitivities(ctx: SearchContext, bits: Sequence[int],
                          sparsities: Sequence[float] = DEFAULT_SPARSITIES) -> dict[str, list[Option]]:
    ctx.restore()
    ref = ctx.logits()
    out: dict[str, list[Option]] = {}
    for name in ctx.names:
        stage = ctx.runner.stage_of[name]
        acts = ctx.runner.inputs_of(stage)
        opts = []
        for b in sorted(set(bits)):
            for p in sparsities:
                c = (int(b), float(p))
                ctx.set(name, c)
                sens = _kl(ref, ctx.logits(stage, acts))
                opts.append(Option(c, ctx.compressed(name, c).block_bytes()[1], sens))
        ctx.set(name, None)
        out[name] = opts
    return out


def knapsack(options: dict[str, list[Option]], budget_bytes: int, mac_price: float = 0.0) -> dict[str, Choice]:
    """Exact multiple-choice knapsack: min sum (sensitivity + mac_price * macs) s.t. sum bytes
    <= budget."""
    names = list(options)
    min_total = sum(min(o.bytes for o in options[n]) for n in names)
    if min_total > budget_bytes:
        raise EcgEdgeError(f"byte budget {budget_bytes} B is below the smallest possible weight blocks "
                           f"({min_total} B at the most aggressive option of every layer)")
    cap = min(budget_bytes, sum(max(o.bytes for o in options[n]) for n in names)) // UNIT
    inf = np.inf
    best = np.full(cap + 1, inf)
    best[0] = 0.0
    picks = []
    for n in names:
        new = np.full(cap + 1, inf)
        pick = np.full(cap + 1, -1, dtype=np.int32)
        for j, o in enumerate(options[n]):
            w = -(-o.bytes // UNIT)
            if w > cap:
                continue
            cand = np.full(cap + 1, inf)
            cand[w:] = best[:cap + 1 - w] + o.sensitivity + mac_price * o.macs
            better = cand < new
            new[better] = cand[better]
            pick[better] = j
        best = new
        picks.append(pick)
    c = int(np.argmin(best))
    choice: dict[str, Choice] = {}
    for n, pick in zip(reversed(names), reversed(picks), strict=True):
        j = int(pick[c])
        o = options[n][j]
        choice[n] = o.choice
        c -= -(-o.bytes // UNIT)
    return {n: choice[n] for n in names}


@dataclass
class Budget:
    """What an allocation must respect. max_bytes: weight-block bytes (the caller subtracts the
    measured non-weight bytes of model.bin); max_macs: executed multiply-accumulates per window
    over the options' `macs` (channel pruning supplies options with fewer MACs). The accuracy
    tolerance is not a budget here: it is checked on the shipped bytes (compress/ship.py)."""
    max_bytes: int
    max_macs: int | None = None


def _pick(options: dict[str, list[Option]], assign: dict[str, Choice], field: str) -> float:
    total = 0.0
    for n, c in assign.items():
        total += next(getattr(o, field) for o in options[n] if o.choice == c)
    return total


def allocate(options: dict[str, list[Option]], budget: Budget, iters: int = 40) -> dict[str, Choice]:
    """Min summed sensitivity under the byte budget and, when given, the MAC budget. The MAC
    constraint is Lagrangian: the smallest price per MAC (bisection) whose exact byte knapsack
    meets it. Refuses (EcgEdgeError) a MAC budget no option set can meet."""
    assign = knapsack(options, budget.max_bytes)
    if budget.max_macs is None or _pick(options, assign, "macs") <= budget.max_macs:
        return assign
    if any(o.macs <= 0 for v in options.values() for o in v):
        raise EcgEdgeError("a MAC budget needs every option's executed MACs (sensitivity.layer_macs)")
    floor = sum(min(o.macs for o in v) for v in options.values())
    if floor > budget.max_macs:
        raise EcgEdgeError(f"MAC budget {budget.max_macs} is below the fewest executable MACs ({floor}) of these options")
    s_max = max(o.sensitivity for v in options.values() for o in v) * len(options) + 1.0
    lo, hi = 0.0, s_max / max(1.0, floor)
    best = None
    for _ in range(60):  # grow the price until the constraint holds
        cand = knapsack(options, budget.max_bytes, hi)
        if _pick(options, cand, "macs") <= budget.max_macs:
            best = cand
            break
        hi *= 4.0
    if best is None:
        raise EcgEdgeError(f"no allocation within {budget.max_bytes} B meets the MAC budget {budget.max_macs}")
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        cand = knapsack(options, budget.max_bytes, mid)
        if _pick(options, cand, "macs") <= budget.max_macs:
            best, hi = cand, mid
        else:
            lo = mid
    return best


def budget(ctx: SearchContext, bits: Sequence[int], budget_bytes: int,
           sparsities: Sequence[float] = DEFAULT_SPARSITIES,
           options: dict[str, list[Option]] | None = None) -> tuple[SearchResult, dict[str, list[Option]]]:
    t0, e0 = time.perf_counter(), ctx.evaluations
    opts = options or measure_sensitivities(ctx, bits, sparsities)
    assign = knapsack(opts, budget_bytes)
    ctx.set_all(assign)
    acc = ctx.accuracy()
    res = SearchResult(assign, acc, ctx.baseline, ctx.evaluations - e0, time.perf_counter() - t0,
                       [{"layer": n, "options": [(o.choice, o.bytes, o.sensitivity) for o in v]}
                        for n, v in opts.items()])
    return res, opts
