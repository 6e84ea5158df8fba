"""The README's main job end to end on a small synthetic set: every step runs through the real
CLI, the shipped bytes run on the host C runtime and on the simulated Cortex-M4 with parity."""

from __future__ import annotations

import json
import shutil

import pytest

from ecg_edge.pipeline import DemoConfig, run_demo


@pytest.mark.slow
@pytest.mark.sim
def test_demo_runs_end_to_end(tmp_path):
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        pytest.skip("Cortex-M toolchain missing (make toolchain installs it)")
    cfg = DemoConfig(n_windows=240, epochs=2, qat_epochs=1, sens_windows=64, max_repairs=0, sim_windows=2)
    summary = run_demo(cfg, tmp_path)

    report = tmp_path / "report"
    for name in ("README.md", "summary.json", "per_layer_plan.png", "pareto.png", "training_curve.png"):
        assert (report / name).is_file(), name
    assert json.loads((report / "summary.json").read_text())["true_cr"] == summary["true_cr"]
    shipped = summary["shipped_model_bin"]
    from ecg_edge.modelbin.reader import read_model_file

    mb = read_model_file(tmp_path / "model.bin")  # true CR counts the flashed device image
    assert shipped["bytes"] == mb.file_size == summary["flash"]["device_image_bytes"] == len(mb.device_image)
    assert summary["flash"]["simulated_model_flash_bytes"] == mb.file_size < len(mb.data)
    assert summary["true_cr"] == pytest.approx(summary["fp32_param_bytes"] / shipped["bytes"], rel=1e-2)
    assert shipped["agreement_fakequant"] == 1.0  # QAT ships exactly what it trained
    assert shipped["bytes"] <= summary["fp32_param_bytes"] / cfg.target_cr
    lo, hi = shipped["macro_f1_delta_ci95"]
    assert lo <= shipped["macro_f1_delta"] <= hi
    target = summary["target"]
    assert target["target"] == "cortex-m4"
    assert target["parity"]["matches"] == 2 and target["parity"]["mismatches"] == 0
    assert target["fits"] is True
    assert target["energy"]["energy_uj"] > 0 and 0 < target["energy"]["duty_cycle"] < 1
    assert "cortex-m4 energy" in (report / "README.md").read_text()
    assert all(s == 0 for s in target["statuses"])
