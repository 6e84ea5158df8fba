"""Channel pruning: removing silenced channels keeps the float function, the MAC budget holds
(and its allocation is the exact optimum), impossible latency budgets are refused, and the
narrow model's model.bin equals its QAT fake-quant bit for bit."""

from __future__ import annotations

import copy
import itertools
import json

import numpy as np
import pytest
import torch

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.compress import channels as ch
from ecg_edge.data.prepared import load_prepared
from ecg_edge.errors import EcgEdgeError
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.models.resnet1d import ResNet1D, ResNet1DConfig
from ecg_edge.targets.registry import get_target

from .tiny_setup import tiny_config


def _random_model(seed: int = 0) -> ResNet1D:
    torch.manual_seed(seed)
    m = ResNet1D(tiny_config())
    with torch.no_grad():  # non-trivial BN statistics, so a silenced channel is not zero by accident
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.uniform_(-0.3, 0.3)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    return m.eval()


def test_removal_preserves_the_float_function_of_silenced_channels() -> None:
    m = _random_model()
    keep = {0: [1, 4, 6], 1: [0, 3, 5, 7, 11]}
    silenced = copy.deepcopy(m)
    for b, k in keep.items():
        ch.silence(silenced, b, [c for c in range(m.blocks[b].conv1.out_channels) if c not in k])
    narrow = ch.prune_model(m, keep)
    assert narrow.cfg.mid_widths == [3, 5] and narrow.cfg.widths == m.cfg.widths
    assert narrow.blocks[1].conv1.weight.shape == (5, 8, 5) and narrow.blocks[1].conv2.weight.shape == (12, 5, 5)
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((6, 1, 256)).astype(np.float32))
    with torch.no_grad():
        a, b, full = silenced(x), narrow(x), m(x)
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(full, b, atol=1e-3)  # the silenced channels did carry signal
    # MACs fall by exactly the removed channels' share
    us = {u.block: u for u in ch.units(m)}
    removed = sum((m.blocks[i].conv1.out_channels - len(k)) * us[i].macs_per_channel for i, k in keep.items())
    assert ch.model_macs(narrow) == ch.model_macs(m) - removed
    # the narrow config round-trips through a checkpoint's config dict; the unpruned one is unchanged
    assert ResNet1DConfig(**narrow.cfg.to_dict()).mid_widths == [3, 5]
    assert "mid_widths" not in ResNet1DConfig().to_dict()


def test_mac_budget_is_met_by_the_exact_optimum() -> None:
    m = _random_model(2)
    X = np.random.default_rng(3).standard_normal((48, 1, 256)).astype(np.float32)
    cfg = ch.PruneConfig(step=2, min_keep=2, windows=48, epochs=0)
    scores = ch.channel_scores(m, X)
    opts = ch.sensitivity(m, X, scores, cfg)
    fixed = ch.fixed_macs(m)
    full = ch.model_macs(m)
    for budget in (full - 1, int(0.7 * full), int(0.5 * full), int(0.35 * full)):
        plan = ch.choose(m, X, budget, cfg)
        assert plan.macs_after <= budget
        assert ch.model_macs(ch.prune_model(m, plan.keep)) == plan.macs_after
        # brute force over every keep-count combination: no feasible one has a smaller summed KL
        names = list(opts)
        best = min(sum(o.sensitivity for o in combo) for combo in itertools.product(*(opts[n] for n in names))
                   if fixed + sum(o.macs for o in combo) <= budget)
        got = sum(next(o.sensitivity for o in opts[f"blocks.{b}.inner"] if o.choice[0] == len(k))
                  for b, k in plan.keep.items())
        assert got == pytest.approx(best, rel=1e-9, abs=1e-12)
    with pytest.raises(EcgEdgeError, match="below the smallest channel-pruned model"):
        ch.choose(m, X, fixed + 10, cfg)


def test_latency_budget_to_macs_and_refusal(tiny, tmp_path) -> None:
    from click.testing import CliRunner

    from ecg_edge.cli import cli

    t = get_target("cortex-m4")
    macs = ch.macs_for_latency(t, 100.0)
    assert ch.latency_ms(t, macs) == pytest.approx(100.0, rel=1e-5)
    assert ch.latency_ms(t, 22_814_976) == pytest.approx(30_879_330 * 1.3 / 64e6 * 1e3, rel=1e-6)
    ck, dd = tiny
    out = tmp_path / "c"
    r = CliRunner().invoke(cli, ["compress", str(ck), "--data", str(dd), "--method", "qat", "--channel-prune",
                                 "--max-latency-ms", "0.01", "--out", str(out)])
    assert r.exit_code != 0
    msg = str(r.exception)
    assert "--max-latency-ms 0.01 on cortex-m4" in msg and "below the smallest channel-pruned model" in msg
    assert not (out / "model.bin").exists()
    r = CliRunner().invoke(cli, ["compress", str(ck), "--data", str(dd), "--method", "qat", "--channel-prune",
                                 "--out", str(out)])
    assert r.exit_code != 0 and "needs a budget" in str(r.exception)


