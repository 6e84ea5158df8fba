from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecg_edge.cli import main
from ecg_edge.report.ablation import AblationConfig, markdown, run_ablation
from ecg_edge.report.plots import layers_png, pareto_png


def test_ablation_rows_metrics_and_figures(tiny, tmp_path: Path) -> None:
    ck, ds = tiny
    cfg = AblationConfig(tolerance=0.03, finetune_epochs=1, finetune_lr=1e-3, quant_bits=(8, 2),
                         prune_pcts=(50,), compare=True, budget_sparsities=(0.0, 0.5), budget_crs=(),
                         qat_crs=(3.0,), qat_epochs=1, qat_sens_windows=16)
    rep = run_ablation(ck, ds, cfg, log=lambda s: None)
    labels = [r["label"] for r in rep["rows"]]
    for want in ("Full precision (fp32, PyTorch)", "Quantized (8-bit)", "Quantized (2-bit) + FT", "Pruned (50%, 8-bit)",
                 "LAQ", "LAQ + FT", "LAP (8-bit)", "LAQ+LAP", "LAQ+LAP + FT", "LAQ (eq. 3 printed reading)",
                 "LAQ+LAP (quantize-then-prune)", "Budget (knapsack at LAQ's bytes)", "QAT (distillation, shipped) at 3x"):
        assert want in labels, want
    fp32_f1 = rep["rows"][0]["test"]["macro_f1"]
    for r in rep["rows"]:
        assert r["test"]["n"] == 96
        assert 0.0 <= r["test"]["macro_f1"] <= 1.0
        d = r["delta"]["macro_f1"]  # row - fp32 with its paired bootstrap 95% CI
        assert abs(d["delta"] - (r["test"]["macro_f1"] - fp32_f1)) < 1e-12
        assert d["delta_ci95"][0] <= d["delta"] <= d["delta_ci95"][1]
    assert rep["rows"][0]["delta"]["macro_f1"]["delta_ci95"] == [0.0, 0.0]
    rows = {r["label"]: r for r in rep["rows"]}
    assert rows["Quantized (8-bit)"]["nominal_cr"] == 4.0
    laq, bud = rows["LAQ"], rows["Budget (knapsack at LAQ's bytes)"]
    assert bud["model_bytes"] <= laq["model_bytes"]
    if rep["accuracy_from"] == "modelbin":
        assert laq["true_cr"] == rep["fp32_param_bytes"] / laq["model_bytes"]
    qat = rows["QAT (distillation, shipped) at 3x"]
    assert qat["accuracy_source"] == "modelbin" and qat["true_cr"] >= 3.0
    md = markdown(rep)
    assert "| LAQ |" in md and "nominal CR" in md and "Δ F1 (pt) [95% CI]" in md
    pareto_png(rep, tmp_path / "p.png")
    layers_png(rep, tmp_path / "l.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "l.png").stat().st_size > 0


def test_report_cli_rejects_bad_tolerance(tiny, tmp_path: Path, capsys) -> None:
    ck, ds = tiny
    assert main(["report", "ablation", "--checkpoint", str(ck), "--data", str(ds), "--tolerance", "-1",
                 "--out", str(tmp_path / "r")]) == 2
    assert "--tolerance" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    assert json.loads((ds / "manifest.json").read_text())["task"] == "toy3"


@pytest.mark.slow
def test_hubert_ablation_rows_are_all_the_shipped_model_bin(tmp_path: Path) -> None:
    """Every compressed HuBERT-ECG row, QAT included, is measured on its packed model.bin."""
    from ecg_edge.checkpoint import save_checkpoint
    from tests.tinydata import HUBERT_SMALL, hubert_checkpoint, make_dataset, small_hubert

    ck = tmp_path / "hubert.pt"
    save_checkpoint(ck, hubert_checkpoint(small_hubert()))
    ds = tmp_path / "data"
    make_dataset(ds, "phase-sine", classes=["a", "b", "c"], sizes=(40, 24, 24), n_samples=HUBERT_SMALL["n_samples"],
                 fs=HUBERT_SMALL["fs"], task="test", lead_names=["II"])
    cfg = AblationConfig(target="cortex-m55", tolerance=0.05, finetune_epochs=0, quant_bits=(8,), prune_pcts=(),
                         adaptive=(), compare=False, budget_crs=(), qat_crs=(3.0,), qat_epochs=1, qat_sens_windows=8)
    rep = run_ablation(ck, ds, cfg, log=lambda s: None)
    assert rep["arch"] == "hubert_ecg" and rep["accuracy_from"] == "modelbin"
    labels = [r["label"] for r in rep["rows"]]
    assert labels == ["Full precision (fp32, PyTorch)", "Quantized (8-bit)", "QAT (distillation, shipped) at 3x"]
    for r in rep["rows"][1:]:
        assert r["accuracy_source"] == "modelbin" and r["bytes_source"] == "model.bin"
        assert r["true_cr"] == rep["fp32_param_bytes"] / r["model_bytes"]
    assert rep["rows"][2]["true_cr"] >= 3.0
