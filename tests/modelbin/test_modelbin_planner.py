"""Arena planner: live tensors never overlap, the arena is >= the lower bound, in-place ADDs."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.modelbin.golden import VECTORS, build_random_model
from ecg_edge.modelbin.layout import OP_ADD, OP_CONV1D
from ecg_edge.modelbin.planner import PlanOp, lifetimes, plan_arena
from ecg_edge.modelbin.reader import read_model


def _check_plan(sizes, ops, gi, go, plan) -> None:
    life = lifetimes(len(sizes), ops, gi, go)
    for i in range(len(sizes)):
        for j in range(i + 1, len(sizes)):
            if life[i][1] < life[j][0] or life[j][1] < life[i][0]:
                continue
            a0, a1 = plan.offsets[i], plan.offsets[i] + sizes[i]
            b0, b1 = plan.offsets[j], plan.offsets[j] + sizes[j]
            if a1 <= b0 or b1 <= a0:
                continue
            assert plan.aliases.get(j) == i or plan.aliases.get(i) == j, (i, j)
            assert a0 == b0
    assert plan.arena_bytes >= plan.lower_bound
    assert plan.arena_bytes % 16 == 0
    assert all(plan.offsets[t] + sizes[t] <= plan.arena_bytes for t in range(len(sizes)))


@pytest.mark.parametrize("seed", range(25))
def test_random_graphs_plan_without_live_overlap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_ops = int(rng.integers(2, 12))
    sizes = [int(rng.integers(1, 500))]
    ops = []
    for k in range(n_ops):
        src = int(rng.integers(0, len(sizes)))
        if rng.random() < 0.4:
            same = [t for t in range(len(sizes)) if sizes[t] == sizes[src]]
            other = same[int(rng.integers(0, len(same)))]
            sizes.append(sizes[src])
            ops.append(PlanOp(OP_ADD, (src, other), k + 1))
        else:
            sizes.append(int(rng.choice([64, 100, int(rng.integers(1, 500))])))
            ops.append(PlanOp(OP_CONV1D, (src,), k + 1))
    plan = plan_arena(sizes, ops, 0, len(sizes) - 1)
    _check_plan(sizes, ops, 0, len(sizes) - 1, plan)


def test_residual_chain_uses_in_place_adds() -> None:
    # x -> c1 -> c2 ; add(c2, x) -> h ; c3(h) -> out
    sizes = [100, 100, 100, 100, 40]
    ops = [PlanOp(OP_CONV1D, (0,), 1), PlanOp(OP_CONV1D, (1,), 2), PlanOp(OP_ADD, (2, 0), 3),
           PlanOp(OP_CONV1D, (3,), 4)]
    plan = plan_arena(sizes, ops, 0, 4)
    assert plan.aliases == {3: 2}
    assert plan.offsets[3] == plan.offsets[2]
    assert plan.lower_bound == 300  # x, c1, c2 alive at op 1
    assert plan.arena_bytes == 304  # 300 rounded up to 16
    no_alias = plan_arena(sizes, ops, 0, 4, allow_alias=False)
    assert no_alias.lower_bound > plan.lower_bound or no_alias.arena_bytes >= plan.arena_bytes
    _check_plan(sizes, ops, 0, 4, plan)


@pytest.mark.parametrize("name", ["int8_dense", "flatten_2lead", "custom_ops"])
def test_packed_plans_are_valid(name: str) -> None:
    mb = read_model(VECTORS[name][1]()[0])  # the reader re-checks liveness overlap itself
    assert mb.arena_size >= max(t.arena_offset + t.size_bytes for t in mb.tensors)


def test_real_sized_resnet_arena_close_to_bound() -> None:
    data, _, _ = build_random_model(1, 8, 0.0, n_samples=1024, widths=[16, 24, 32], strides=[1, 2, 2])
    mb = read_model(data)
    from ecg_edge.modelbin.cli import inspect_report

    report = inspect_report(mb, "x.bin")
    lb = int(report.split("lower bound ")[1].split(" ")[0])
    assert lb <= mb.arena_size <= lb * 1.25 + 16
