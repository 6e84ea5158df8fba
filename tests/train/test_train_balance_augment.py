"""Class balance by default on an imbalanced split, augmentations, and both resuming to the
same weights as an uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.data.prepared import PreparedManifest, save_prepared
from ecg_edge.train.augment import Augmenter
from ecg_edge.train.distributed import DistInfo
from ecg_edge.train.loop import TrainConfig, balance_plan, epoch_batches, fit
from tests.tinydata import CLASSES, make_split
from tests.train.tinydata import tiny_model


@pytest.fixture(scope="module")
def skewed(tmp_path_factory: pytest.TempPathFactory):
    """Training split 30 : 3 : 3 (imbalanced), val/test balanced."""
    X, y, g = make_split(90, 1, 1)
    keep = np.concatenate([np.flatnonzero(y == 0)[:30], np.flatnonzero(y == 1)[:3], np.flatnonzero(y == 2)[:3]])
    splits = {"train": (X[keep], y[keep], g[keep]), "val": make_split(18, 1, 2), "test": make_split(18, 1, 3)}
    man = PreparedManifest(task="tiny3", classes=list(CLASSES), fs=64.0, n_samples=256, leads=["II"],
                           provenance={"preprocess": {"fs": 64.0, "n_samples": 256, "band": [0.5, 20.0],
                                                      "normalise": "zscore", "filter_order": 3}})
    return save_prepared(tmp_path_factory.mktemp("skew") / "ds", man, splits)


def test_auto_balances_an_imbalanced_split_and_says_so() -> None:
    y = np.array([0] * 30 + [1] * 3 + [2] * 3)
    p = balance_plan(y, CLASSES, TrainConfig())
    assert p.sampler and not p.weights and "class-balanced sampling" in p.note and "10.0x" in p.note
    assert not balance_plan(np.arange(36) % 3, CLASSES, TrainConfig()).sampler  # balanced: nothing
    assert balance_plan(y, CLASSES, TrainConfig(class_weights=True)).weights
    both = balance_plan(y, CLASSES, TrainConfig(balance="both"))
    assert both.sampler and both.weights
    none = balance_plan(y, CLASSES, TrainConfig(balance="none"))
    assert not none.sampler and not none.weights


def test_balanced_batches_draw_classes_evenly() -> None:
    y = np.array([0] * 900 + [1] * 50 + [2] * 50)
    idx = np.concatenate(epoch_batches(len(y), TrainConfig(batch_size=100, seed=1), 0, DistInfo(), y))
    share = np.bincount(y[idx], minlength=3) / len(idx)
    assert len(idx) == len(y) and np.all(np.abs(share - 1 / 3) < 0.05)
    again = np.concatenate(epoch_batches(len(y), TrainConfig(batch_size=100, seed=1), 0, DistInfo(), y))
    assert np.array_equal(idx, again)  # a function of (seed, epoch): resumable


def test_augmenter_is_seeded_and_keeps_zscore() -> None:
    aug = Augmenter(64.0, 256, {"band": [0.5, 20.0], "normalise": "zscore"}, seed=0)
    x = torch.from_numpy(make_split(8, 1, 4)[0])
    a = aug(x, torch.Generator().manual_seed(7))
    b = aug(x, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and not torch.equal(a, x) and a.shape == x.shape
    assert torch.allclose(a.std(-1, unbiased=False), torch.ones(8, 1), atol=1e-4)  # normalised like test windows
    assert aug.noise_kind in ("nstdb", "synthetic") and "baseline wander" in aug.describe()
    raw = Augmenter(64.0, 256, {"band": None, "normalise": "none"}, seed=0)
    assert "amplitude scaling" in raw.describe() and "no amplitude" not in raw.describe()


def test_balance_and_augment_resume_identically(skewed, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=2, batch_size=8, seed=5, num_threads=1, augment=True)

    class Stop(Exception):
        pass

    def stop(epoch: int, _rec: dict) -> None:
        if epoch == 1:
            raise Stop

    fit(tiny_model(seed=2), skewed, cfg, tmp_path / "a", log=None)
    with pytest.raises(Stop):
        fit(tiny_model(seed=2), skewed, cfg, tmp_path / "b", on_epoch_end=stop, log=None)
    fit(tiny_model(seed=9), skewed, cfg, tmp_path / "b", resume=True, log=None)
    a, b = load_checkpoint(tmp_path / "a/last.pt"), load_checkpoint(tmp_path / "b/last.pt")
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    summary = json.loads((tmp_path / "a/history.json").read_text())["train_summary"]
    assert summary["balance"].startswith("class balance: class-balanced sampling (auto; training split imbalanced")
    assert summary["augment"].startswith("augmentation: shifts up to 0.5 s")
