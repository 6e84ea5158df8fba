from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ecg_edge.compress.allocate import Option, knapsack
from ecg_edge.compress.importance import layer_importance, pdi, pvi
from ecg_edge.compress.layers import discover_layers, to_weight_order
from ecg_edge.compress.quantize import compress_weight, fake_quant, fake_quant_fast
from ecg_edge.compress.staged import StagedRunner
from ecg_edge.errors import EcgEdgeError
from ecg_edge.layerplan.masks import magnitude_mask, magnitude_threshold
from ecg_edge.models.resnet1d import ResNet1D
from ecg_edge.numerics import quantize_weight_channels
from ecg_edge.targets.budget import check_fit
from ecg_edge.targets.registry import get_target

from .tiny_setup import tiny_config


def test_pdi_pvi_and_combined_importance() -> None:
    params = np.array([10, 30, 60])
    np.testing.assert_allclose(pdi(params), [0.1, 0.3, 0.6])
    v = np.array([1e-4, 4e-4, 1e-2])
    expect = np.log1p(v / 1e-4) / np.log1p(100.0)
    np.testing.assert_allclose(pvi(v), expect)
    np.testing.assert_allclose(pvi(v * 7.0), expect)  # unit-free
    rng = np.random.default_rng(0)
    ws = [rng.normal(0, s, n) for s, n in zip((0.01, 0.02, 0.1), params, strict=True)]
    imp = layer_importance(["a", "b", "c"], ws, alpha=0.3, beta=0.7)
    var = np.array([np.var(w) for w in ws])
    np.testing.assert_allclose(imp.score, 0.3 * pdi(params) + 0.7 * pvi(var))
    assert imp.normalized.max() == pytest.approx(1.0)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("sparsity", [0.0, 0.5])
def test_fake_quant_levels_equal_numerics(bits: int, sparsity: float) -> None:
    w = np.random.default_rng(bits).normal(0, 0.1, (6, 4, 5))
    cl = compress_weight(w, bits, sparsity, "prune-then-quantize")
    mask = magnitude_mask(w, sparsity)
    levels, scales = quantize_weight_channels(w, bits, mask)
    np.testing.assert_array_equal(cl.levels, levels)
    np.testing.assert_array_equal(cl.scales, scales)
    assert not cl.levels[~mask].any()
    # The compressed.pt contract: re-quantizing the dequantized weights returns the same levels.
    w32 = cl.weight.astype(np.float32)
    again, _ = quantize_weight_channels(w32, bits, None if bits > 1 else w32 != 0)
    np.testing.assert_array_equal(again, cl.levels)
    np.testing.assert_allclose(fake_quant(w, bits, mask), cl.weight)


@pytest.mark.parametrize("bits", [1, 2, 3, 5, 8])
def test_fast_fake_quant_agrees_with_exact(bits: int) -> None:
    rng = np.random.default_rng(bits + 10)
    w = rng.normal(0, 0.05, (16, 8, 7))
    mask = magnitude_mask(w, 0.3)
    mask[3] = False  # a fully pruned channel
    np.testing.assert_allclose(fake_quant_fast(w, bits, mask), fake_quant(w, bits, mask), rtol=0, atol=1e-12)


def test_quantize_then_prune_keeps_quantized_levels() -> None:
    w = np.random.default_rng(1).normal(0, 0.1, (4, 3, 7))
    full, _ = quantize_weight_channels(w, 4, np.ones(w.shape, bool))
    cl = compress_weight(w, 4, 0.6, "quantize-then-prune")
    kept = cl.mask
    np.testing.assert_array_equal(cl.levels[kept], full[kept])
    assert not cl.levels[~kept].any()
    assert abs((1.0 - kept.mean()) - 0.6) < 0.05  # percentile ties: approximately p


