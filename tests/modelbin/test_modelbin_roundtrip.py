"""Packer -> reader round trip: the graph, BN folding, plan application and metadata survive."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch
from torch import nn

from ecg_edge.layerplan.plan import CompressionPlan, LayerPlan, nominal_cr
from ecg_edge.modelbin.graph import (
    build_resnet1d_graph,
    fake_quant_model,
    float_forward,
    quantize_layer,
)
from ecg_edge.modelbin.layout import OP_NAMES
from ecg_edge.modelbin.packer import pack
from ecg_edge.modelbin.reader import read_model
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.numerics import quantize_weight_channels

from .conftest import make_checkpoint


def _plan(model: nn.Module, bits: int, sparsity: float) -> CompressionPlan:
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Linear))]
    return CompressionPlan("laq", "cortex-m4", [LayerPlan(n, bits, sparsity) for n in names])


@pytest.mark.parametrize("cfg", [{}, {"head": "flatten", "stem_pool": 0, "post_add_relu": True, "in_leads": 2}])
def test_graph_float_forward_equals_fake_quant_torch(cfg: dict) -> None:
    """BN folding into channel scales (negative gammas too), the [C][L] -> [L][C] flatten permutation and
    the plan's quantization reproduce the PyTorch fake-quant model exactly (up to float rounding)."""
    ck = make_checkpoint("unused", **cfg)
    model = model_from_checkpoint(ck)
    plan = _plan(model, 4, 0.3)
    g = build_resnet1d_graph(model, plan)
    X = np.random.default_rng(0).normal(size=(5, model.cfg.in_leads, 256))
    ours = float_forward(g, X.transpose(0, 2, 1))[g.output][:, 0, :]
    with torch.no_grad():
        ref = fake_quant_model(model_from_checkpoint(ck), plan)(torch.from_numpy(X).float()).double().numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_levels_equal_numerics_quantization(tiny_dataset) -> None:
    ck = make_checkpoint(tiny_dataset)
    model = model_from_checkpoint(ck)
    plan = _plan(model, 5, 0.0)
    res = pack(ck, plan, np.load(tiny_dataset / "X_train.npy"))
    mb = read_model(res.data)
    conv = model.blocks[0].conv1
    want, _ = quantize_weight_channels(conv.weight.detach().double().numpy(), 5)
    bn = model.blocks[0].bn1
    sign = np.sign(bn.weight.detach().numpy())[:, None, None]
    op = next(o for o in mb.ops if o.block is not None and o.block.span == 5 * 8 and o.in0 != 0)
    got = op.block.levels.reshape(8, 5, 8).transpose(0, 2, 1)  # [c][k][i] -> [c][i][k]
    assert np.array_equal(got, (want * sign).astype(np.int8))


def test_pack_read_roundtrip(tiny_dataset) -> None:
    ck = make_checkpoint(tiny_dataset)
    model = model_from_checkpoint(ck)
    res = pack(ck, _plan(model, 3, 0.6), np.load(tiny_dataset / "X_train.npy"))
    mb = read_model(res.data, "rt.bin")
    assert mb.file_size == res.device_size == len(mb.device_image) < len(res.data) == sum(res.sections.values())
    assert mb.host_trailer_bytes == res.sections["host_trailer"] and "plan" in mb.host_keys
    assert mb.arena_size == res.arena_bytes >= res.arena_lower_bound
    assert [OP_NAMES[o.op] for o in mb.ops] == [li.op for li in res.layers]
    assert mb.meta["classes"] == ck.classes and mb.meta["task"] == "chapman4"
    assert mb.meta["input_length"] == 256 and mb.meta["input_leads"] == 1
    assert mb.meta["fp32_param_bytes"] == 4 * sum(p.numel() for p in model.parameters())
    assert json.loads(mb.meta["plan"])["layers"]["blocks.1.conv2"] == {"bits": 3, "sparsity": 0.6}
    assert json.loads(mb.meta["preprocessing"]) == {"bandpass": [0.5, 40]}
    assert zlib.crc32(res.data[64:res.device_size]) == int.from_bytes(res.data[12:16], "little")
    for li, op in zip(res.layers, mb.ops, strict=True):
        if op.block is None:
            assert li.bytes == 0
            continue
        assert li.bits == op.block.bits == 3 and li.bytes == op.block.size
        assert abs(li.sparsity - (1 - op.block.nnz / op.block.levels.size)) < 1e-12 and li.nnz == op.block.nnz
        assert li.sparsity >= 0.55  # the plan's sparsity (percentile, linear interpolation)
    blocks = [op.block for op in mb.ops if op.block is not None]
    assert res.nominal_cr == 32 * sum(b.levels.size for b in blocks) / (3 * sum(b.nnz for b in blocks))
    for t in mb.tensors:
        assert t.arena_offset % 4 == 0
    # every section 16-aligned, the header's counts agree
    for s in mb.sections.values():
        assert s.offset % 16 == 0


def test_nominal_cr_counts_bits_times_non_zeros() -> None:
    assert nominal_cr([100, 50], [4, 32], [50, 25]) == 32 * 150 / (4 * 50 + 32 * 25)
    assert nominal_cr([10], [8], [10]) == 4.0 and nominal_cr([10], [1], [0]) == float("inf")


def test_existing_zeros_stay_pruned() -> None:
    w = np.random.default_rng(0).normal(size=(4, 3, 5))
    w[0, :, :2] = 0
    levels, _ = quantize_layer(w, 8, 0.0)
    assert (levels[0, :, :2] == 0).all()
    levels, _ = quantize_layer(w, 8, 0.5)
    assert (levels == 0).mean() >= 0.5


def test_accumulator_bound_is_refused(tiny_dataset) -> None:
    from ecg_edge.errors import EcgEdgeError

    ck = make_checkpoint(tiny_dataset)
    sd = dict(ck.state_dict)
    sd["head.fc.bias"] = torch.tensor([1e9, 0.0, 0.0, 0.0])
    ck.state_dict = sd
    with pytest.raises(EcgEdgeError, match=r"head.fc: int32 accumulator bound violated in output channel 0"):
        pack(ck, None, np.load(tiny_dataset / "X_train.npy"))


def test_percentile_calibration_narrows_ranges_but_not_logits(tiny_dataset) -> None:
    ck = make_checkpoint(tiny_dataset)
    X = np.load(tiny_dataset / "X_train.npy")
    a = read_model(pack(ck, None, X).data)
    b = read_model(pack(ck, None, X, percentile=99.0).data)
    assert b.tensors[a.input_tensor].scale < a.tensors[a.input_tensor].scale
    assert b.tensors[a.output_tensor].scale == a.tensors[a.output_tensor].scale
    c = read_model(pack(ck, None, X, input_percentile=99.0).data)
    assert c.tensors[a.input_tensor].scale == b.tensors[a.input_tensor].scale
    assert c.tensors[a.output_tensor].scale == a.tensors[a.output_tensor].scale
    assert c.tensors[a.ops[0].out].scale != b.tensors[a.ops[0].out].scale
