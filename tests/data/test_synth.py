"""The synthetic generator: deterministic, class-balanced, patient-wise split, sane signals."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.data.prepared import SPLITS, load_prepared
from ecg_edge.data.synth import SynthConfig, generate, make_synthetic_dataset
from ecg_edge.data.synth.leads import LEADS_12, lead_matrix
from ecg_edge.errors import DataError


@pytest.mark.parametrize("task,n_classes", [("chapman4", 4), ("cpsc9", 9)])
def test_deterministic_and_balanced(task: str, n_classes: int) -> None:
    a = generate(SynthConfig(task=task, n=n_classes * 6, seed=7, n_samples=1024))
    b = generate(SynthConfig(task=task, n=n_classes * 6, seed=7, n_samples=1024))
    c = generate(SynthConfig(task=task, n=n_classes * 6, seed=8, n_samples=1024))
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y) and np.array_equal(a.groups, b.groups)
    assert not np.array_equal(a.X, c.X)
    assert np.bincount(a.y, minlength=n_classes).tolist() == [6] * n_classes
    assert a.X.dtype == np.float32 and np.isfinite(a.X).all()
    # a patient has one class and several windows
    for g in np.unique(a.groups):
        assert len(set(a.y[a.groups == g])) == 1


def test_twelve_leads_follow_einthoven() -> None:
    b = generate(SynthConfig(task="cpsc9", n=9, leads=12, seed=1, n_samples=1000, noise_scale=0.0,
                             real_noise=False))
    assert b.X.shape == (9, 12, 1000) and b.lead_names == list(LEADS_12)
    m = lead_matrix()
    assert np.allclose(m[:, 2], m[:, 1] - m[:, 0])  # III = II - I
    assert np.allclose(m[:, 3] + m[:, 4] + m[:, 5], 0.0)  # aVR + aVL + aVF = 0


def test_beat_rate_matches_class() -> None:
    """SB windows are slower than GSVT windows: R peaks counted on clean lead II."""
    b = generate(SynthConfig(task="chapman4", n=40, seed=3, noise_scale=0.0, real_noise=False))
    from scipy.signal import find_peaks
    rates = {}
    for c in ("SB", "GSVT"):
        idx = np.flatnonzero(b.y == b.classes.index(c))
        n_beats = [len(find_peaks(b.X[i, 0] - np.median(b.X[i, 0]), height=0.3 * np.ptp(b.X[i, 0]),
                                  distance=120)[0]) for i in idx]
        rates[c] = np.median(n_beats) * 60 / (5120 / 500)
    assert rates["SB"] < 65 and rates["GSVT"] > 90


def test_prepared_dataset_split_by_patient(tmp_path) -> None:
    ds = make_synthetic_dataset("chapman4", 80, 1, 5, tmp_path / "syn", n_samples=1024, windows_per_patient=2)
    again = load_prepared(tmp_path / "syn")
    assert again.manifest.classes == ["SB", "AFIB", "GSVT", "SR"] and again.manifest.leads == ["II"]
    seen: dict[str, str] = {}
    total = 0
    for s in SPLITS:
        X, y = ds.split(s)
        total += len(y)
        assert X.shape[1:] == (1, 1024)
        assert np.allclose(X.mean(-1), 0, atol=1e-3)  # z-scored windows
        for g in ds.groups(s):
            assert seen.setdefault(str(g), s) == s, f"patient {g} in two splits"
    assert total == 80
    assert all(sum(c.values()) > 0 for c in ds.manifest.counts.values())


def test_label_noise_and_bad_config() -> None:
    b = generate(SynthConfig(task="chapman4", n=40, seed=2, n_samples=512, label_noise=0.5))
    assert 5 <= b.info["label_noise_flipped"] <= 35
    with pytest.raises(DataError, match="unknown lead name 'V9'"):
        _ = SynthConfig(leads=["V9"]).lead_names
    with pytest.raises(DataError, match="synthetic task"):
        SynthConfig(task="nope")


def test_noise_sources(shared_data, tmp_path) -> None:
    from ecg_edge.data.synth.noise import NoiseSource

    real = NoiseSource(500.0, shared_data / "nstdb_noise")
    assert real.kind == "nstdb" and real.bw.shape[0] == 2 and abs(real.bw.shape[1] - 650000 * 500 / 360) < 2
    fake = NoiseSource(500.0, tmp_path)  # no records there: synthetic baseline wander and muscle noise
    assert fake.kind == "synthetic"
    x = fake.mixture(np.random.default_rng(0), 3, 2, 2000, np.ones(3))
    assert x.shape == (3, 2, 2000) and np.isfinite(x).all() and 0.005 < float(x.std()) < 1.0
    b = generate(SynthConfig(task="chapman4", n=4, seed=0, n_samples=512, noise_dir=str(tmp_path)))
    assert b.info["noise"] == "synthetic"
