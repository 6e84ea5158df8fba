from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ecg_edge.cli import main as cli_main
from ecg_edge.errors import EcgEdgeError
from ecg_edge.models.hubert_checkpoint import load_hubert_ecg_dir
from ecg_edge.models.hubert_ecg import HubertECGConfig
from ecg_edge.train.pretrain import PretrainConfig, adapt_windows, pretrain, span_mask
from ecg_edge.train.pretrain_targets import frame_features, kmeans, receptive_field
from tests.models.hubert_fixtures import make_toy_dataset

SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
         "conv_dim": 16, "classifier_proj_size": 16, "num_conv_pos_embeddings": 4,
         "num_conv_pos_embedding_groups": 2, "hidden_dropout": 0.0, "attention_dropout": 0.0,
         "activation_dropout": 0.0, "window_s": 5.0, "target_fs": 100.0}  # 7 frames: fast


def _cfg(tmp_path, data, **kw):
    base = dict(data=[str(d) for d in data], out=str(tmp_path / "pt"), clusters=6, epochs=3, iterations=1,
                lr=3e-3, batch_size=16, model_overrides=SMALL)
    base.update(kw)
    return PretrainConfig(**base)


def test_kmeans_deterministic_and_separates_blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10]], dtype=np.float64)
    x = np.concatenate([c + rng.standard_normal((50, 2)) for c in centers]).astype(np.float32)
    a, b = kmeans(x, 3, seed=5), kmeans(x, 3, seed=5)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    lab = a.assign(x)
    assert len({tuple(np.unique(lab[i * 50:(i + 1) * 50])) for i in range(3)}) == 3
    assert all(len(np.unique(lab[i * 50:(i + 1) * 50])) == 1 for i in range(3))
    with pytest.raises(ValueError, match="at least k"):
        kmeans(x[:2], 3)


def test_frame_features_follow_transformer_frames():
    cfg = HubertECGConfig(in_leads=1)
    assert receptive_field(cfg) == 82
    f = frame_features(np.random.default_rng(0).standard_normal((4, cfg.sequence_length)), cfg)
    assert f.shape[:2] == (4, cfg.frames) and np.isfinite(f).all()


def test_span_mask_probability_and_determinism():
    m1 = span_mask(64, 93, 0.33, 1, torch.Generator().manual_seed(0))
    m2 = span_mask(64, 93, 0.33, 1, torch.Generator().manual_seed(0))
    assert torch.equal(m1, m2)
    assert (m1.sum(1) == round(0.33 * 93)).all()
    assert (span_mask(8, 7, 0.33, 3, torch.Generator().manual_seed(1)).sum(1) >= 3).all()


def test_adapt_windows_splits_leads_for_single_lead_encoder(tmp_path):
    ds = make_toy_dataset(tmp_path / "d2", n=8, leads=2)
    X, _ = ds.split("train")
    five_s = {"window_s": 5.0, "target_fs": 100.0}
    assert adapt_windows(X, ds.manifest.fs, ds.manifest.n_samples, 1, adapter_cfg=five_s).shape == (16, 500)
    assert adapt_windows(X, ds.manifest.fs, ds.manifest.n_samples, 2, adapter_cfg=five_s).shape == (8, 1000)
    # the rate is the encoder's too, not only the window (the defaults: 10.24 s at 200 Hz)
    assert adapt_windows(X, ds.manifest.fs, ds.manifest.n_samples, 1,
                         adapter_cfg={"window_s": 5.0, "target_fs": 200.0}).shape == (16, 1000)
    assert adapt_windows(X, ds.manifest.fs, ds.manifest.n_samples, 1).shape == (16, 2048)


def test_pretraining_loss_decreases_and_encoder_loads(tmp_path):
    d1 = make_toy_dataset(tmp_path / "a", n=48, seed=0)
    d2 = make_toy_dataset(tmp_path / "b", n=16, leads=2, fs=360.0, samples=1800, seed=1)
    cfg = _cfg(tmp_path, [d1.root, d2.root], epochs=5, iterations=2)
    s = pretrain(cfg, log=lambda _m: None)
    it1 = [h for h in s["history"] if h["iteration"] == 1]
    assert it1[-1]["train_loss"] < it1[0]["train_loss"] - 0.1
    assert s["train_sequences"] == 48 + 2 * 16
    assert s["clusters"]["2"]["source"].startswith("hidden states of transformer layer")
    model, report = load_hubert_ecg_dir(tmp_path / "pt" / "encoder", n_classes=2, in_leads=1,
                                        n_samples=1250, fs=250.0, verbose=False)
    assert report.missing == ["classifier.bias", "classifier.weight"]
    assert {u.split(" ")[0] for u in report.unused} == {"final_proj.0.bias", "final_proj.0.weight",
                                                        "label_embedding.0.weight", "masked_spec_embed"}
    assert model(torch.randn(2, 1, 1250)).shape == (2, 2)
    assert json.loads((tmp_path / "pt" / "pretrain.json").read_text())["history"]


class _Stop(Exception):
    pass


def test_resume_reproduces_uninterrupted_run(tmp_path):
    d = make_toy_dataset(tmp_path / "a", n=24)
    full = pretrain(_cfg(tmp_path, [d.root], out=str(tmp_path / "full"), epochs=2, iterations=2),
                    log=lambda _m: None)

    def stop(iteration: int, epoch: int) -> None:
        if (iteration, epoch) == (2, 1):
            raise _Stop

    part = _cfg(tmp_path, [d.root], out=str(tmp_path / "part"), epochs=2, iterations=2)
    with pytest.raises(_Stop):
        pretrain(part, log=lambda _m: None, on_epoch_end=stop)
    with pytest.raises(EcgEdgeError, match="different settings"):
        pretrain(_cfg(tmp_path, [d.root], out=str(tmp_path / "part"), epochs=2, iterations=2, clusters=5),
                 resume=True, log=lambda _m: None)
    resumed = pretrain(part, resume=True, log=lambda _m: None)
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in full["history"]]
    from safetensors.torch import load_file
    a = load_file(str(tmp_path / "full" / "encoder" / "model.safetensors"))
    b = load_file(str(tmp_path / "part" / "encoder" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_cli_pretrain_and_bad_input(tmp_path, capsys):
    d = make_toy_dataset(tmp_path / "a", n=16)
    rc = cli_main(["pretrain", "--data", str(d.root), "--out", str(tmp_path / "o"), "--clusters", "4",
                   "--epochs", "1", "--iterations", "1", "--mask-prob", "0.33", "--size", "tiny",
                   "--window-s", "5", "--hubert-set", "target_fs=100"])
    assert rc == 0
    ours = json.loads((tmp_path / "o" / "encoder" / "config.json").read_text())["ecg_edge"]
    assert (ours["window_s"], ours["target_fs"]) == (5.0, 100)  # fine-tuning takes the encoder's input over
    assert cli_main(["pretrain", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o2")]) == 2
    assert cli_main(["pretrain", "--data", str(d.root), "--out", str(tmp_path / "o3"), "--mask-prob", "1.5"]) == 2
    assert cli_main(["pretrain", "--data", str(d.root), "--out", str(tmp_path / "o4"), "--hubert-set", "fs=1"]) == 2
    err = capsys.readouterr().err
    assert "not a folder" in err and "'--mask-prob': '1.5'" in err and "--hubert-set 'fs=1'" in err
