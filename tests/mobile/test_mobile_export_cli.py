"""`ecg-edge export -o m.tflite / m.onnx` quantizes as `-o model.bin` does with the same options:
the same calibration windows and --calib-* settings give the same tensor table."""

from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import numpy_helper

from ecg_edge.cli import main
from ecg_edge.modelbin.reader import read_model_file

from .test_mobile_parity import tflite_tensors

CALIB = ["--calib-windows", "16", "--calib-percentile", "99.5", "--calib-input-percentile", "99.0"]


def _export(tiny, out, *extra: str) -> None:
    args = ["export", str(tiny.ckpt_path), "--data", str(tiny.data), "-o", str(out), *extra]
    assert main(args) == 0


def test_tflite_and_model_bin_share_the_tensor_table(tiny, tmp_path, capsys):
    _export(tiny, tmp_path / "m.bin", *CALIB)
    _export(tiny, tmp_path / "m.tflite", *CALIB)
    assert "calibrated on 16 train windows" in capsys.readouterr().out
    mb = read_model_file(tmp_path / "m.bin")
    tfl = tflite_tensors(tmp_path / "m.tflite")
    ours = sorted((np.float32(t.scale), t.zero_point) for t in mb.tensors)
    assert sorted(v for k, v in tfl.items() if "/" not in k) == ours
    t_in = mb.tensors[mb.input_tensor]
    assert tfl["input"] == (np.float32(t_in.scale), t_in.zero_point)
    _export(tiny, tmp_path / "d.tflite")  # the defaults calibrate differently
    assert tflite_tensors(tmp_path / "d.tflite")["input"] != tfl["input"]


def test_qdq_onnx_carries_the_model_bin_input_quantization(tiny, tmp_path):
    _export(tiny, tmp_path / "m.bin", "--plan", str(tiny.plan_path), *CALIB)
    _export(tiny, tmp_path / "q.onnx", "--plan", str(tiny.plan_path), *CALIB)
    mb = read_model_file(tmp_path / "m.bin")
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(tmp_path / "q.onnx").graph.initializer}
    t_in = mb.tensors[mb.input_tensor]
    assert (inits["input.scale"], inits["input.zp"]) == (np.float32(t_in.scale), t_in.zero_point)
    onnx_scales = sorted(float(v) for k, v in inits.items() if k.endswith(".scale"))
    assert onnx_scales == sorted(float(np.float32(t.scale)) for t in mb.tensors)


def test_agreement_tool_reports_the_shared_tensor_table(tiny, tmp_path, capsys):
    from ecg_edge.mobile.agreement import main as agreement_main

    _export(tiny, tmp_path / "m.bin", *CALIB)
    _export(tiny, tmp_path / "m.tflite", *CALIB)
    capsys.readouterr()
    assert agreement_main([str(tmp_path / "m.tflite"), str(tmp_path / "m.bin"), "--data", str(tiny.data)]) == 0
    out = capsys.readouterr().out
    n = len(read_model_file(tmp_path / "m.bin").tensors)
    assert f"carries: {n}/{n}" in out
    assert re.search(r"32 test windows: \|logit difference\| in model.bin output steps max [01],", out), out
    assert "paired bootstrap" in out
    assert agreement_main([str(tmp_path / "m.bin"), str(tmp_path / "m.bin"), "--data", str(tiny.data)]) == 2
    assert "expected a .tflite or .onnx file" in capsys.readouterr().err
