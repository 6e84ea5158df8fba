"""ONNX exports load, pass onnx.checker and run in onnxruntime with the expected numbers."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto

from ecg_edge.mobile.common import UnsupportedOpError
from ecg_edge.mobile.onnx_export import export_onnx, torch_to_onnx_bytes
from ecg_edge.mobile.runners import OrtRunner
from ecg_edge.models.registry import model_from_checkpoint

from .conftest import model_bin_logits, to_steps


def test_fp32_onnx_matches_torch(tiny, tmp_path):
    info = export_onnx(tiny.ckpt, None, tmp_path / "m.onnx")
    assert info.bytes == (tmp_path / "m.onnx").stat().st_size
    onnx.checker.check_model(onnx.load(tmp_path / "m.onnx"), full_check=True)
    got = OrtRunner(tmp_path / "m.onnx").predict(tiny.X)
    with torch.no_grad():
        ref = model_from_checkpoint(tiny.ckpt)(torch.as_tensor(tiny.X)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("use_plan", [False, True])
def test_qdq_runs_and_holds_the_model_bin_integers(tiny, tmp_path, use_plan):
    plan = tiny.plan if use_plan else None
    info = export_onnx(tiny.ckpt, plan, tmp_path / "q.onnx", tiny.calib, qdq=True)
    model = onnx.load(tmp_path / "q.onnx")
    onnx.checker.check_model(model, full_check=True)
    mb, ours = model_bin_logits(tiny.ckpt, plan, tiny.calib, tiny.X)
    got = to_steps(OrtRunner(tmp_path / "q.onnx").predict(tiny.X), mb)
    # Same integer inputs, weights and activation grids: onnxruntime's requantization rounds in
    # float, model.bin's once in integers, so a rare step of difference (NOTES.md).
    assert np.abs(got - ours).max() <= 1
    inits = {t.name: t for t in model.graph.initializer}
    for name, op in zip(mb.meta["op_names"], mb.ops, strict=True):
        if op.block is None:
            continue
        blk = op.block
        t = inits[f"{name}.weight_q"]
        want, label = (TensorProto.INT4, "int4") if blk.bits <= 4 else (TensorProto.INT8, "int8")
        assert t.data_type == want, name
        # The stored integers are model.bin's levels (plan bits, pruned weights 0) in ONNX's layout.
        arr = onnx.numpy_helper.to_array(t).astype(np.int8)
        if arr.ndim == 3:  # Conv (C_out, C_in, K) <- model.bin's w[c][k][i]
            arr = arr.transpose(0, 2, 1)
        np.testing.assert_array_equal(arr.reshape(arr.shape[0], -1), blk.levels)
        assert info.layer_storage[name] == label
    if use_plan:
        labelled = [n for n in info.notes if "stored as int8" in n]
        assert sorted(n.split(":")[0] for n in labelled) == ["blocks.1.conv1", "blocks.2.conv1"]  # 6 and 5 bits
        dense = export_onnx(tiny.ckpt, None, tmp_path / "d.onnx", tiny.calib, qdq=True)
        assert info.bytes < dense.bytes


def test_plan_levels_are_the_compression_levels(tiny):
    """Layer sparsity and bit-width from the plan reach the exported integers."""
    from ecg_edge.mobile.onnx_export import qdq_graph

    g = qdq_graph(tiny.ckpt, tiny.plan, tiny.calib)
    for node in g.nodes:
        if node.weights is None:
            continue
        lp = tiny.plan.layer(node.name)
        qmax = 1 if lp.bits == 1 else 2 ** (lp.bits - 1) - 1
        assert np.abs(node.weights.levels).max() <= qmax
        if lp.sparsity:
            assert (node.weights.levels == 0).mean() >= lp.sparsity - 0.02


def test_fp32_export_names_an_op_onnx_cannot_express():
    class Cum(torch.nn.Module):
        def forward(self, x):
            return torch.cummax(x, -1)[0]

    with pytest.raises(UnsupportedOpError, match=r"aten::cummax.*ONNX"):
        torch_to_onnx_bytes(Cum(), torch.zeros(1, 1, 16))
