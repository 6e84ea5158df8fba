"""HuBERT-ECG lowering: the export graph computes what PyTorch computes (same quantized
weights), and its model.bin runs byte-identically in numpy and the host C runtime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecg_edge.modelbin import executor
from ecg_edge.modelbin.graph import float_forward
from ecg_edge.modelbin.hubert_graph import adapt_inputs, build_hubert_graph
from ecg_edge.modelbin.layout import OP_CONV1D, OP_LINEAR
from ecg_edge.modelbin.packer import pack
from ecg_edge.modelbin.reader import read_model
from ecg_edge.models.hubert_ecg import HubertECG
from ecg_edge.numerics import quantize_activation
from tests.tinydata import HUBERT_SMALL as SMALL
from tests.tinydata import hubert_checkpoint, small_hubert
from tests.tinydata import hubert_windows as _windows


@pytest.fixture(scope="module")
def small_model() -> HubertECG:
    return small_hubert()


def test_graph_equals_torch_with_the_same_weights(small_model: HubertECG) -> None:
    g = build_hubert_graph(small_model, None)
    X = _windows(0, 3)
    got = float_forward(g, adapt_inputs(small_model, X))[g.output].reshape(3, -1)
    model = HubertECG(small_model.cfg).eval()
    model.load_state_dict(small_model.state_dict())
    mods = dict(model.named_modules())
    with torch.no_grad():  # give the torch model the graph's dequantized levels
        for n in g.nodes:
            if n.op not in (OP_CONV1D, OP_LINEAR):  # norms: levels * scale is gamma already
                continue
            mod, w = mods[n.name], n.weights
            deq = torch.as_tensor(w.levels.astype(np.float64) * w.scale[:, None])
            if isinstance(mod, torch.nn.Conv1d):
                c, cig, k = mod.weight.shape
                mod.weight.copy_(deq.reshape(c, k, cig).transpose(1, 2))
            else:
                mod.weight.copy_(deq)
        want = model(torch.as_tensor(X, dtype=torch.float32)).double().numpy()
    assert np.abs(got - want).max() < 1e-4 * max(1.0, np.abs(want).max())


def test_packed_hubert_runs_identically_in_numpy_and_c(small_model: HubertECG) -> None:
    from ecg_edge.runtime import CRuntime

    ck = hubert_checkpoint(small_model)
    res = pack(ck, None, _windows(1, 16))
    mb = read_model(res.data)
    assert mb.version == 3  # GELU as LUT tables
    assert {op.name for op in mb.ops} >= {"LUT", "GROUPNORM", "LAYERNORM", "SOFTMAX", "MATMUL"}
    assert "GELU" not in {op.name for op in mb.ops}
    t = mb.tensors[mb.input_tensor]
    Xq = quantize_activation(adapt_inputs(small_model, _windows(2, 6)), t.scale, t.zero_point)
    y = executor.run(mb, Xq)
    assert np.array_equal(y, CRuntime(res.data).invoke_batch(Xq))
    assert len(np.unique(y)) > 3
    # the input adapter recorded in META: dataset windows quantize to the same int8 sequence
    assert executor.window_shape(mb) == (1, SMALL["n_samples"])
    assert np.array_equal(executor.quantize_inputs(mb, _windows(2, 6)), Xq)


def test_gelu_lut_is_the_rounded_function_and_clipping_moves_no_output() -> None:
    from ecg_edge.modelbin.intops import _gelu, gelu_input_floor, lut_table

    for s_in, zp_in, s_out, zp_out in ((0.05, 10, 0.03, -120), (0.0123, -3, 0.0101, -111), (0.2, 0, 0.1, -126)):
        q = np.arange(-128, 128)
        t = lut_table("gelu", s_in, zp_in, s_out, zp_out).astype(np.int64)
        want = _gelu((q - zp_in) * s_in)
        got = (t - zp_out) * s_out
        inside = (t > -128) & (t < 127)
        assert np.all(np.abs(got - want)[inside] <= s_out / 2 + 1e-12)
        lo = gelu_input_floor(s_out)
        assert abs(float(_gelu(np.array(lo)))) < s_out / 8 and lo <= -1.0
        xs = np.linspace(lo - 30, lo, 200)  # everything below the floor is within s_out / 8 of gelu(lo)
        assert np.all(np.abs(_gelu(xs) - _gelu(np.array(lo))) < s_out / 8)


def test_calibration_raises_only_gelu_only_inputs(small_model: HubertECG) -> None:
    from ecg_edge.modelbin.calibrate import gelu_input_ranges, tensor_ranges
    from ecg_edge.modelbin.layout import OP_LUT

    g = build_hubert_graph(small_model, None)
    raw = tensor_ranges(g, adapt_inputs(small_model, _windows(3, 8)))
    got = gelu_input_ranges(g, raw)
    gelu_in = {n.inputs[0] for n in g.nodes if n.op == OP_LUT}
    readers = {i: [n.op for n in g.nodes if i in n.inputs] for i in range(len(g.tensors))}
    for i, (r, c) in enumerate(zip(raw, got, strict=True)):
        if i in gelu_in and set(readers[i]) == {OP_LUT}:
            assert c[1] == r[1] and c[0] >= r[0]
        else:
            assert c == r
    assert any(c[0] > r[0] for r, c in zip(raw, got, strict=True))  # some range really tightened


def test_mse_calibration_clips_rare_outliers_only() -> None:
    from ecg_edge.modelbin.calibrate import activation_qparams, mse_range

    rng = np.random.default_rng(0)
    flat = rng.uniform(-1.0, 1.0, 50_000)  # no outliers: (about) the min/max grid
    lo, hi = mse_range(flat, float(flat.min()), float(flat.max()))
    assert lo < -0.99 and hi > 0.99
    heavy = np.concatenate([rng.normal(0, 0.3, 50_000), [25.0, -18.0]])  # two huge values
    lo, hi = mse_range(heavy, float(heavy.min()), float(heavy.max()))
    assert lo > -18.0 and hi < 25.0

    def err(r: tuple[float, float]) -> float:
        s, z = activation_qparams(*r)
        q = np.clip(np.round(heavy / s) + z, -128, 127)
        return float(np.mean(((q - z) * s - heavy) ** 2))

    assert err((lo, hi)) < err((float(heavy.min()), float(heavy.max())))


def test_hubert_graph_calibrates_by_mse_and_cnns_by_minmax(small_model: HubertECG) -> None:
    from ecg_edge.modelbin.golden import build_transformer_graph

    assert build_hubert_graph(small_model, None).calib_method == "mse"
    assert build_transformer_graph(0).calib_method == "minmax"


def test_simulated_duty_cycle_window_is_the_dataset_window(small_model: HubertECG) -> None:
    """One inference covers the adapter's dataset window (8 s here), not the adapted sequence."""
    from ecg_edge.sim.api import window_seconds

    data = pack(hubert_checkpoint(small_model), None, _windows(1, 4)).data
    assert window_seconds(data) == SMALL["n_samples"] / SMALL["fs"]
