from __future__ import annotations

import json

import numpy as np

from ecg_edge.train.pretrain_study import make_few_label_dataset, run_study, stratified_subset
from tests.models.hubert_fixtures import make_toy_dataset
from tests.train.test_pretrain_hubert import SMALL


def test_stratified_subset_keeps_every_class():
    y = np.array([0] * 50 + [1] * 10 + [2] * 3)
    idx = stratified_subset(y, 0.1, 3, seed=0)
    assert np.bincount(y[idx]).tolist() == [5, 2, 2]
    np.testing.assert_array_equal(idx, stratified_subset(y, 0.1, 3, seed=0))


def test_few_label_dataset_and_study_end_to_end(tmp_path):
    src = make_toy_dataset(tmp_path / "src", n=40)
    few = make_few_label_dataset(src, 0.25, tmp_path / "few")
    assert sum(few.manifest.counts["train"].values()) == 10
    assert few.split("test")[0].shape == src.split("test")[0].shape
    res = run_study(str(src.root), [str(src.root)], str(tmp_path / "study"), label_frac=0.5, seeds=(0,),
                    pretrain_cfg={"clusters": 4, "iterations": 1, "epochs": 1, "model_overrides": SMALL},
                    finetune={"epochs": 2, "patience": 2})
    assert {r["arm"] for r in res["runs"]} == {"scratch", "pretrained"}
    assert json.loads((tmp_path / "study" / "study.json").read_text())["aggregate"].keys() == {"scratch", "pretrained"}
    assert "pretrained mean" in (tmp_path / "study" / "study.md").read_text()
