"""Label-free sensitivity (KL, Hutchinson) and the allocator's budgets on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.compress.allocate import Budget, Option, allocate, knapsack
from ecg_edge.compress.layers import discover_layers
from ecg_edge.compress.sensitivity import (
    hutchinson_traces,
    kl_sensitivity,
    layer_macs,
    measure,
    training_windows,
)
from ecg_edge.data.prepared import load_prepared
from ecg_edge.errors import EcgEdgeError
from ecg_edge.models.registry import model_from_checkpoint


@pytest.fixture(scope="module")
def model_and_windows(tiny):
    ck, dd = tiny
    ckpt = load_checkpoint(ck)
    X, _ = load_prepared(dd).split("train")
    return model_from_checkpoint(ckpt).eval(), training_windows(X, 2000)


def test_kl_sensitivity_orders_candidates_and_counts_bytes(model_and_windows):
    model, X = model_and_windows
    sens = kl_sensitivity(model, X, bits=(2, 4, 8), sparsities=(0.0, 0.75))
    names = [li.name for li in discover_layers(model)]
    assert list(sens.options) == names and sens.windows == len(X) == 160
    for name in names:
        by = {o.choice: o for o in sens.options[name]}
        assert len(by) == 6
        # fewer bits never distort less than 8 bits; 8-bit dense is near lossless
        assert by[(2, 0.0)].sensitivity > by[(8, 0.0)].sensitivity >= 0.0
        assert by[(8, 0.0)].sensitivity < 1e-3
        assert by[(2, 0.0)].bytes < by[(4, 0.0)].bytes < by[(8, 0.0)].bytes
        assert all(o.macs > 0 for o in by.values())
    # the KL of a whole-model change is measured, not a constant: layers differ
    assert len({round(sens.option(n, (2, 0.0)).sensitivity, 9) for n in names}) > 1


def test_kl_sensitivity_is_the_mean_kl_of_the_whole_model(model_and_windows):
    import torch

    from ecg_edge.compress.layers import set_weight, weight_numpy
    from ecg_edge.compress.quantize import compress_weight
    from ecg_edge.compress.sensitivity import kl_rows

    model, X = model_and_windows
    sens = kl_sensitivity(model, X, bits=(3,), sparsities=(0.5,))
    name = "blocks.1.conv1"
    ref = model(torch.from_numpy(X)).detach().numpy()
    m = __import__("copy").deepcopy(model)
    set_weight(m, name, compress_weight(weight_numpy(model, name), 3, 0.5).weight)
    want = kl_rows(ref, m(torch.from_numpy(X)).detach().numpy()).mean()
    assert sens.option(name, (3, 0.5)).sensitivity == pytest.approx(want, rel=1e-4, abs=1e-9)


def test_hutchinson_trace_matches_the_exact_hessian_trace(model_and_windows):
    import torch

    model, X = model_and_windows
    xb = torch.from_numpy(X[:64])
    tr = hutchinson_traces(model, X[:64], probes=64, batch_size=64)
    assert set(tr) == {li.name for li in discover_layers(model)}
    # exact trace for the head (36 weights): one Hessian-vector product per unit vector
    w = model.head.fc.weight
    with torch.no_grad():
        p0 = torch.softmax(model(xb), dim=1)
    loss = -(p0 * torch.log_softmax(model(xb), dim=1)).sum()
    (g,) = torch.autograd.grad(loss, [w], create_graph=True)
    exact = 0.0
    for i in range(w.numel()):
        e = torch.zeros(w.numel())
        e[i] = 1.0
        (h,) = torch.autograd.grad(g, [w], grad_outputs=e.view_as(w), retain_graph=True)
        exact += float(h.reshape(-1)[i])
    exact /= 64
    assert exact > 0
    assert tr["head.fc"] == pytest.approx(exact, rel=0.3)
    sens = measure(model, X[:64], "hutchinson", bits=(2, 8), sparsities=(0.0,))
    for v in sens.options.values():
        by = {o.choice: o.sensitivity for o in v}
        assert by[(2, 0.0)] >= by[(8, 0.0)] >= 0.0


def test_layer_macs_match_count_macs(model_and_windows):
    import torch

    from ecg_edge.models.registry import count_macs

    model, X = model_and_windows
    per = layer_macs(model, X.shape[1], X.shape[2])
    assert sum(per.values()) == count_macs(model, torch.zeros(1, X.shape[1], X.shape[2]))


def _opts():
    return {"a": [Option((2, 0.0), 40, 1.0, 100), Option((8, 0.0), 160, 0.0, 100), Option((8, 0.5), 100, 0.2, 50)],
            "b": [Option((2, 0.0), 20, 0.5, 80), Option((8, 0.0), 80, 0.0, 80), Option((4, 0.5), 20, 0.6, 40)]}


def test_allocate_bytes_then_macs():
    opts = _opts()
    assert allocate(opts, Budget(240)) == {"a": (8, 0.0), "b": (8, 0.0)}
    assert knapsack(opts, 120) == {"a": (8, 0.5), "b": (2, 0.0)}
    # 130 MACs: only (a: 50) + (b: 80) or (a: 100/50) + (b: 40) fit; the cheapest in sensitivity wins
    got = allocate(opts, Budget(240, max_macs=130))
    assert sum(next(o.macs for o in opts[n] if o.choice == c) for n, c in got.items()) <= 130
    assert got == {"a": (8, 0.5), "b": (8, 0.0)}
    with pytest.raises(EcgEdgeError, match="MAC budget 60"):
        allocate(opts, Budget(240, max_macs=60))
    with pytest.raises(EcgEdgeError, match="byte budget 30"):
        allocate(opts, Budget(30))


def test_training_windows_seeded_subset():
    X = np.arange(30 * 2 * 4, dtype=np.float32).reshape(30, 2, 4)
    a, b = training_windows(X, 10, seed=1), training_windows(X, 10, seed=1)
    assert a.shape == (10, 2, 4) and np.array_equal(a, b)
    assert training_windows(X, 100).shape == (30, 2, 4)
