from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import HubertConfig, HubertModel

from ecg_edge.errors import ModelFormatError
from ecg_edge.models.hubert_checkpoint import load_hubert_ecg_dir

HF = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
          conv_dim=[16, 16, 16, 16, 16], conv_kernel=[10, 3, 3, 2, 2], conv_stride=[4, 2, 2, 2, 2],
          conv_bias=False, feat_extract_norm="group", feat_extract_activation="gelu",
          num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4, classifier_proj_size=24,
          mask_time_prob=0.33, do_stable_layer_norm=False)


def write_reference_checkpoint(root: Path, prefix: str = "", drop: tuple[str, ...] = ()) -> HubertModel:
    """A checkpoint in the published HuBERT-ECG layout, written by transformers' own HubertModel
    (weight-normed positional conv), plus the pretraining heads."""
    torch.manual_seed(1)
    ref = HubertModel(HubertConfig(**HF)).eval()
    tensors = {f"{prefix}{k}": v.contiguous() for k, v in ref.state_dict().items() if k not in drop}
    tensors["final_proj.0.weight"] = torch.randn(24, 32)
    tensors["final_proj.0.bias"] = torch.randn(24)
    tensors["label_embedding.0.weight"] = torch.randn(100, 24)
    root.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(root / "model.safetensors"))
    (root / "config.json").write_text(json.dumps({**HF, "model_type": "hubert_ecg", "ensemble_length": 1,
                                                  "vocab_sizes": [100], "architectures": ["HuBERTECG"]}))
    return ref


@pytest.mark.parametrize("prefix", ["", "hubert_ecg.", "hubert."])
def test_loads_reference_checkpoint_with_identical_encoder_output(tmp_path, prefix):
    ref = write_reference_checkpoint(tmp_path / "ck", prefix)
    model, report = load_hubert_ecg_dir(tmp_path / "ck", n_classes=3, in_leads=12, n_samples=5000,
                                        fs=500.0, verbose=False)
    assert report.missing == ["classifier.bias", "classifier.weight"]
    assert any("final_proj.0.weight" in u for u in report.unused)
    assert any("label_embedding.0.weight" in u for u in report.unused)
    assert any("masked_spec_embed" in u for u in report.unused)
    assert report.folded and report.vocab_sizes == [100]
    model.eval()
    x = torch.randn(2, 12, 5000)
    seq = model.adapter(x)
    with torch.no_grad():
        want = ref(seq).last_hidden_state
        got = model.encode(x)
    assert got.shape == (2, 93, 32)
    assert (model.cfg.window_s, model.cfg.target_fs) == (5.0, 100.0)  # the published input, not our defaults
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert model(x).shape == (2, 3)
    text = str(report)
    assert "2 missing" in text and "unused: final_proj.0.weight" in text


def test_missing_tensors_reported(tmp_path, capsys):
    write_reference_checkpoint(tmp_path / "ck", drop=("encoder.layers.1.attention.q_proj.weight",))
    model, report = load_hubert_ecg_dir(tmp_path / "ck", n_classes=2, verbose=True, size="tiny", dropout=0.3)
    assert model.cfg.hidden_size == 32 and model.cfg.dropout == 0.3  # the checkpoint's dims win over size
    assert "hubert.encoder.layers.1.attention.q_proj.weight" in report.missing
    assert "missing (kept initialised): hubert.encoder.layers.1.attention.q_proj.weight" in capsys.readouterr().err


def test_model_type_mismatch_is_clear(tmp_path):
    write_reference_checkpoint(tmp_path / "ck")
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    (tmp_path / "ck" / "config.json").write_text(json.dumps({**cfg, "model_type": "wav2vec2"}))
    with pytest.raises(ModelFormatError, match="model_type is 'wav2vec2'; expected 'hubert_ecg'"):
        load_hubert_ecg_dir(tmp_path / "ck", n_classes=2)


@pytest.mark.parametrize("text,match", [
    ("{not json", "malformed JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"model_type": "hubert_ecg", "hidden_size": "big", "num_hidden_layers": 2, '
     '"num_attention_heads": 4, "intermediate_size": 64}', "'hidden_size' is 'big'"),
    ('{"model_type": "hubert_ecg", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, '
     '"intermediate_size": 64, "ensemble_length": 2, "vocab_sizes": [100]}', "ensemble_length 2"),
])
def test_malformed_config_is_clear(tmp_path, text, match):
    write_reference_checkpoint(tmp_path / "ck")
    (tmp_path / "ck" / "config.json").write_text(text)
    with pytest.raises(ModelFormatError, match=match):
        load_hubert_ecg_dir(tmp_path / "ck", n_classes=2)


def test_weights_disagreeing_with_config_and_missing_files(tmp_path):
    write_reference_checkpoint(tmp_path / "ck")
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    (tmp_path / "ck" / "config.json").write_text(json.dumps({**cfg, "intermediate_size": 48}))
    with pytest.raises(ModelFormatError, match="config.json and weights disagree"):
        load_hubert_ecg_dir(tmp_path / "ck", n_classes=2)
    (tmp_path / "ck" / "model.safetensors").unlink()
    (tmp_path / "ck" / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelFormatError, match="pickled weights are not loaded"):
        load_hubert_ecg_dir(tmp_path / "ck", n_classes=2)
    with pytest.raises(ModelFormatError, match="not a folder"):
        load_hubert_ecg_dir(tmp_path / "nope", n_classes=2)
