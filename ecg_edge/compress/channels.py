"""Structured (channel) pruning of ResNet1D: fewer MACs, a narrower graph, smaller convs in model.bin.

What is pruned: the inner channels of each residual block (conv1's outputs = conv2's inputs).
A block's output channels feed the residual ADD, where conv2, the shortcut (or the identity) and
every later consumer must keep the same channels; they are left as they are. The inner channels
hold about 93% of the default model's MACs, and a block's MACs are linear in its inner width
(conv1: L * k * C_in per channel, conv2: L * k * C_out), so the model's MACs are a sum over blocks
and the keep-counts are chosen by the same multiple-choice allocation as the bit plan
(allocate.knapsack, with MACs as the resource).

1. Rank (label-free): per inner channel, the mean |activation| after bn1 + ReLU on training
   windows times the L2 norm of conv2's weights that read it.
2. Sensitivity: per block and keep-count (steps of `step` channels), the mean KL(p_fp32 || p) of
   the whole model with that block's lowest-ranked channels silenced (bn1's gamma and beta set to
   0, so the channel is exactly 0 after ReLU, i.e. the same function as removing it), on training
   windows; the stages before the block run once (StagedRunner), as in sensitivity.py.
3. Allocate: min summed KL subject to MACs <= the budget (from --max-macs, or --max-latency-ms
   through the target's measured instructions per MAC and its stated CPI).
4. Remove: a ResNet1D with ResNet1DConfig.mid_widths, holding the kept rows of conv1/bn1 and the
   kept input columns of conv2; the checkpoint records that config, so export, evaluate and
   simulate build the narrow model and the packer writes the narrow convs.
5. Distillation fine-tune of the narrow model from the unpruned one (qat.distill_loss); the
   caller's qat method then quantizes and ships it.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ecg_edge.checkpoint import Checkpoint
from ecg_edge.compress.allocate import UNIT, Option, knapsack
from ecg_edge.compress.qat import distill_loss
from ecg_edge.compress.sensitivity import kl_rows, layer_macs, training_windows
from ecg_edge.compress.staged import StagedRunner
from ecg_edge.errors import EcgEdgeError
from ecg_edge.models.predict import predict
from ecg_edge.models.registry import count_macs, model_from_checkpoint
from ecg_edge.targets.registry import Target


@dataclass
class PruneConfig:
    step: int = 4  # keep-counts are multiples of this (the kernels block 4-6 output channels)
    min_keep: int = 4  # fewest inner channels a block keeps
    windows: int = 256  # training windows for ranking and sensitivity
    epochs: int = 15  # distillation fine-tune of the narrow model
    lr: float = 1e-3
    batch_size: int = 64
    temperature: float = 4.0
    kd_weight: float = 0.7
    patience: int = 4
    seed: int = 0


@dataclass
class Unit:
    """The inner channels of one block: `width` of them, each costing `macs_per_channel`."""
    block: int
    width: int
    macs_per_channel: int


@dataclass
class PrunePlan:
    budget_macs: int
    macs_before: int
    macs_after: int
    keep: dict[int, list[int]]  # block -> kept inner channel indices (ascending)
    widths_before: list[int]
    widths_after: list[int]
    options: dict[str, list[list[float]]] = field(default_factory=dict)  # unit -> [keep, KL, MACs]
    seconds: float = 0.0
    latency: list[dict[str, int]] = field(default_factory=list)  # measured rounds (LatencyCheck)


def _resnet(model: nn.Module):
    from ecg_edge.models.resnet1d import ResNet1D

    if not isinstance(model, ResNet1D):
        raise EcgEdgeError(f"channel pruning supports ResNet1D only, got {type(model).__name__}")
    return model


def model_macs(model: nn.Module) -> int:
    cfg = model.cfg
    return count_macs(model, torch.zeros(1, cfg.in_leads, cfg.n_samples))


def units(model: nn.Module) -> list[Unit]:
    m = _resnet(model)
    macs = layer_macs(m, m.cfg.in_leads, m.cfg.n_samples)
    out = []
    for i, blk in enumerate(m.blocks):
        mid = blk.conv1.out_channels
        total = macs[f"blocks.{i}.conv1"] + macs[f"blocks.{i}.conv2"]
        if total % mid:
            raise EcgEdgeError(f"blocks.{i}: MACs {total} are not linear in the inner width {mid}")
        out.append(Unit(i, mid, total // mid))
    return out


def fixed_macs(model: nn.Module) -> int:
    """MACs that inner pruning cannot remove (stem, shortcuts, head)."""
    return model_macs(model) - sum(u.width * u.macs_per_channel for u in units(model))


def keep_counts(width: int, step: int, min_keep: int) -> list[int]:
    ks = {width} | {k for k in range(step, width, step) if k >= min(min_keep, width)}
    return sorted(ks, reverse=True)


@torch.no_grad()
def channel_scores(model: nn.Module, X: np.ndarray, batch: int = 256) -> dict[int, np.ndarray]:
    """Per block, mean |ReLU(bn1(conv1 x))| per inner channel times ||conv2[:, c, :]||_2."""
    m = _resnet(copy.deepcopy(model)).eval()
    sums = {i: torch.zeros(blk.conv1.out_channels, dtype=torch.float64) for i, blk in enumerate(m.blocks)}
    count = 0

    def hook(i: int):
        def fn(_mod, _inp, out: torch.Tensor) -> None:
            sums[i] += torch.relu(out).abs().double().mean(dim=2).sum(dim=0)
        return fn

    handles = [blk.bn1.register_forward_hook(hook(i)) for i, blk in enumerate(m.blocks)]
    try:
        for j in range(0, len(X), batch):
            xb = torch.from_numpy(np.array(X[j:j + batch], dtype=np.float32))
            m(xb)
            count += len(xb)
    finally:
        for h in handles:
            h.remove()
    out = {}
    for i, blk in enumerate(m.blocks):
        wn = blk.conv2.weight.detach().double().pow(2).sum(dim=(0, 2)).sqrt()
        out[i] = (sums[i] / max(count, 1) * wn).numpy()
    return out


def ranked_keep(scores: np.ndarray, k: int) -> list[int]:
    """The k highest-scored channels (ties: the lower index), ascending."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    return sorted(int(c) for c in order[:k])


