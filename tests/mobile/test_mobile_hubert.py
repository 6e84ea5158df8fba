"""HuBERT-ECG ONNX: fp32 matches PyTorch; the weight-only MatMulNBits model matches PyTorch
carrying the same quantized weights, at each storage width."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
import torch

from ecg_edge.layerplan.masks import layer_mask
from ecg_edge.layerplan.plan import CompressionPlan, LayerPlan
from ecg_edge.mobile.hubert_export import export_hubert_onnx, pack_nbits
from ecg_edge.mobile.runners import OrtRunner
from ecg_edge.numerics import quantize_weight_channels


@pytest.fixture(scope="module")
def hubert():
    from tests.tinydata import hubert_checkpoint, hubert_windows, small_hubert

    m = small_hubert()
    return m, hubert_checkpoint(m), hubert_windows(1, 6).astype(np.float32)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_pack_nbits_layout(bits):
    rng = np.random.default_rng(bits)
    q = rng.integers(0, 1 << bits, size=(3, 40)).astype(np.uint8)
    packed = pack_nbits(q, bits, 32)
    assert packed.shape == (3, 2, 32 * bits // 8)
    per = 8 // bits
    flat = packed.reshape(3, -1)
    decoded = np.stack([(flat >> (bits * j)) & ((1 << bits) - 1) for j in range(per)], axis=-1).reshape(3, -1)
    np.testing.assert_array_equal(decoded[:, :40], q)
    assert (decoded[:, 40:] == 1 << (bits - 1)).all()  # padding decodes to level 0


def test_hubert_fp32_and_matmulnbits_match_torch(hubert, tmp_path):
    m, ck, x = hubert
    fp = export_hubert_onnx(ck, None, tmp_path / "fp32.onnx")
    with torch.no_grad():
        ref = m(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(OrtRunner(tmp_path / "fp32.onnx").predict(x), ref, atol=1e-4)

    lin = [n for n, mod in m.named_modules() if isinstance(mod, torch.nn.Linear)]
    plan = CompressionPlan("laq", "x", [LayerPlan(n, bits=[2, 4, 8, 3][i % 4], sparsity=0.2) for i, n in enumerate(lin)])
    info = export_hubert_onnx(ck, plan, tmp_path / "nb.onnx", weight_only=True)
    model = onnx.load(tmp_path / "nb.onnx")
    assert sum(n.op_type == "MatMulNBits" for n in model.graph.node) == len(lin)
    assert info.bytes < fp.bytes
    assert any("3-bit plan stored at 4 bits" in n for n in info.notes)
    mq = copy.deepcopy(m)
    for n, mod in mq.named_modules():
        if isinstance(mod, torch.nn.Linear):
            lp = plan.layer(n)
            w = mod.weight.detach().double().numpy()
            lv, sc = quantize_weight_channels(w, lp.bits, mask=layer_mask(w, lp.sparsity))
            mod.weight.data = torch.as_tensor(lv * sc[:, None]).float()
    with torch.no_grad():
        ref_q = mq(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(OrtRunner(tmp_path / "nb.onnx").predict(x), ref_q, atol=1e-4)
