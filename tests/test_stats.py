"""Bootstrap intervals on cases whose answer is known analytically or by brute force."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.metrics import classification_metrics, confusion_matrix
from ecg_edge.stats import (
    bootstrap_metrics,
    delta_line,
    mean_spread,
    metrics_from_confusion,
    paired_bootstrap,
    runs_bootstrap,
)


def _one_wrong_of_five() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.array([0, 1, 2, 0, 1])
    return y, y.copy(), np.array([0, 1, 2, 0, 2])  # new is wrong on window 4 only


def test_identical_predictions_give_zero_interval():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    p = np.where(rng.random(300) < 0.8, y, rng.integers(0, 4, 300))
    for groups in (None, np.arange(300) // 5):
        c = paired_bootstrap(y, p, p, groups=groups)
        for m in ("accuracy", "macro_f1"):
            assert c.delta[m].estimate == 0.0
            assert c.delta[m].as_list() == [0.0, 0.0]


def test_accuracy_drop_matches_binomial_quantiles():
    # Resampling 5 windows, the number of draws of the one window new gets wrong is
    # Binomial(5, 1/5): P(k >= 4) = 0.0067 < 2.5% < P(k >= 3) = 0.058 and P(k = 0) = 0.33, so the
    # 95% percentile interval of the accuracy difference is exactly [-3/5, 0].
    y, a, b = _one_wrong_of_five()
    c = paired_bootstrap(y, a, b, resamples=4000)
    assert c.delta["accuracy"].estimate == pytest.approx(-0.2)
    assert c.delta["accuracy"].as_list() == pytest.approx([-0.6, 0.0])


def test_groups_resample_whole_records():
    # Each record repeats one window 10 times: resampling records is resampling the 5 distinct
    # windows, so the interval is the 5-window one above; resampling the 50 windows is narrower.
    y, a, b = (np.repeat(v, 10) for v in _one_wrong_of_five())
    records = np.repeat(np.arange(5), 10)
    by_record = paired_bootstrap(y, a, b, groups=records, resamples=4000)
    assert by_record.n_groups == 5
    assert by_record.delta["accuracy"].as_list() == pytest.approx([-0.6, 0.0])
    by_window = paired_bootstrap(y, a, b, resamples=4000)
    assert by_window.delta["accuracy"].half_width < 0.5 * by_record.delta["accuracy"].half_width
    # one window per group is the window-level bootstrap
    y5, a5, b5 = _one_wrong_of_five()
    assert paired_bootstrap(y5, a5, b5, groups=np.arange(5), resamples=4000).delta["accuracy"].as_list() \
        == pytest.approx([-0.6, 0.0])


def test_accuracy_interval_matches_normal_approximation():
    rng = np.random.default_rng(2)
    n = 4000
    y = rng.integers(0, 4, n)
    a = np.where(rng.random(n) < 0.95, y, (y + 1) % 4)
    b = np.where(rng.random(n) < 0.93, a, (a + 1) % 4)
    d = (b == y).astype(float) - (a == y)
    hw = 1.96 * d.std(ddof=0) / np.sqrt(n)
    iv = paired_bootstrap(y, a, b).delta["accuracy"]
    assert iv.estimate == pytest.approx(d.mean())
    assert iv.half_width == pytest.approx(hw, rel=0.1)
    assert iv.contains(d.mean())


def _brute_force(y, a, b, resamples, seed):
    """The textbook loop: draw window indices, score both predictions, take quantiles."""
    rng = np.random.default_rng(seed)
    classes = [str(i) for i in range(4)]
    d = []
    for _ in range(resamples):
        i = rng.integers(0, y.size, y.size)
        d.append(classification_metrics(y[i], b[i], classes)["macro_f1"]
                 - classification_metrics(y[i], a[i], classes)["macro_f1"])
    return np.quantile(d, [0.025, 0.975])


def test_macro_f1_interval_matches_brute_force_loop():
    rng = np.random.default_rng(3)
    n = 400
    y = rng.integers(0, 4, n)
    a = np.where(rng.random(n) < 0.9, y, rng.integers(0, 4, n))
    b = np.where(rng.random(n) < 0.9, a, rng.integers(0, 4, n))
    iv = paired_bootstrap(y, a, b, resamples=4000).delta["macro_f1"]
    lo, hi = _brute_force(y, a, b, 1500, seed=7)
    classes = [str(i) for i in range(4)]
    assert iv.estimate == pytest.approx(classification_metrics(y, b, classes)["macro_f1"]
                                        - classification_metrics(y, a, classes)["macro_f1"])
    # two Monte Carlo estimates of the same quantiles: agree to a fraction of the width
    assert iv.low == pytest.approx(lo, abs=0.15 * (hi - lo))
    assert iv.high == pytest.approx(hi, abs=0.15 * (hi - lo))


def test_metrics_from_confusion_equals_classification_metrics():
    rng = np.random.default_rng(4)
    for _ in range(20):
        y = rng.integers(0, 5, 60)
        p = np.where(rng.random(60) < 0.6, y, rng.integers(0, 5, 60))
        p[p == 4] = 3  # a class absent from predictions
        y[y == 4] = 3  # ... and from the truth: left out of the macro average
        ref = classification_metrics(y, p, [str(i) for i in range(5)])
        got = metrics_from_confusion(confusion_matrix(y, p, 5))
        assert float(got["accuracy"]) == pytest.approx(ref["accuracy"])
        assert float(got["macro_f1"]) == pytest.approx(ref["macro_f1"])


def test_single_metric_interval_and_determinism():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 1000)
    p = np.where(rng.random(1000) < 0.9, y, (y + 1) % 3)
    iv = bootstrap_metrics(y, p)
    acc = float((p == y).mean())
    assert iv["accuracy"].estimate == pytest.approx(acc)
    assert iv["accuracy"].half_width == pytest.approx(1.96 * np.sqrt(acc * (1 - acc) / 1000), rel=0.1)
    assert iv["macro_f1"].low < iv["macro_f1"].estimate < iv["macro_f1"].high
    assert bootstrap_metrics(y, p) == iv
    assert bootstrap_metrics(y, p, seed=1) != iv


def test_bad_inputs_are_refused():
    y = np.array([0, 1, 1])
    with pytest.raises(ValueError, match="same windows"):
        paired_bootstrap(y, y, y[:2])
    with pytest.raises(ValueError, match="groups"):
        paired_bootstrap(y, y, y, groups=[0, 1])
    with pytest.raises(ValueError, match="n_classes"):
        paired_bootstrap(y, y, y, n_classes=1)
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_metrics(y, y, resamples=10)


def test_mean_spread():
    s = mean_spread([0.9, 0.92, 0.94])
    assert s.mean == pytest.approx(0.92)
    assert s.std == pytest.approx(0.02)
    assert (s.n, s.min, s.max) == (3, 0.9, 0.94)
    assert s.fmt() == "0.9200 ± 0.0200 (n=3)"
    assert mean_spread([0.5]).std == 0.0
    with pytest.raises(ValueError):
        mean_spread([])


def test_comparison_dict_and_line():
    y, a, b = _one_wrong_of_five()
    c = paired_bootstrap(y, a, b)
    d = c.to_dict()
    assert d["accuracy"]["delta"] == pytest.approx(-0.2)
    assert d["resampled_by"] == "window" and d["n"] == 5
    assert len(d["macro_f1"]["delta_ci95"]) == 2
    assert delta_line(d).startswith("accuracy -20.00 pt [95% CI -60.00, +0.00]; macro-F1 ")
    assert delta_line(d).endswith("(paired bootstrap over 5 windows)")


def test_a_single_group_resamples_windows_and_says_so():
    y, a, b = _one_wrong_of_five()
    c = paired_bootstrap(y, a, b, groups=np.zeros(5), resamples=4000)
    assert c.n_groups is None and "resampled" in c.note
    assert c.delta["accuracy"].as_list() == pytest.approx([-0.6, 0.0])  # the window-level interval
    assert c.note in delta_line(c.to_dict())
    few = paired_bootstrap(y, a, b, groups=np.arange(5))
    assert few.n_groups == 5 and "rough" in few.note


def _noisy(rng: np.random.Generator, y: np.ndarray, acc: float) -> np.ndarray:
    return np.where(rng.random(y.size) < acc, y, (y + 1) % 4)


def test_runs_bootstrap_of_one_run_each_is_the_paired_bootstrap():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 500)
    a, b, g = _noisy(rng, y, 0.9), _noisy(rng, y, 0.85), np.arange(500) // 4
    r, p = runs_bootstrap(y, [a], [b], groups=g), paired_bootstrap(y, a, b, groups=g)
    for m in ("accuracy", "macro_f1"):
        assert r.patients[m] == p.delta[m]
        assert r.runs_and_patients[m] == p.delta[m]  # one run drawn with replacement is itself
    assert r.n_groups == 125 and r.reference["macro_f1"].n == 1


def test_runs_bootstrap_means_and_identical_runs():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 4, 400)
    a, b = _noisy(rng, y, 0.9), _noisy(rng, y, 0.8)
    g = np.arange(400) // 2
    r = runs_bootstrap(y, [a, a, a], [b, b], groups=g)
    single = paired_bootstrap(y, a, b, groups=g)
    for m in ("accuracy", "macro_f1"):  # copies of one run: redrawing runs changes nothing
        for iv in (r.patients[m], r.runs_and_patients[m]):
            assert [iv.estimate, iv.low, iv.high] == pytest.approx([single.delta[m].estimate, *single.delta[m].as_list()])
        assert r.reference[m].std == pytest.approx(0.0, abs=1e-12) and r.new[m].n == 2
    a2 = _noisy(rng, y, 0.7)
    r2 = runs_bootstrap(y, [a, a2], [b])
    acc = [float((p == y).mean()) for p in (a, a2, b)]
    assert r2.reference_runs["accuracy"] == pytest.approx(acc[:2])
    assert r2.patients["accuracy"].estimate == pytest.approx(acc[2] - (acc[0] + acc[1]) / 2)


def test_runs_bootstrap_seed_spread_widens_the_interval_as_the_run_draws_say():
    # 20,000 windows: patient noise ~0.3 pt, so the run redraws dominate. Reference runs score
    # 0.70, 0.80, 0.90; the mean of three draws with replacement is 0.70 with probability
    # 1/27 = 3.7% (> 2.5%) and 0.90 likewise, so the 95% interval of new - mean(ref) spans about
    # new - 0.90 .. new - 0.70, against about +-0.6 pt with the runs fixed.
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, 20_000)
    refs = [_noisy(rng, y, acc) for acc in (0.7, 0.8, 0.9)]
    new = [_noisy(rng, y, 0.8)]
    r = runs_bootstrap(y, refs, new, resamples=2000)
    fixed, drawn = r.patients["accuracy"], r.runs_and_patients["accuracy"]
    assert fixed.half_width < 0.01
    assert drawn.low == pytest.approx(fixed.estimate - 0.1, abs=0.015)
    assert drawn.high == pytest.approx(fixed.estimate + 0.1, abs=0.015)


def test_runs_bootstrap_refuses_an_empty_side():
    y = np.zeros(10, dtype=int)
    with pytest.raises(ValueError, match="at least one run"):
        runs_bootstrap(y, [], [y])