def test_pruning_threshold_is_percentile() -> None:
    w = np.arange(1, 101, dtype=np.float64).reshape(4, 25) * np.where(np.arange(100) % 2, 1, -1).reshape(4, 25)
    assert magnitude_threshold(w, 0.3) == pytest.approx(np.percentile(np.arange(1, 101), 30))
    m = magnitude_mask(w, 0.3)
    assert m.sum() == 70 and np.abs(w[m]).min() == 31
    assert magnitude_mask(w, 0.0).all()
    with pytest.raises(ValueError):
        magnitude_mask(w, 1.0)


def test_discover_layers_and_weight_order() -> None:
    m = ResNet1D(tiny_config())
    names = [li.name for li in discover_layers(m)]
    assert names[0] == "stem.conv" and names[-1] == "head.fc"
    assert "blocks.1.shortcut.conv" in names
    w = np.arange(2 * 3 * 4).reshape(2, 3, 4)  # [c][i][k]
    wo = to_weight_order(w)
    assert wo.shape == (2, 12)
    assert wo[1, 1 * 3 + 2] == w[1, 2, 1]  # p = k * C_in + i


def test_staged_runner_matches_forward() -> None:
    torch.manual_seed(0)
    m = ResNet1D(tiny_config()).eval()
    X = np.random.default_rng(0).normal(size=(10, 1, 256)).astype(np.float32)
    r = StagedRunner(m, X, batch_size=4)
    with torch.no_grad():
        ref = m(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(r.logits(), ref, rtol=1e-5, atol=1e-6)
    for k in range(len(r.stages)):
        np.testing.assert_allclose(r.logits_from(k, r.inputs_of(k)), ref, rtol=1e-5, atol=1e-6)


def test_knapsack_is_optimal_and_respects_budget() -> None:
    rng = np.random.default_rng(3)
    opts = {f"l{i}": [Option((b, 0.0), int(4 * rng.integers(5, 60)), float(rng.random())) for b in (2, 4, 8)]
            for i in range(4)}
    for budget_bytes in (200, 400, 700):
        try:
            pick = knapsack(opts, budget_bytes)
        except EcgEdgeError:
            assert sum(min(o.bytes for o in v) for v in opts.values()) > budget_bytes
            continue
        chosen = [next(o for o in opts[n] if o.choice == c) for n, c in pick.items()]
        assert sum(o.bytes for o in chosen) <= budget_bytes
        best = min(sum(o.sensitivity for o in combo) for combo in itertools.product(*opts.values())
                   if sum(o.bytes for o in combo) <= budget_bytes)
        assert sum(o.sensitivity for o in chosen) == pytest.approx(best)


def test_check_fit_names_the_failing_budget() -> None:
    t = get_target("cortex-m")
    ok = check_fit(t, 100_000, 50_000)
    assert ok.fits
    bad = check_fit(t, 2 * t.flash_bytes, 50_000)
    assert not bad.fits and "flash" in bad.summary() and f"by {bad.flash_used - t.flash_bytes} B" in bad.summary()
    ram = check_fit(t, 10, t.ram_bytes)
    assert not ram.ram_ok and "RAM" in ram.summary()


def test_hubert_layers_and_stages_match_forward() -> None:
    from tests.tinydata import hubert_windows, small_hubert

    m = small_hubert()
    names = [li.name for li in discover_layers(m)]
    assert "hubert.encoder.layers.0.attention.q_proj" in names
    assert "hubert.feature_extractor.conv_layers.0.conv" in names and names[-1] == "classifier"
    X = hubert_windows(0, 6).astype(np.float32)
    r = StagedRunner(m, X, batch_size=3)
    assert len(r.stages) == 2 + 2 + 1  # features, pos-conv, 2 layers, head: the split was verified
    with torch.no_grad():
        ref = m(torch.from_numpy(X)).numpy()
    for k in range(len(r.stages)):
        np.testing.assert_allclose(r.logits_from(k, r.inputs_of(k)), ref, rtol=1e-4, atol=1e-5)
