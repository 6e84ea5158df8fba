"""The exports and our model.bin (the packer, numpy reference executor) carry the same
integers: same input quantization, same weights, near-identical logits."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.mobile.onnx_export import export_onnx
from ecg_edge.mobile.qgraph import lower
from ecg_edge.mobile.runners import LiteRTRunner, OrtRunner
from ecg_edge.mobile.tflite_export import export_tflite

packer = pytest.importorskip("ecg_edge.modelbin.packer")
executor = pytest.importorskip("ecg_edge.modelbin.executor")
reader = pytest.importorskip("ecg_edge.modelbin.reader")


@pytest.mark.parametrize("use_plan", [False, True])
def test_exports_agree_with_model_bin(tiny, tmp_path, use_plan):
    plan = tiny.plan if use_plan else None
    mb = reader.read_model(packer.pack(tiny.ckpt, plan, tiny.calib).data)
    ours_q = executor.run(mb, executor.quantize_inputs(mb, tiny.X))
    t_out = mb.tensors[mb.output_tensor]
    ours = (ours_q.astype(np.float64) - t_out.zero_point) * t_out.scale

    g = lower(tiny.ckpt, plan, tiny.calib, "test")
    t_in = mb.tensors[mb.input_tensor]
    assert (g.tensors[g.input].scale, g.tensors[g.input].zero_point) == pytest.approx((t_in.scale, t_in.zero_point))
    assert g.tensors[g.output].scale == pytest.approx(t_out.scale)

    export_onnx(tiny.ckpt, plan, tmp_path / "q.onnx", tiny.calib, qdq=True)
    export_tflite(tiny.ckpt, plan, tmp_path / "m.tflite", tiny.calib)
    for runner in (OrtRunner(tmp_path / "q.onnx"), LiteRTRunner(tmp_path / "m.tflite")):
        got = runner.predict(tiny.X)
        # Different requantization rounding (TFLite's doubling high-mul, ORT's float) vs ours:
        # a few steps at the logits, near-total argmax agreement.
        assert np.median(np.abs(got - ours)) <= 1.01 * t_out.scale
        assert (got.argmax(1) == ours.argmax(1)).mean() >= 0.9
