"""ONNX exports load, pass onnx.checker and run in onnxruntime with the expected numbers."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto

from ecg_edge.mobile.common import UnsupportedOpError
from ecg_edge.mobile.onnx_export import export_onnx, torch_to_onnx_bytes
from ecg_edge.mobile.qgraph import lower, run_float
from ecg_edge.mobile.runners import OrtRunner
from ecg_edge.models.registry import model_from_checkpoint


def test_fp32_onnx_matches_torch(tiny, tmp_path):
    info = export_onnx(tiny.ckpt, None, tmp_path / "m.onnx")
    assert info.bytes == (tmp_path / "m.onnx").stat().st_size
    onnx.checker.check_model(onnx.load(tmp_path / "m.onnx"), full_check=True)
    got = OrtRunner(tmp_path / "m.onnx").predict(tiny.X)
    with torch.no_grad():
        ref = model_from_checkpoint(tiny.ckpt)(torch.as_tensor(tiny.X)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("use_plan", [False, True])
def test_qdq_runs_and_agrees_with_the_quantized_graph(tiny, tmp_path, use_plan):
    plan = tiny.plan if use_plan else None
    info = export_onnx(tiny.ckpt, plan, tmp_path / "q.onnx", tiny.calib, qdq=True)
    model = onnx.load(tmp_path / "q.onnx")
    onnx.checker.check_model(model, full_check=True)
    got = OrtRunner(tmp_path / "q.onnx").predict(tiny.X)
    g = lower(tiny.ckpt, plan, tiny.calib, "test")
    ref = run_float(g, tiny.X, fake_quant=True)
    # Same integer weights, same int8 activation grids: onnxruntime's integer kernels may differ
    # from float-then-round by one step per layer, which can carry to a few steps at the output.
    out_scale = g.tensors[g.output].scale
    assert np.median(np.abs(got - ref)) <= 1.01 * out_scale
    assert np.abs(got - ref).max() <= 8 * out_scale
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.9
    inits = {t.name: t for t in model.graph.initializer}
    for op in g.weighted_ops:
        w = op.weights
        t = inits[f"{w.layer}.weight_q"]
        want, label = (TensorProto.INT4, "int4") if w.bits <= 4 else (TensorProto.INT8, "int8")
        assert t.data_type == want, w.layer
        # The stored integers are the plan's levels (pruned weights 0).
        arr = onnx.numpy_helper.to_array(t).astype(np.int8)
        np.testing.assert_array_equal(arr, w.levels)
        assert info.layer_storage[w.layer] == label
    if use_plan:
        labelled = [n for n in info.notes if "stored as int8" in n]
        assert sorted(n.split(":")[0] for n in labelled) == ["blocks.1.conv1", "blocks.2.conv1"]  # 6 and 5 bits
        dense = export_onnx(tiny.ckpt, None, tmp_path / "d.onnx", tiny.calib, qdq=True)
        assert info.bytes < dense.bytes


def test_plan_levels_are_the_compression_levels(tiny):
    """Layer sparsity and bit-width from the plan reach the exported integers."""
    g = lower(tiny.ckpt, tiny.plan, tiny.calib, "test")
    for op in g.weighted_ops:
        lp = tiny.plan.layer(op.weights.layer)
        qmax = 1 if lp.bits == 1 else 2 ** (lp.bits - 1) - 1
        assert np.abs(op.weights.levels).max() <= qmax
        if lp.sparsity:
            assert (op.weights.levels == 0).mean() >= lp.sparsity - 0.02


def test_fp32_export_names_an_op_onnx_cannot_express():
    class Cum(torch.nn.Module):
        def forward(self, x):
            return torch.cummax(x, -1)[0]

    with pytest.raises(UnsupportedOpError, match=r"aten::cummax.*ONNX"):
        torch_to_onnx_bytes(Cum(), torch.zeros(1, 1, 16))
