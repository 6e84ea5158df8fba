"""QAT ships exactly what it trained: the exact forward equals the packed model.bin bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.compress.layers import discover_layers
from ecg_edge.compress.qat import QATConfig, QATGraph, train_qat
from ecg_edge.data.prepared import load_prepared
from ecg_edge.layerplan.plan import CompressionPlan, LayerPlan
from ecg_edge.modelbin import executor
from ecg_edge.modelbin.packer import build_meta, pack_graph
from ecg_edge.modelbin.reader import read_model
from ecg_edge.models.registry import model_from_checkpoint


def _plan(model) -> CompressionPlan:
    names = [li.name for li in discover_layers(model)]
    bits = [8, 4, 3, 1, 6, 2, 5, 4, 8][:len(names)]
    sp = [0.0, 0.5, 0.0, 0.0, 0.3, 0.0, 0.75, 0.0, 0.0][:len(names)]
    return CompressionPlan("qat", "cortex-m4", [LayerPlan(n, b, s) for n, b, s in zip(names, bits, sp, strict=True)])


@pytest.fixture(scope="module")
def trained(tiny):
    ck, dd = tiny
    ckpt = load_checkpoint(ck)
    ds = load_prepared(dd)
    model = model_from_checkpoint(ckpt)
    plan = _plan(model)
    Xt, yt = ds.split("train")
    Xv, yv = ds.split("val")
    res = train_qat(model, plan, Xt, yt, Xv, yv, QATConfig(epochs=3, freeze_epochs=1, patience=3))
    return ckpt, plan, res, np.asarray(Xv), np.asarray(yv)


def test_qat_fakequant_equals_packed_model_bin_bit_for_bit(trained):
    ckpt, plan, res, Xv, _ = trained
    g = res.qat.g
    data = pack_graph(g, build_meta(ckpt, plan, g, 4 * 1000)).data
    mb = read_model(data)
    shipped = executor.run(mb, executor.quantize_inputs(mb, Xv))
    fq = res.qat.int8_logits(Xv)
    assert shipped.dtype == fq.dtype == np.int8
    assert np.array_equal(shipped, fq)  # logits equal, so argmax agreement is 100%
    assert np.unique(shipped.argmax(1)).size > 1  # not a constant model


def test_qat_ships_learned_scales_and_fixed_plan(trained):
    ckpt, plan, res, _, _ = trained
    mb = read_model(pack_graph(res.qat.g, build_meta(ckpt, plan, res.qat.g, 4000)).data)
    blocks = {op_name: op.block for op_name, op in zip(mb.meta["op_names"], mb.ops, strict=True) if op.block is not None}
    for node in res.qat.weighted:
        lp = plan.layer(node.name)
        blk = blocks[node.name]
        assert blk.bits == lp.bits  # bit-widths stay fixed
        mask = res.qat.masks[QATGraph._key(node)].numpy()
        assert not blk.levels[~mask].any()  # pruned weights stay pruned
        assert np.array_equal(blk.levels, node.weights.levels)
    # the steps moved during training, and what ships is the learned step, not a re-fit one
    k = QATGraph._key(res.qat.weighted[1])
    init = QATGraph(model_from_checkpoint(ckpt), plan, np.zeros((1, 1, 256), np.float32))
    assert not np.allclose(init.step[k].detach().numpy(), res.qat.step[k].detach().numpy())
    assert np.allclose(res.qat.weighted[1].weights.scale, res.qat.step[k].detach().double().numpy())


def test_qat_early_stopping_keeps_best_validation_loss(trained):
    _, _, res, _, _ = trained
    assert res.epochs_run >= 1 and 0 <= res.best_epoch <= res.epochs_run
    assert res.val_loss[res.best_epoch] == min(res.val_loss)
    assert res.val_loss[res.best_epoch] < res.val_loss[0]  # distillation improved on the start


def test_pack_of_a_qat_checkpoint_ships_the_trained_bytes(trained):
    """Every packer caller (export, bench, c-project, sizes) goes through pack(): on a QAT
    checkpoint it must write the trained integers, never re-calibrate the float weights."""
    from ecg_edge.checkpoint import Checkpoint
    from ecg_edge.modelbin.packer import pack, pack_trained

    ckpt, plan, res, Xv, _ = trained
    model = model_from_checkpoint(ckpt)
    qck = Checkpoint(ckpt.arch, dict(ckpt.config), {k: v.detach().clone() for k, v in model.state_dict().items()},
                     list(ckpt.classes), dict(ckpt.data), {}, {"qat": res.qat.export_state()})
    want = pack_trained(qck, plan).data
    got = pack(qck, plan, Xv).data  # calibration windows given, and ignored
    assert got == want
    assert pack(qck, plan, Xv, trailer=False).data == pack_trained(qck, plan, trailer=False).data
    mb = read_model(got)
    assert np.array_equal(executor.run(mb, executor.quantize_inputs(mb, Xv)), res.qat.int8_logits(Xv))
