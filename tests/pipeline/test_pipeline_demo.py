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
    cfg = DemoConfig(n_windows=240, epochs=2, qat_epochs=1, sens_windows=64, max_repairs=0, sim_windows=2,
                     pareto=True, pareto_tolerances=(0.01,), pareto_crs=(3.0, 4.0), pareto_qat_epochs=1)
    summary = run_demo(cfg, tmp_path)

    report = tmp_path / "report"
    for name in ("README.md", "summary.json", "per_layer_plan.png", "pareto.png", "pareto.md", "pareto.json",
                 "training_curve.png"):
        assert (report / name).is_file(), name
    # the report's curve: report pareto's points (qat reusing the compress sensitivity) + int8 + shipped
    curve = json.loads((report / "pareto.json").read_text())
    series = [(p["series"], p["setting"]) for p in curve["points"]]
    assert ("fixed-q", "4-bit") in series and ("laq", "tolerance 0.01") in series
    assert ("fixed-q", "8-bit (export, int8 model.bin)") in series
    # every configured qat budget is a point or a refusal with its reason, never silently absent
    tried = {st for s, st in series if s == "qat"} | {k["setting"] for k in curve["skipped"] if k["series"] == "qat"}
    assert {"3x", "4x"} <= tried and all(k["reason"] for k in curve["skipped"])
    shipped_pt = next(p for p in curve["points"] if p["setting"].endswith("(shipped)"))
    assert shipped_pt["model_bytes"] == summary["shipped_model_bin"]["bytes"]
    assert shipped_pt["delta"]["macro_f1"]["delta_ci95"] == summary["shipped_model_bin"]["macro_f1_delta_ci95"]
    for p in curve["points"]:
        lo, hi = p["delta"]["macro_f1"]["delta_ci95"]
        assert lo <= p["delta"]["macro_f1"]["delta"] <= hi
    assert json.loads((report / "summary.json").read_text())["true_cr"] == summary["true_cr"]
    shipped = summary["shipped_model_bin"]
    from ecg_edge.modelbin.reader import read_model_file

    mb = read_model_file(tmp_path / "model.bin")  # true CR counts the flashed device image
    assert shipped["bytes"] == mb.file_size == summary["flash"]["device_image_bytes"] == len(mb.device_image)
    assert summary["flash"]["simulated_model_flash_bytes"] == mb.file_size < len(mb.data)
    assert summary["true_cr"] == pytest.approx(summary["fp32_param_bytes"] / shipped["bytes"], rel=1e-2)
    assert shipped["agreement_fakequant"] == 1.0  # QAT ships exactly what it trained
    assert shipped["bytes"] <= summary["fp32_param_bytes"] / cfg.target_cr
    plan = json.loads((tmp_path / "compress" / "plan.json").read_text())
    assert summary["nominal_cr"] == round(plan["metrics"]["nominal_cr"], 2)  # sparsity counted, one formula
    lo, hi = shipped["macro_f1_delta_ci95"]
    assert lo <= shipped["macro_f1_delta"] <= hi
    target = summary["target"]
    assert target["target"] == "cortex-m4"
    assert target["parity"]["matches"] == 2 and target["parity"]["mismatches"] == 0
    assert target["fits"] is True
    assert target["energy"]["energy_uj"] > 0 and 0 < target["energy"]["duty_cycle"] < 1
    assert "cortex-m4 energy" in (report / "README.md").read_text()
    assert all(s == 0 for s in target["statuses"])


def test_demo_report_ignores_a_pareto_curve_left_by_an_earlier_run(tmp_path):
    # --no-pareto over a work folder whose pareto/pareto.json came from an earlier --pareto run
    # (another checkpoint): the report must plot this run's two points only, never the stale curve
    from ecg_edge.pipeline import _pareto_report

    stale = tmp_path / "pareto.json"
    stale.write_text(json.dumps({"points": [{"series": "qat", "setting": "8x"}], "skipped": []}))
    fp = {"n": 10, "accuracy": 0.9, "macro_f1": 0.9}
    res = {"accuracy": 0.89, "macro_f1": 0.88}
    d = {"accuracy_delta": -0.01, "accuracy_delta_ci95": [-0.02, 0.0],
         "macro_f1_delta": -0.02, "macro_f1_delta_ci95": [-0.03, -0.01]}
    extra = [("fixed-q", "8-bit (export, int8 model.bin)", 1000, res, d), ("qat", "16x (shipped)", 250, res, d)]
    rep = _pareto_report(stale, DemoConfig(pareto=False), fp, 4000, extra)
    assert [(p["series"], p["setting"]) for p in rep["points"]] == [(s, st) for s, st, *_ in extra]
    assert [p["true_cr"] for p in rep["points"]] == [4.0, 16.0]
