"""TFLite int8 exports run in LiteRT and in TFLite Micro; LUT compression runs in TFLite Micro
and decodes to the very same weights; ops a format cannot express are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecg_edge.checkpoint import Checkpoint
from ecg_edge.errors import EcgEdgeError
from ecg_edge.mobile.common import UnsupportedOpError
from ecg_edge.mobile.runners import LiteRTRunner, TFLMRunner
from ecg_edge.mobile.tflite_export import check_alignment, export_tflite

from .conftest import model_bin_logits, to_steps


@pytest.fixture(scope="module")
def int8_file(tiny, tmp_path_factory):
    p = tmp_path_factory.mktemp("tfl") / "m.tflite"
    export_tflite(tiny.ckpt, tiny.plan, p, tiny.calib)
    return p


def test_tflite_runs_in_litert_and_tflm(tiny, int8_file):
    check_alignment(int8_file.read_bytes())
    mb, ours = model_bin_logits(tiny.ckpt, tiny.plan, tiny.calib, tiny.X)
    lite = to_steps(LiteRTRunner(int8_file).predict(tiny.X), mb)
    tflm_runner = TFLMRunner(int8_file)
    micro = to_steps(tflm_runner.predict(tiny.X), mb)
    # Both interpreters run the same int8 graph; they differ by rounding steps only.
    assert np.abs(lite - micro).max() <= 5
    assert np.abs(lite - ours).max() <= 1
    assert (lite.argmax(1) == ours.argmax(1)).mean() >= 0.9
    rep = tflm_runner.arena_report()
    assert rep["total"] >= rep["head"] > 0


def test_lut_compression_runs_in_tflm_and_is_lossless(tiny, int8_file, tmp_path):
    info = export_tflite(tiny.ckpt, tiny.plan, tmp_path / "lut.tflite", tiny.calib, lut_compress=True)
    assert info.bytes < int8_file.stat().st_size
    assert any(v.startswith("lut") for v in info.layer_storage.values())
    a = TFLMRunner(int8_file).predict(tiny.X)
    b = TFLMRunner(tmp_path / "lut.tflite").predict(tiny.X)
    np.testing.assert_array_equal(a, b)


def test_weights_in_tflite_are_the_model_bin_levels(tiny, int8_file):
    """Every filter holds the levels model.bin's weight blocks decode to (plan bits, pruned 0)."""
    from tflite_micro.tensorflow.lite.micro.compression import model_editor as me

    sg = me.read(int8_file.read_bytes()).subgraphs[0]
    by_name = {t.name: t for t in sg.tensors}
    mb, _ = model_bin_logits(tiny.ckpt, tiny.plan, tiny.calib, tiny.X[:1])
    weighted = [(name, op) for name, op in zip(mb.meta["op_names"], mb.ops, strict=True) if op.block is not None]
    assert len(weighted) == len(by_name.keys() & {f"{n}/filter" for n, _ in weighted}) == 10
    for name, op in weighted:
        arr = by_name[f"{name}/filter"].array
        np.testing.assert_array_equal(arr.reshape(arr.shape[0], -1), op.block.levels)


def test_dilated_conv_is_translated(tiny, tmp_path):
    from ecg_edge.models import build_model

    torch.manual_seed(1)
    m = build_model("resnet1d", {"n_samples": 256, "widths": [8], "strides": [1], "stem_channels": 8})
    m.blocks[0].conv1 = torch.nn.Conv1d(8, 8, 7, padding=6, dilation=2, bias=False)
    m.eval()
    ck = Checkpoint("resnet1d", m.cfg.to_dict(), m.state_dict(), list(tiny.ckpt.classes), dict(tiny.ckpt.data))
    mb, ours = model_bin_logits(ck, None, tiny.calib, tiny.X)
    export_tflite(ck, None, tmp_path / "d.tflite", tiny.calib)
    assert np.abs(to_steps(LiteRTRunner(tmp_path / "d.tflite").predict(tiny.X), mb) - ours).max() <= 1


def test_untranslatable_node_is_named():
    from ecg_edge.mobile.common import check_translatable
    from ecg_edge.mobile.tflite_export import FMT, TRANSLATIONS, tflite_limits
    from ecg_edge.modelbin.graph import build_graph
    from ecg_edge.models import build_model

    m = build_model("resnet1d", {"n_samples": 256, "widths": [8], "strides": [1], "stem_channels": 8})
    m.blocks[0].conv1 = torch.nn.Conv1d(8, 8, 7, padding=3, groups=2, bias=False)
    with pytest.raises(UnsupportedOpError, match=r"CONV1D\(groups=2\).*blocks\.0\.conv1.*TFLite"):
        check_translatable(build_graph("resnet1d", m, None), FMT, TRANSLATIONS, tflite_limits)
    m = build_model("resnet1d", {"n_samples": 256, "widths": [8], "strides": [1], "stem_pool": 0})
    m.pool = torch.nn.MaxPool1d(3, stride=2, padding=1)  # a padded pool on the stem's pre-ReLU output
    g = build_graph("resnet1d", m, None)
    g.nodes[0].relu = False
    with pytest.raises(UnsupportedOpError, match=r"padded MAXPOOL1D.*'pool'"):
        check_translatable(g, FMT, TRANSLATIONS, tflite_limits)
    m = build_model("resnet1d", {"n_samples": 256, "widths": [8], "strides": [1]})
    m.dropout = torch.nn.GELU()  # swapped in after construction: not a module the lowering reads
    with pytest.raises(EcgEdgeError, match=r"'dropout'.*'GELU'"):
        build_graph("resnet1d", m, None)


def test_transformer_checkpoint_refused_by_int8_lowering(tiny, tmp_path):
    from ecg_edge.models import build_model

    hub = build_model("hubert_ecg", {"size": "tiny"})
    ck = Checkpoint("hubert_ecg", {"size": "tiny"}, hub.state_dict(), ["a", "b"], {"leads": 1, "n_samples": 256})
    with pytest.raises(UnsupportedOpError, match="TFLite"):
        export_tflite(ck, None, tmp_path / "h.tflite", tiny.calib)
    assert not (tmp_path / "h.tflite").exists()
