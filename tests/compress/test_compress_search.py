from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.compress.engine import CompressOptions, Compressor
from ecg_edge.compress.finetune import FinetuneConfig
from ecg_edge.data.prepared import load_prepared
from ecg_edge.numerics import quantize_weight_channels
from ecg_edge.targets.registry import get_target


@pytest.fixture(scope="module")
def comp(tiny) -> Compressor:
    ck, ds = tiny
    return Compressor(load_checkpoint(ck), load_prepared(ds), get_target("cortex-m4"),
                      CompressOptions(tolerance=0.03, use_packer=False, budget_sparsities=(0.0, 0.5)), source=str(ck))


@pytest.mark.parametrize("reading", ["printed", "conservative"])
def test_laq_respects_tolerance_and_target_bits(comp: Compressor, reading: str) -> None:
    res = comp.search("laq", reading=reading)
    assert res.val_accuracy >= res.baseline_accuracy - 0.03 - 1e-12
    assert all(b in comp.bits and p == 0.0 for b, p in res.assign.values())
    # Every accepted choice met its floor when it was taken.
    for step in res.trace:
        if step["pass"]:
            assert step["val_acc"] >= step["floor"] - 1e-12


def test_lap_prunes_important_layers_less(comp: Compressor) -> None:
    res = comp.search("lap")
    assert res.val_accuracy >= res.baseline_accuracy - 0.03 - 1e-12
    imp = comp.importance
    sp = np.array([res.assign[n][1] for n in imp.names])
    order = np.argsort(imp.score)
    assert np.all(np.diff(sp[order]) <= 1e-9)  # non-increasing in importance


def test_laq_lap_and_budget(comp: Compressor) -> None:
    res = comp.search("laq+lap")
    assert res.val_accuracy >= res.baseline_accuracy - 0.03 - 1e-12
    laq_out = comp.finalize("laq", comp.search("laq"), measure_size=False)
    limit = laq_out.plan.metrics["weight_block_bytes"]
    bud = comp.search("budget", max_bytes=limit)
    total = sum(comp.ctx.compressed(n, c).block_bytes()[1] for n, c in bud.assign.items())
    assert total <= limit


def test_finetune_keeps_masks_bits_and_levels(comp: Compressor) -> None:
    res = comp.search("fixed-p50")
    before = {n: comp.ctx.compressed(n, c) for n, c in res.assign.items()}
    out = comp.finalize("fixed-p50", res, FinetuneConfig(epochs=1, lr=1e-3), measure_size=False)
    for n, cl in out.layers.items():
        assert cl.bits == before[n].bits
        np.testing.assert_array_equal(cl.mask, before[n].mask)
        assert not cl.levels[~cl.mask].any()
        w = out.checkpoint.state_dict[f"{n}.weight"].numpy()
        assert not w[~cl.mask].any()
        lv, _ = quantize_weight_channels(w, cl.bits, None)
        np.testing.assert_array_equal(lv, cl.levels)
        assert out.plan.layer(n).bits == cl.bits
    assert out.plan.metrics["finetune_epochs"] == 1


def test_target_too_small_for_any_plan_is_refused(tiny) -> None:
    from dataclasses import replace

    from ecg_edge.errors import EcgEdgeError

    ck, ds = tiny
    small = replace(get_target("cortex-m4"), name="tiny-mcu", flash_bytes=48 * 1024 + 100)
    with pytest.raises(EcgEdgeError, match="cannot hold even the smallest plan.*flash"):
        Compressor(load_checkpoint(ck), load_prepared(ds), small, CompressOptions(use_packer=False))
    no_ram = replace(get_target("cortex-m4"), name="tiny-ram", ram_bytes=4096)
    with pytest.raises(EcgEdgeError, match="RAM"):
        Compressor(load_checkpoint(ck), load_prepared(ds), no_ram, CompressOptions(use_packer=False))


def test_laq_with_macro_f1_score_respects_tolerance(tiny) -> None:
    from ecg_edge.compress.search import macro_f1
    from ecg_edge.metrics import classification_metrics

    y = np.array([0, 0, 1, 2, 2, 2])
    p = np.array([0, 1, 1, 2, 2, 0])
    assert macro_f1(y, p) == pytest.approx(classification_metrics(y, p, ["a", "b", "c"])["macro_f1"])
    ck, ds = tiny
    comp = Compressor(load_checkpoint(ck), load_prepared(ds), get_target("cortex-m4"),
                      CompressOptions(tolerance=0.05, use_packer=False, metric="macro_f1"))
    res = comp.search("laq")
    assert res.val_accuracy >= res.baseline_accuracy - 0.05 - 1e-12
    pred = comp.ctx.logits().argmax(1)
    assert res.val_accuracy == pytest.approx(macro_f1(comp.y_val, pred))


def test_laq_lap_keeps_sparsity_only_where_it_shrinks_bytes(comp: Compressor) -> None:
    from ecg_edge.compress.search import laq

    res = comp.search("laq+lap")
    assert res.val_accuracy >= res.baseline_accuracy - 0.03 - 1e-12
    out = comp.finalize("laq+lap", res, measure_size=False)
    for lp in out.plan.layers:
        b, p = res.assign[lp.name]
        dense = comp.ctx.compressed(lp.name, (b, 0.0)).block_bytes()[1]
        assert lp.bytes <= dense
        if p > 0:  # a kept sparsity strictly pays at the layer's bit-width
            assert comp.ctx.compressed(lp.name, (b, p)).block_bytes()[1] < dense
    # Hence LAQ+LAP ships no more weight-block bytes than its own LAQ stage (half the tolerance).
    q = laq(comp.ctx, comp.importance, 0.03 * comp.opts.laq_share, comp.bits, comp.opts.reading)
    laq_bytes = sum(comp.ctx.compressed(n, c).block_bytes()[1] for n, c in q.assign.items())
    assert out.plan.metrics["weight_block_bytes"] <= laq_bytes
