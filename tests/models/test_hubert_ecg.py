from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ecg_edge.models.hubert_ecg import (
    SIZES,
    HubertECG,
    HubertECGConfig,
    HubertInputAdapter,
    attention_macs,
    sinc_resample_matrix,
)
from ecg_edge.models.registry import build_model, count_macs

PAPER_INPUT = dict(window_s=5.0, target_fs=100.0)  # HuBERT-ECG's own: 5 s at 100 Hz


@pytest.mark.parametrize("size,hidden,layers,heads,ffn", [
    ("small", 512, 8, 8, 2048), ("base", 768, 12, 12, 3072), ("large", 960, 16, 12, 3840)])
def test_paper_sizes_config_numbers(size, hidden, layers, heads, ffn):
    cfg = HubertECGConfig(size=size, in_leads=12, n_samples=5000, fs=500, **PAPER_INPUT)
    hf = cfg.hf_config()
    assert (hf.hidden_size, hf.num_hidden_layers, hf.num_attention_heads, hf.intermediate_size) == (
        hidden, layers, heads, ffn)
    assert list(hf.conv_kernel) == [10, 3, 3, 2, 2] and list(hf.conv_stride) == [4, 2, 2, 2, 2]
    assert hf.feat_extract_norm == "group" and hf.feat_extract_activation == "gelu"
    assert list(hf.conv_dim) == [512] * 5
    # 12 leads x 5 s at 100 Hz = 6000 samples -> 93 frames
    assert cfg.sequence_length == 6000 and cfg.frames == 93


def test_tiny_forward_single_and_twelve_lead():
    torch.manual_seed(0)
    for leads, fs, n in ((1, 500.0, 5120), (12, 500.0, 5000), (1, 360.0, 1800)):
        cfg = HubertECGConfig(in_leads=leads, n_samples=n, fs=fs, n_classes=3)
        m = HubertECG(cfg).eval()
        out = m(torch.randn(2, leads, n))
        assert out.shape == (2, 3) and torch.isfinite(out).all()
        assert m.encode(torch.randn(2, leads, n)).shape == (2, cfg.frames, SIZES["tiny"]["hidden_size"])
    assert HubertECGConfig(in_leads=1).frames == 31  # 10.24 s at 200 Hz
    assert HubertECGConfig(in_leads=1, **PAPER_INPUT).frames == 7


def test_registry_builds_and_layers_are_visible():
    m = build_model("hubert_ecg", {"in_leads": 1, "n_samples": 2500, "fs": 500.0, "n_classes": 4, **PAPER_INPUT})
    names = {n for n, mod in m.named_modules() if isinstance(mod, (nn.Conv1d, nn.Linear))}
    for k in range(5):
        assert f"hubert.feature_extractor.conv_layers.{k}.conv" in names
    for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
        assert f"hubert.encoder.layers.0.attention.{p}" in names
    assert {"hubert.encoder.layers.2.feed_forward.intermediate_dense", "hubert.feature_projection.projection",
            "hubert.encoder.pos_conv_embed.conv", "classifier"} <= names
    # weight norm folded away: the positional conv has an ordinary weight parameter
    assert "hubert.encoder.pos_conv_embed.conv.weight" in dict(m.named_parameters())
    # the adapter's resampling matrix is recomputed, not stored
    assert not any(k.startswith("adapter") for k in m.state_dict())
    assert count_macs(m, torch.zeros(1, 1, 2500)) > 0 and attention_macs(m.cfg) == 2 * 7 * 7 * 96 * 3


def test_adapter_bandpass_decimation_and_scaling():
    cfg = HubertECGConfig(in_leads=2, n_samples=5000, fs=500.0, **PAPER_INPUT)
    ad = HubertInputAdapter(cfg)
    t = torch.arange(5000) / 500.0
    slow = torch.sin(2 * np.pi * 5 * t)  # in band
    fast = torch.sin(2 * np.pi * 120 * t)  # above 47 Hz: removed
    x = torch.stack([slow + 3.0, slow + fast])[None]  # DC offset on lead 0 is removed too
    y = ad(x).reshape(2, 500)
    assert y.shape == (2, 500)
    assert torch.allclose(y.amax(1), torch.ones(2), atol=1e-4) and torch.allclose(y.amin(1), -torch.ones(2), atol=1e-4)
    ref = torch.sin(2 * np.pi * 5 * torch.arange(500) / 100.0)
    core = slice(40, 460)  # away from the window edges
    assert torch.corrcoef(torch.stack([y[0, core], ref[core]]))[0, 1] > 0.999
    assert torch.corrcoef(torch.stack([y[1, core], ref[core]]))[0, 1] > 0.99
    # short records are zero-padded to the 5 s window
    short = HubertInputAdapter(HubertECGConfig(in_leads=1, n_samples=1000, fs=500.0, **PAPER_INPUT))
    assert short(torch.randn(3, 1, 1000)).shape == (3, 500)
    assert HubertInputAdapter(HubertECGConfig(in_leads=1, n_samples=1000, fs=500.0))(
        torch.randn(3, 1, 1000)).shape == (3, 2048)  # the default 10.24 s at 200 Hz


def test_resample_matrix_unit_dc_gain():
    m = sinc_resample_matrix(1800, 360.0, 500, 100.0, 47.0, 0.2)
    assert m.shape == (1800, 500)
    assert torch.allclose(m.sum(0), torch.ones(500), atol=1e-5)


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="size"):
        HubertECGConfig(size="huge")
    with pytest.raises(ValueError, match="divisible"):
        HubertECGConfig(hidden_size=100, num_attention_heads=3)
    m = HubertECG(HubertECGConfig(in_leads=1, n_samples=500, fs=100.0))
    with pytest.raises(ValueError, match="expected input"):
        m(torch.randn(1, 2, 500))


def test_exports_to_onnx_with_same_logits(tmp_path):
    import onnxruntime as ort

    torch.manual_seed(0)
    m = HubertECG(HubertECGConfig(in_leads=1, n_samples=2560, fs=250.0)).eval()
    x = torch.randn(2, 1, 2560)
    torch.onnx.export(m, (x,), str(tmp_path / "h.onnx"), dynamo=False, input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "n"}}, opset_version=17)
    got = ort.InferenceSession(str(tmp_path / "h.onnx")).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, m(x).detach().numpy(), atol=1e-5)
