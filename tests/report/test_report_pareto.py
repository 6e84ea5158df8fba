from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.cli import main
from ecg_edge.compress.engine import CompressOptions, Compressor
from ecg_edge.data.prepared import load_prepared
from ecg_edge.modelbin.reader import read_model
from ecg_edge.models.predict import predict
from ecg_edge.report.shipped import run_split
from ecg_edge.stats import paired_bootstrap
from ecg_edge.targets.registry import get_target


def test_pareto_points_are_shipped_bytes_with_paired_ci(tiny, tmp_path: Path) -> None:
    ck, ds = tiny
    out = tmp_path / "p"
    assert main(["report", "pareto", "--checkpoint", str(ck), "--data", str(ds), "--out", str(out),
                 "--series", "fixed-q,laq,budget", "--bits", "8,2", "--tolerances", "0.05",
                 "--budget-crs", "2,50", "--budget-sparsities", "0", "--runtime", "numpy"]) == 0
    rep = json.loads((out / "pareto.json").read_text())
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "pareto.md").read_text()
    assert "Δ macro-F1 (pt) [95% CI]" in md and "int8 within 0.2 pt" in md
    assert not (out / "pareto.partial.json").exists()
    got = [(p["series"], p["setting"]) for p in rep["points"]]
    # 50x is below the smallest plan of the tiny model: skipped with a message, not faked
    assert got == [("fixed-q", "8-bit"), ("fixed-q", "2-bit"), ("laq", "tolerance 0.05"), ("budget", "2x")]
    assert rep["test_windows"] == 96 and rep["test_groups"] == 96
    for p in rep["points"]:
        assert p["true_cr"] == rep["fp32"]["param_bytes"] / p["model_bytes"]
        d = p["delta"]["macro_f1"]
        assert d["delta_ci95"][0] <= d["delta"] <= d["delta_ci95"][1]
        assert abs(p["test"]["macro_f1"] - rep["fp32"]["macro_f1"] - d["delta"]) < 1e-12
    assert rep["points"][-1]["true_cr"] >= 2.0  # the whole file fits the budget
    assert rep["goals"]["int8_macro_f1_delta"] == rep["points"][0]["delta"]["macro_f1"]["delta"]

    # the 2-bit point's figures are those of the exported model.bin bytes (the file that ships)
    comp = Compressor(load_checkpoint(ck), load_prepared(ds), get_target("cortex-m4"), CompressOptions(),
                      source=str(ck))
    o = comp.finalize("fixed-q2", comp.search("fixed-q2"))
    X, y = load_prepared(ds).split("test")
    pred = run_split(read_model(o.size.model_bin), np.asarray(X)).argmax(1)
    assert rep["points"][1]["model_bytes"] == len(read_model(o.size.model_bin).device_image)
    want = paired_bootstrap(y, predict(comp.model, np.asarray(X)).argmax(1), pred,
                            groups=load_prepared(ds).groups("test")).to_dict()
    assert rep["points"][1]["delta"]["macro_f1"]["delta_ci95"] == want["macro_f1"]["delta_ci95"]


def test_pareto_refuses_bad_options(tiny, tmp_path: Path, capsys) -> None:
    ck, ds = tiny
    assert main(["report", "pareto", "--checkpoint", str(ck), "--data", str(ds), "--series", "laq,magic",
                 "--out", str(tmp_path / "r")]) == 2
    assert "--series" in capsys.readouterr().err
    assert main(["report", "pareto", "--checkpoint", str(ck), "--data", str(ds), "--bits", "4,x",
                 "--out", str(tmp_path / "r")]) == 2
    assert "--bits" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_pareto_qat_series_ships_within_budget(tiny, tmp_path: Path) -> None:
    from ecg_edge.report.pareto import ParetoConfig, run_pareto

    ck, ds = tiny
    rep = run_pareto(ck, ds, ParetoConfig(series=("qat",), budget_crs=(2.0,), qat_epochs=1, sens_windows=16,
                                          qat_max_repairs=0, runtime="numpy"), log=lambda s: None)
    (p,) = rep["points"]
    assert p["series"] == "qat" and p["true_cr"] >= 2.0
    d = p["delta"]["macro_f1"]
    assert d["delta_ci95"][0] <= d["delta"] <= d["delta_ci95"][1]


def test_pareto_qat_reuses_the_compress_sensitivity(tiny, tmp_path: Path) -> None:
    """--sensitivity-from: every qat point takes the sensitivity compress recorded (none is
    measured again), and a plan of another checkpoint is refused."""
    import shutil

    import pytest

    from ecg_edge.compress import engine
    from ecg_edge.errors import EcgEdgeError
    from ecg_edge.layerplan.plan import CompressionPlan
    from ecg_edge.report.pareto import ParetoConfig, run_pareto

    ck, ds = tiny
    out = tmp_path / "c"
    assert main(["compress", str(ck), "--data", str(ds), "--method", "qat", "--target-cr", "2", "--tolerance", "0.5",
                 "--qat-epochs", "1", "--sens-windows", "16", "--max-repairs", "0", "--out", str(out)]) == 0
    rec = CompressionPlan.load(out / "plan.json").metrics["sensitivity"]
    calls: list[int] = []
    real = engine.Compressor.shipped

    def spy(self, log=None):
        calls.append(len(self._qat_sens))
        return real(self, log)

    logs: list[str] = []
    engine.Compressor.shipped = spy  # type: ignore[method-assign]
    try:
        rep = run_pareto(ck, ds, ParetoConfig(series=("qat",), budget_crs=(2.0, 3.0), qat_epochs=1, sens_windows=999,
                                              qat_max_repairs=0, runtime="numpy",
                                              sensitivity_from=str(out / "plan.json")), log=logs.append)
    finally:
        engine.Compressor.shipped = real  # type: ignore[method-assign]
    assert calls == [1, 1] and len(rep["points"]) == 2
    assert sum("measured before, reused" in m for m in logs) == 2 and not any("layer x candidate" in m for m in logs)
    assert rec["windows"] == 16 and len(rec["options"]) > 0
    other = tmp_path / "other.pt"
    shutil.copyfile(ck, other)
    with pytest.raises(EcgEdgeError, match="was measured on"):
        run_pareto(other, ds, ParetoConfig(series=("qat",), budget_crs=(2.0,), runtime="numpy",
                                           sensitivity_from=str(out / "plan.json")), log=lambda s: None)
