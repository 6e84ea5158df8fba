"""The int8 exports translate the graph model.bin is written from: the .tflite's tensors carry
model.bin's tensor table (scale, zero point) tensor by tensor, and the exported files compute
model.bin's logits (the numpy reference executor) to the bounds below, measured in NOTES.md."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.mobile.common import tensor_names
from ecg_edge.mobile.onnx_export import export_onnx
from ecg_edge.mobile.runners import LiteRTRunner, OrtRunner, TFLMRunner
from ecg_edge.mobile.tflite_export import export_tflite
from ecg_edge.modelbin.calibrate import CalibSettings
from ecg_edge.modelbin.graph import build_graph
from ecg_edge.models.registry import model_from_checkpoint

from .conftest import TINY, make_ckpt, model_bin_logits, to_steps


def tflite_tensors(path) -> dict[str, tuple[float, int]]:
    """name -> (scale, zero point) of every per-tensor-quantized tensor, read by LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    return {d["name"]: d["quantization"] for d in it.get_tensor_details() if d["quantization"][0] != 0.0}


@pytest.mark.parametrize("use_plan", [False, True])
def test_tflite_quantization_is_model_bin_tensor_table(tiny, tmp_path, use_plan):
    plan = tiny.plan if use_plan else None
    mb, _ = model_bin_logits(tiny.ckpt, plan, tiny.calib, tiny.X[:1])
    export_tflite(tiny.ckpt, plan, tmp_path / "m.tflite", tiny.calib)
    got = tflite_tensors(tmp_path / "m.tflite")
    names = tensor_names(build_graph(tiny.ckpt.arch, model_from_checkpoint(tiny.ckpt), plan))
    assert len(names) == len(mb.tensors)
    for name, t in zip(names, mb.tensors, strict=True):
        # model.bin stores float32 scales, as TFLite does: equal bit for bit
        assert got[name] == (np.float32(t.scale), t.zero_point), name
    lite = LiteRTRunner(tmp_path / "m.tflite")
    t_in, t_out = mb.tensors[mb.input_tensor], mb.tensors[mb.output_tensor]
    assert (lite.in_scale, lite.in_zp) == (np.float32(t_in.scale), t_in.zero_point)
    assert (lite.out_scale, lite.out_zp) == (np.float32(t_out.scale), t_out.zero_point)


def test_calibration_options_reach_the_tflite(tiny, tmp_path):
    """The same --calib-* settings give the .tflite model.bin's input scale; other settings another."""
    from ecg_edge.modelbin.packer import pack
    from ecg_edge.modelbin.reader import read_model

    opts = CalibSettings(windows=16, percentile=99.0, input_percentile=99.5)
    mb = read_model(pack(tiny.ckpt, None, tiny.calib, max_calib_windows=16, percentile=99.0,
                         input_percentile=99.5).data)
    export_tflite(tiny.ckpt, None, tmp_path / "p.tflite", tiny.calib, calib=opts)
    export_tflite(tiny.ckpt, None, tmp_path / "d.tflite", tiny.calib)
    t_in = mb.tensors[mb.input_tensor]
    assert tflite_tensors(tmp_path / "p.tflite")["input"] == (np.float32(t_in.scale), t_in.zero_point)
    assert tflite_tensors(tmp_path / "d.tflite")["input"] != tflite_tensors(tmp_path / "p.tflite")["input"]


@pytest.mark.parametrize("head", ["gap", "flatten"])
@pytest.mark.parametrize("use_plan", [False, True])
def test_int8_exports_compute_model_bin_logits(tiny, tmp_path, use_plan, head):
    """Same integers in, same weights, same scales: LiteRT (XNNPACK) and onnxruntime give model.bin's
    int8 logits but for rare 1-step rounding differences (their requantization rounds in float,
    ours with one integer round-half-up); TFLite Micro's reference kernels round twice per
    requantization (and ADD at 2^20 precision), a few steps at the logits."""
    ck = tiny.ckpt if head == "gap" else make_ckpt({**TINY, "head": "flatten"}, seed=3)
    plan = tiny.plan if use_plan else None
    mb, ours = model_bin_logits(ck, plan, tiny.calib, tiny.X)
    ours = ours.astype(np.int64)
    export_tflite(ck, plan, tmp_path / "m.tflite", tiny.calib)
    export_onnx(ck, plan, tmp_path / "q.onnx", tiny.calib, qdq=True)
    for runner, max_steps, exact in ((LiteRTRunner(tmp_path / "m.tflite"), 1, 0.9),
                                     (OrtRunner(tmp_path / "q.onnx"), 1, 0.9),
                                     (TFLMRunner(tmp_path / "m.tflite"), 5, 0.0)):
        d = np.abs(to_steps(runner.predict(tiny.X), mb) - ours)
        name = type(runner).__name__
        assert d.max() <= max_steps, (name, d.max())
        assert (d.max(axis=1) == 0).mean() >= exact, (name, (d.max(axis=1) == 0).mean())
