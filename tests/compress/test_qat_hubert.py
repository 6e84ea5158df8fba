"""QAT of HuBERT-ECG ships what it trained: the exact forward (transformer ops by the numpy
reference with the writer's constants) equals the packed model.bin in the numpy executor and the
host C runtime bit for bit, and `compress --method qat` runs end to end on a HuBERT checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ecg_edge.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ecg_edge.compress.layers import discover_layers
from ecg_edge.compress.qat import STEP_FLOOR, QATConfig, QATGraph, train_qat
from ecg_edge.layerplan.plan import CompressionPlan, LayerPlan
from ecg_edge.modelbin import executor
from ecg_edge.modelbin.layout import OP_GROUPNORM, OP_LAYERNORM
from ecg_edge.modelbin.packer import build_meta, pack_graph, shipped_graph
from ecg_edge.modelbin.reader import read_model
from tests.tinydata import (
    HUBERT_SMALL,
    hubert_checkpoint,
    hubert_windows,
    make_dataset,
    small_hubert,
)


def _plan(model) -> CompressionPlan:
    names = [li.name for li in discover_layers(model)]
    bits = [8, 4, 3, 2, 6, 5, 4, 8, 1]
    return CompressionPlan("qat", "cortex-m55", [LayerPlan(n, bits[i % 9], 0.5 if i % 4 == 1 else 0.0)
                                                 for i, n in enumerate(names)])


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    model = small_hubert()
    plan = _plan(model)
    rng = np.random.default_rng(0)
    Xt, Xv = hubert_windows(0, 64), hubert_windows(1, 32)
    from ecg_edge.train.augment import Augmenter

    aug = Augmenter(HUBERT_SMALL["fs"], HUBERT_SMALL["n_samples"], None, 0)  # --qat-augment's path
    res = train_qat(model, plan, Xt, rng.integers(0, 3, 64), Xv, rng.integers(0, 3, 32),
                    QATConfig(epochs=1, freeze_epochs=0, batch_size=16, augment=True), arch="hubert_ecg",
                    augmenter=aug)
    return model, plan, res, Xv


def test_hubert_qat_exact_forward_equals_model_bin_numpy_and_c(trained) -> None:
    from ecg_edge.runtime import CRuntime

    model, plan, res, Xv = trained
    g = res.qat.g
    data = pack_graph(g, build_meta(hubert_checkpoint(model), plan, g, 4000)).data
    mb = read_model(data)
    assert {op.name for op in mb.ops} >= {"LUT", "GROUPNORM", "LAYERNORM", "SOFTMAX", "MATMUL"}
    xq = executor.quantize_inputs(mb, Xv)
    fq = res.qat.int8_logits(Xv)
    assert np.array_equal(executor.run(mb, xq), fq)
    assert np.array_equal(CRuntime(data).invoke_batch(xq), fq)
    assert len(np.unique(fq)) > 3  # not a constant model
    # every intermediate tensor too, not only the logits
    traced = executor.run_traced(mb, xq)
    mine = res.qat.run_int(torch.from_numpy(res.qat.graph_windows(Xv)))
    for node, want in zip(g.nodes, traced, strict=True):
        assert np.array_equal(mine[node.output].transpose(1, 2).numpy(), want), node.name


def test_hubert_qat_trains_steps_norms_and_ships_them(trained) -> None:
    model, plan, res, Xv = trained
    q = res.qat
    assert res.epochs_run == 1 and len(res.val_loss) == 2
    for node in q.weighted:  # relative step learning rate: no step collapses to 0
        k = QATGraph._key(node)
        assert (q.step[k].detach() > 0).all(), node.name
        assert node.weights.bits == plan.layer(node.name).bits
    assert {n.op for n in q.norms} == {OP_GROUPNORM, OP_LAYERNORM}
    init = QATGraph(model, plan, None, "hubert_ecg")
    for node in q.weighted:  # relative rates keep every step above its floor
        k = QATGraph._key(node)
        assert (q.step[k].detach() >= STEP_FLOOR * init.step[k].detach() - 1e-12).all(), node.name
    assert q.exportable()
    moved = [n.name for n in q.norms if not torch.allclose(q.gamma[QATGraph._key(n)], init.gamma[QATGraph._key(n)])]
    assert bool(moved) == (res.best_epoch > 0)  # the best epoch's norms ship (epoch 0: the initial ones)
    # gradients reach every norm's gamma/beta and every step through the straight-through forward
    q2 = QATGraph(model, plan, Xv, "hubert_ecg")
    q2.forward_train(torch.from_numpy(q2.graph_windows(Xv[:8]))).logsumexp(1).sum().backward()
    for n in q2.norms:
        k = QATGraph._key(n)
        assert q2.gamma[k].grad.abs().sum() > 0 and q2.beta[k].grad.abs().sum() > 0, n.name
    assert all(q2.step[QATGraph._key(n)].grad.abs().sum() > 0 for n in q2.weighted)
    for node in q.norms:  # and the norm block ships the trained gamma: levels * scale
        w = node.weights
        assert np.allclose(w.levels[:, 0] * w.scale, q.gamma[QATGraph._key(node)].detach().double().numpy())
    # export of the QAT checkpoint record (`ecg-edge export compressed.pt`) rebuilds the same bytes
    base = hubert_checkpoint(model)
    ck = Checkpoint(base.arch, base.config, base.state_dict, base.classes, base.data, {}, {"qat": q.export_state()})
    g2 = shipped_graph(ck, plan, None)
    meta = build_meta(base, plan, q.g, 4000)
    assert pack_graph(g2, meta).data == pack_graph(q.g, meta).data


@pytest.mark.slow
def test_compress_qat_cli_on_hubert(tmp_path: Path) -> None:
    from ecg_edge.cli import main
    from ecg_edge.runtime import CRuntime

    model = small_hubert()
    ck_path = tmp_path / "hubert.pt"
    save_checkpoint(ck_path, hubert_checkpoint(model))
    ds = tmp_path / "data"
    make_dataset(ds, "phase-sine", classes=["a", "b", "c"], sizes=(40, 24, 24), n_samples=HUBERT_SMALL["n_samples"],
                 fs=HUBERT_SMALL["fs"], task="test", lead_names=["II"])
    out = tmp_path / "c"
    rc = main(["compress", str(ck_path), "--data", str(ds), "--target", "cortex-m55", "--method", "qat",
               "--target-cr", "3", "--sens-windows", "8", "--qat-epochs", "1", "--max-repairs", "0",
               "--tolerance", "0.5", "--out", str(out)])
    assert rc == 0
    plan = json.loads((out / "plan.json").read_text())
    assert plan["method"] == "qat" and plan["metrics"]["true_cr"] >= 3.0
    assert plan["metrics"]["logits_equal_val"] is True
    comp = load_checkpoint(out / "compressed.pt")
    data = (out / "model.bin").read_bytes()
    mb = read_model(data)
    from ecg_edge.data.prepared import load_prepared
    from ecg_edge.report.shipped import fake_quant_logits

    Xte, _ = load_prepared(ds).split("test")
    xq = executor.quantize_inputs(mb, np.asarray(Xte))
    fq = fake_quant_logits(mb, out / "compressed.pt", np.asarray(Xte))
    assert np.array_equal(CRuntime(data).invoke_batch(xq), fq)  # shipped == fake-quant on every test window
    assert "qat" in comp.extra
    # a second run reuses the recorded sensitivity instead of measuring it again
    out2 = tmp_path / "c2"
    assert main(["compress", str(ck_path), "--data", str(ds), "--target", "cortex-m55", "--method", "qat",
                 "--target-cr", "3", "--sens-windows", "8", "--qat-epochs", "1", "--max-repairs", "0",
                 "--tolerance", "0.5", "--sensitivity-from", str(out / "plan.json"), "--out", str(out2)]) == 0
    plan2 = json.loads((out2 / "plan.json").read_text())
    assert plan2["metrics"]["sensitivity"]["options"] == plan["metrics"]["sensitivity"]["options"]
    assert main(["compress", str(ck_path), "--data", str(ds), "--method", "budget",
                 "--sensitivity-from", str(out / "plan.json"), "--out", str(tmp_path / "c3")]) == 2