def test_channel_pruned_model_bin_equals_its_fake_quant(tiny, tmp_path) -> None:
    from click.testing import CliRunner

    from ecg_edge.cli import cli
    from ecg_edge.compress.qat import qat_int8_logits
    from ecg_edge.layerplan.plan import CompressionPlan
    from ecg_edge.modelbin import executor
    from ecg_edge.modelbin.reader import read_model
    from ecg_edge.sim.macs import count_macs

    ck, dd = tiny
    full = ch.model_macs(model_from_checkpoint(load_checkpoint(ck)))
    budget = int(0.6 * full)
    out = tmp_path / "c"
    r = CliRunner().invoke(cli, ["compress", str(ck), "--data", str(dd), "--method", "qat", "--channel-prune",
                                 "--max-macs", str(budget), "--prune-epochs", "1", "--target-cr", "2",
                                 "--tolerance", "0.5", "--qat-epochs", "1", "--sens-windows", "64", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "channel-pruned:" in r.output
    plan = CompressionPlan.load(out / "plan.json")
    rep = plan.metrics["channel_prune"]
    assert rep["macs_after"] <= budget and plan.metrics["executed_macs"] == rep["macs_after"]
    comp = load_checkpoint(out / "compressed.pt")
    assert comp.config["mid_widths"] == rep["widths_after"] and sum(rep["widths_after"]) < sum(rep["widths_before"])
    data = (out / "model.bin").read_bytes()
    assert count_macs(data)[0] == rep["macs_after"]  # the packer wrote the narrow convs
    # --target-cr stays relative to the unpruned model (the budget counts the flashed device image)
    assert plan.metrics["byte_limit"] == rep["fp32_param_bytes_unpruned"] // 2
    assert plan.metrics["model_bytes"] <= plan.metrics["byte_limit"]
    Xt, _ = load_prepared(dd).split("test")
    mb = read_model(data)
    shipped = executor.run(mb, executor.quantize_inputs(mb, np.asarray(Xt)))
    assert np.array_equal(shipped, qat_int8_logits(comp, plan, np.asarray(Xt)))
    # export of compressed.pt and of the narrow fp32 model both work on the reduced shapes
    exp = tmp_path / "e.bin"
    r = CliRunner().invoke(cli, ["export", str(out / "compressed.pt"), "--data", str(dd), "-o", str(exp)])
    assert r.exit_code == 0, r.output
    assert exp.read_bytes() == data
    pruned = load_checkpoint(out / "pruned.pt")
    assert pruned.config["mid_widths"] == rep["widths_after"]
    assert json.loads((out / "plan.json").read_text())["metrics"]["channel_prune"]["val_macro_f1"]


def test_measured_latency_shrinks_the_budget_until_it_holds() -> None:
    m = _random_model(4)
    X = np.random.default_rng(5).standard_normal((32, 1, 256)).astype(np.float32)
    cfg = ch.PruneConfig(step=2, min_keep=2, windows=32, epochs=0)
    full = ch.model_macs(m)
    seen = []

    def instructions(narrow) -> int:  # a runtime slower per MAC on narrow layers, as the real one
        macs = ch.model_macs(narrow)
        seen.append(macs)
        return int(1.5 * macs + 0.4 * full)

    limit = int(1.5 * 0.6 * full + 0.4 * full)
    plan = ch.choose(m, X, full, cfg, latency=ch.LatencyCheck(instructions, limit))
    assert len(plan.latency) >= 2 and plan.latency[0]["macs"] == full
    assert plan.latency[-1]["instructions"] <= limit and plan.latency[-1]["macs"] == plan.macs_after <= 0.6 * full
    assert seen == [r["macs"] for r in plan.latency]
    with pytest.raises(EcgEdgeError, match="instructions, over the"):
        ch.choose(m, X, full, cfg, latency=ch.LatencyCheck(lambda narrow: 10 * full, full))