@torch.no_grad()
def silence(model: nn.Module, block: int, channels: list[int]) -> None:
    """Make inner channels of a block exactly 0 after bn1 + ReLU (the function of removing them)."""
    bn = _resnet(model).blocks[block].bn1
    idx = torch.as_tensor(channels, dtype=torch.long)
    bn.weight[idx] = 0.0
    bn.bias[idx] = 0.0


def sensitivity(model: nn.Module, X: np.ndarray, scores: dict[int, np.ndarray], cfg: PruneConfig,
                batch: int = 250) -> dict[str, list[Option]]:
    """Options per unit: choice (kept channels, 0.0), KL of the model with the rest silenced, MACs."""
    m = _resnet(copy.deepcopy(model)).eval()
    runner = StagedRunner(m, X, batch)
    ref = runner.logits()
    out: dict[str, list[Option]] = {}
    for u in units(m):
        bn = m.blocks[u.block].bn1
        saved = (bn.weight.detach().clone(), bn.bias.detach().clone())
        stage = runner.stage_of[f"blocks.{u.block}.conv1"]
        acts = runner.inputs_of(stage)
        opts = []
        w_per = int(m.blocks[u.block].conv1.weight[0].numel() + m.blocks[u.block].conv2.weight[:, 0].numel())
        for k in keep_counts(u.width, cfg.step, cfg.min_keep):
            keep = set(ranked_keep(scores[u.block], k))
            silence(m, u.block, [c for c in range(u.width) if c not in keep])
            kl = 0.0 if k == u.width else float(kl_rows(ref, runner.logits_from(stage, acts)).mean())
            with torch.no_grad():
                bn.weight.copy_(saved[0])
                bn.bias.copy_(saved[1])
            # bytes: int8 weights of the kept channels (the allocator's byte side; never binding here)
            opts.append(Option((k, 0.0), 4 * -(-k * w_per // 4), max(kl, 0.0), k * u.macs_per_channel, "channels"))
        out[f"blocks.{u.block}.inner"] = opts
    return out


def macs_for_latency(target: Target, max_ms: float) -> int:
    """The MAC budget a latency budget allows on a target: instructions = ms * clock / CPI, MACs =
    instructions / the target's measured instructions per MAC (dense int8)."""
    if target.instructions_per_mac <= 0:
        raise EcgEdgeError(f"--max-latency-ms: {target.name} has no measured instructions per MAC")
    instr = max_ms * 1e-3 * target.clock_hz / target.cycles_per_instruction
    return int(instr / target.instructions_per_mac)


def latency_ms(target: Target, macs: int) -> float:
    return target.ms_from_instructions(int(round(macs * target.instructions_per_mac)))


@dataclass
class LatencyCheck:
    """Measured instructions of a candidate narrow model (int8 dense, e.g. packed and run by the
    simulator) against a limit; the MAC budget shrinks by the measured ratio until it holds."""
    instructions: Callable[[nn.Module], int]
    max_instructions: int
    rounds: int = 6


def choose(model: nn.Module, X: np.ndarray, budget_macs: int, cfg: PruneConfig, what: str = "",
           latency: LatencyCheck | None = None) -> PrunePlan:
    """Keep-counts per block under the MAC budget (refused when even the fewest channels exceed
    it); with `latency`, the chosen model's measured instructions must also meet its limit."""
    t0 = time.perf_counter()
    m = _resnet(model)
    us = units(m)
    before = model_macs(m)
    fixed = before - sum(u.width * u.macs_per_channel for u in us)
    floor = fixed + sum(min(keep_counts(u.width, cfg.step, cfg.min_keep)) * u.macs_per_channel for u in us)
    what = what or f"MAC budget {budget_macs:,}"
    if budget_macs < floor:
        raise EcgEdgeError(f"{what}: below the smallest channel-pruned model's {floor:,} MACs (stem, shortcuts "
                           f"and head {fixed:,} + {cfg.min_keep} inner channels per block); the unpruned model "
                           f"has {before:,}")
    scores = channel_scores(m, X)
    opts: dict[str, list[Option]] = {}
    trace: list[dict[str, int]] = []
    budget = budget_macs
    for _ in range(latency.rounds if latency else 1):
        if budget >= before:
            keep = {u.block: list(range(u.width)) for u in us}
        else:
            opts = opts or sensitivity(m, X, scores, cfg)
            assign = allocate_macs(opts, budget - fixed)
            keep = {u.block: ranked_keep(scores[u.block], assign[f"blocks.{u.block}.inner"][0]) for u in us}
        after = fixed + sum(len(keep[u.block]) * u.macs_per_channel for u in us)
        if after > budget:
            raise EcgEdgeError(f"{what}: the allocation gives {after:,} MACs")  # the knapsack guarantees otherwise
        if latency is None:
            break
        instr = int(latency.instructions(prune_model(m, keep)))
        trace.append({"budget_macs": budget, "macs": after, "instructions": instr})
        if instr <= latency.max_instructions:
            break
        budget = min(after - 1, next_budget(trace, latency.max_instructions))
        if budget < floor:
            raise EcgEdgeError(f"{what}: a {after:,}-MAC pruned model measured {instr:,} instructions, over the "
                               f"{latency.max_instructions:,} allowed; at that rate even the smallest channel-pruned "
                               f"model ({floor:,} MACs) would be over")
    else:
        raise EcgEdgeError(f"{what}: after {latency.rounds} measured allocations the pruned model still takes "
                           f"{trace[-1]['instructions']:,} instructions, over {latency.max_instructions:,} (measured: "
                           + "; ".join(f"{r['macs']:,} MACs -> {r['instructions']:,}" for r in trace) + ")")
    return PrunePlan(budget_macs, before, after, keep, [u.width for u in us], [len(keep[u.block]) for u in us],
                     {n: [[o.choice[0], o.sensitivity, o.macs] for o in v] for n, v in opts.items()},
                     time.perf_counter() - t0, trace)


def next_budget(trace: list[dict[str, int]], limit: int) -> int:
    """The next MAC budget after a measured model over the instruction limit: instructions are
    about affine in MACs (fixed per-layer set-up), so a secant through the last two measured
    models once there are two, else the measured ratio."""
    last = trace[-1]
    if len(trace) >= 2 and trace[-2]["macs"] != last["macs"]:
        prev = trace[-2]
        slope = (last["instructions"] - prev["instructions"]) / (last["macs"] - prev["macs"])
        if slope > 0:
            return int(last["macs"] - (last["instructions"] - limit) / slope)
    return int(last["macs"] * limit / last["instructions"])


def allocate_macs(options: dict[str, list[Option]], budget_macs: int) -> dict[str, tuple[int, float]]:
    """Min summed KL with summed MACs <= budget, exactly: allocate.knapsack with MACs as the
    resource, in units of the options' greatest common divisor (8,960 MACs on the default model)."""
    unit = math.gcd(*[o.macs for v in options.values() for o in v])
    scaled = {n: [Option(o.choice, UNIT * (o.macs // unit), o.sensitivity, o.macs, o.encoding) for o in v]
              for n, v in options.items()}
    return knapsack(scaled, UNIT * (budget_macs // unit))


def prune_model(model: nn.Module, keep: dict[int, list[int]]) -> nn.Module:
    """A narrower ResNet1D holding the kept inner channels (conv1/bn1 rows, conv2 input columns)."""
    from ecg_edge.models.resnet1d import ResNet1D, ResNet1DConfig

    m = _resnet(model)
    mids = [len(keep.get(i, range(blk.conv1.out_channels))) for i, blk in enumerate(m.blocks)]
    cfg = ResNet1DConfig(**{**m.cfg.to_dict(), "mid_widths": mids})
    state = {k: v.detach().clone() for k, v in m.state_dict().items()}
    for i, blk in enumerate(m.blocks):
        if i not in keep:
            continue
        idx = torch.as_tensor(keep[i], dtype=torch.long)
        if len(idx) == 0 or int(idx.max()) >= blk.conv1.out_channels or len(set(keep[i])) != len(keep[i]):
            raise EcgEdgeError(f"blocks.{i}: kept channels {keep[i]} do not index its {blk.conv1.out_channels} inner channels")
        p = f"blocks.{i}"
        state[f"{p}.conv1.weight"] = state[f"{p}.conv1.weight"][idx].clone()
        for s in ("weight", "bias", "running_mean", "running_var"):
            state[f"{p}.bn1.{s}"] = state[f"{p}.bn1.{s}"][idx].clone()
        state[f"{p}.conv2.weight"] = state[f"{p}.conv2.weight"][:, idx].clone()
    out = ResNet1D(cfg)
    out.load_state_dict(state)
    return out.eval()


def distill_finetune(student: nn.Module, teacher: nn.Module, X: np.ndarray, y: np.ndarray, Xv: np.ndarray,
                     yv: np.ndarray, cfg: PruneConfig) -> tuple[nn.Module, dict[str, Any]]:
    """Distillation from the unpruned model (KL at a temperature + cross-entropy, as QAT),
    Adam with a cosine schedule, early stopping on the validation distillation loss."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    m = copy.deepcopy(student)
    t_train, t_val = torch.from_numpy(predict(teacher, X)), torch.from_numpy(predict(teacher, Xv))
    yv_t = torch.from_numpy(np.asarray(yv, dtype=np.int64))
    n = len(y)
    steps = max(1, math.ceil(n / cfg.batch_size)) * max(cfg.epochs, 1)
    opt = torch.optim.Adam(m.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, steps) / steps)))

    def val_loss() -> float:
        lg = torch.from_numpy(predict(m, Xv))
        return float(distill_loss(lg, t_val, yv_t, cfg.temperature, cfg.kd_weight))

    from ecg_edge.progress import progress

    best = (val_loss(), 0, copy.deepcopy(m.state_dict()))
    losses, bad = [best[0]], 0
    bar = progress(total=steps, desc="distillation (pruned)", unit="step")
    for ep in range(1, cfg.epochs + 1):
        m.train()
        idx = rng.permutation(n)
        for i in range(0, n, cfg.batch_size):
            bar.update(1)
            bi = np.sort(idx[i:i + cfg.batch_size])
            if len(bi) < 2:  # BatchNorm needs more than one window
                continue
            xb = torch.from_numpy(np.array(X[bi], dtype=np.float32))
            yb = torch.from_numpy(np.asarray(y[bi], dtype=np.int64))
            loss = distill_loss(m(xb), t_train[bi], yb, cfg.temperature, cfg.kd_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        v = val_loss()
        losses.append(v)
        bar.set_postfix(epoch=ep, val_loss=f"{v:.4f}")
        if v < best[0] - 1e-6:
            best, bad = (v, ep, copy.deepcopy(m.state_dict())), 0
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    bar.close()
    m.load_state_dict(best[2])
    return m.eval(), {"val_loss": losses, "best_epoch": best[1], "epochs_run": len(losses) - 1}


def prune_checkpoint(ckpt: Checkpoint, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray,
                     y_val: np.ndarray, budget_macs: int, cfg: PruneConfig, groups_val: np.ndarray | None = None,
                     what: str = "", log=None, latency: LatencyCheck | None = None) -> tuple[Checkpoint, dict[str, Any]]:
    """The channel-pruned, distillation-fine-tuned checkpoint (its config records the narrow
    architecture) and a report: MACs, widths, the sensitivity table, validation F1 with CI."""
    from ecg_edge.metrics import classification_metrics
    from ecg_edge.stats import paired_bootstrap

    if ckpt.arch != "resnet1d":
        raise EcgEdgeError(f"channel pruning supports resnet1d checkpoints, got {ckpt.arch!r}")
    log = log or (lambda s: None)
    t0 = time.perf_counter()
    teacher = model_from_checkpoint(ckpt)
    Xs = training_windows(X_train, cfg.windows, cfg.seed)
    plan = choose(teacher, Xs, budget_macs, cfg, what, latency)
    log(f"channel pruning: {plan.macs_before:,} -> {plan.macs_after:,} MACs (budget {budget_macs:,}); inner widths "
        f"{plan.widths_before} -> {plan.widths_after}; ranking + sensitivity {plan.seconds:.1f} s"
        + "".join(f"; measured {r['macs']:,} MACs -> {r['instructions']:,} instructions" for r in plan.latency))
    narrow = prune_model(teacher, plan.keep)
    tuned, ft = distill_finetune(narrow, teacher, X_train, y_train, X_val, y_val, cfg) if cfg.epochs else (narrow, {})
    classes = list(ckpt.classes)
    y_val = np.asarray(y_val)
    p_fp = predict(teacher, X_val).argmax(1)
    p_cut = predict(narrow, X_val).argmax(1)
    p_ft = predict(tuned, X_val).argmax(1)
    f1 = {k: float(classification_metrics(y_val, p, classes)["macro_f1"]) for k, p in
          (("fp32", p_fp), ("pruned", p_cut), ("pruned_finetuned", p_ft))}
    delta = paired_bootstrap(y_val, p_fp, p_ft, groups=groups_val, n_classes=len(classes)).to_dict()
    log(f"channel pruning: validation macro-F1 fp32 {f1['fp32']:.4f}, pruned {f1['pruned']:.4f}, after "
        f"{ft.get('epochs_run', 0)} distillation epochs {f1['pruned_finetuned']:.4f}")
    report = {**asdict(plan), "keep": {str(k): v for k, v in plan.keep.items()}, "config": asdict(cfg),
              "finetune": ft, "val_macro_f1": f1, "val_delta_pruned_vs_fp32": delta,
              "fp32_param_bytes_unpruned": 4 * sum(int(p.numel()) for p in teacher.parameters()),
              "seconds": time.perf_counter() - t0}
    state = {k: v.detach().clone() for k, v in tuned.state_dict().items()}
    out = Checkpoint(ckpt.arch, tuned.cfg.to_dict(), state, classes, dict(ckpt.data),
                     {"val_macro_f1": f1["pruned_finetuned"]}, {"channel_prune": report})
    return out, report
