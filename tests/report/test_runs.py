"""report.runs: window and record figures of paired runs with a bootstrap interval."""

from __future__ import annotations

from pathlib import Path

from ecg_edge.data.prepare import PrepareConfig, prepare
from ecg_edge.data.preprocess import PreprocessConfig
from ecg_edge.data.splits import SplitConfig
from ecg_edge.report.runs import compare, to_text
from ecg_edge.train.loop import TrainConfig, fit
from tests.data.ownfolder import write_archive
from tests.train.tinydata import tiny_model


def test_compare_pairs_runs_by_seed(tmp_path: Path) -> None:
    labels = write_archive(tmp_path / "arch", rare=3)
    ds = prepare(PrepareConfig("folder", str(tmp_path / "arch"), "own", labels_csv=str(labels), fs=250.0,
                               preprocess=PreprocessConfig(fs=64.0, n_samples=256, band=(0.5, 20.0)),
                               split=SplitConfig((0.5, 0.25, 0.25), 0), min_seconds=2.0), tmp_path / "ds", log=None)
    runs = []
    for name, cfg in (("a", TrainConfig(epochs=1, batch_size=16, num_threads=1, balance="none")),
                      ("b", TrainConfig(epochs=1, batch_size=16, num_threads=1, augment=True))):
        fit(tiny_model(seed=0, n_classes=len(ds.classes)), ds, cfg, tmp_path / name, log=None)
        runs.append(tmp_path / name)
    res = compare(tmp_path / "ds", [runs[0]], [runs[1]])
    assert res["records"] < res["windows"] and set(res["runs"]) == {str(r) for r in runs}
    lo, hi = res["delta_record"]["macro_f1"]["delta_ci95"]
    assert lo <= res["delta_record"]["macro_f1"]["delta"] <= hi
    text = to_text(res, "b")
    assert "b - ref, records: accuracy" in text and "95% CI" in text
