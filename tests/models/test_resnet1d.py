"""ResNet1D: shapes, the export naming contract, eq. (1) structure, MACs, and the generated docs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ecg_edge.models import describe
from ecg_edge.models.registry import build_model, count_macs, model_summary
from ecg_edge.models.resnet1d import ResNet1D, ResNet1DConfig
from ecg_edge.paths import REPO_ROOT


def test_default_config_shapes_and_size() -> None:
    cfg = ResNet1DConfig()
    m = ResNet1D(cfg).eval()
    assert m(torch.zeros(3, 1, 5120)).shape == (3, 4)
    s = model_summary(m, 1, 5120)
    # the documented Cortex-M4 default (docs/models.md is generated from the same model)
    assert 100_000 < s["parameters"] < 115_000
    assert 20_000_000 < s["macs"] < 25_000_000


@pytest.mark.parametrize("head", ["gap", "flatten"])
def test_heads(head: str) -> None:
    cfg = ResNet1DConfig(in_leads=12, n_samples=1000, n_classes=9, head=head)
    m = ResNet1D(cfg).eval()
    assert m(torch.randn(2, 12, 1000)).shape == (2, 9)
    feat = m.features(torch.zeros(1, 12, 1000))
    expect_in = feat.shape[1] if head == "gap" else feat.shape[1] * feat.shape[2]
    assert m.head.fc.in_features == expect_in


def test_module_names_are_the_export_contract() -> None:
    m = ResNet1D(ResNet1DConfig())
    names = {n for n, mod in m.named_modules() if isinstance(mod, (nn.Conv1d, nn.Linear, nn.BatchNorm1d))}
    assert {"stem.conv", "stem.bn", "blocks.0.conv1", "blocks.0.bn1", "blocks.0.conv2", "blocks.0.bn2",
            "blocks.1.shortcut.conv", "blocks.1.shortcut.bn", "head.fc"} <= names
    assert "blocks.0.shortcut.conv" not in names  # identity shortcut when the shape is kept
    assert all(mod.bias is None for mod in m.modules() if isinstance(mod, nn.Conv1d))  # BN supplies the bias


def test_residual_block_is_eq1() -> None:
    """H_k = ReLU(BN(Conv(ReLU(BN(Conv(H_{k-1})))))) + shortcut(H_{k-1})."""
    torch.manual_seed(0)
    m = ResNet1D(ResNet1DConfig(in_leads=2, n_samples=256, n_classes=3, widths=[8, 12], strides=[1, 2])).eval()
    x = torch.randn(2, 16, 64)
    for blk in m.blocks:
        z = torch.relu(blk.bn1(blk.conv1(x)))
        z = torch.relu(blk.bn2(blk.conv2(z)))
        sc = x if isinstance(blk.shortcut, nn.Identity) else blk.shortcut.bn(blk.shortcut.conv(x))
        expect = z + sc
        torch.testing.assert_close(blk(x), expect)
        x = expect


def test_count_macs_matches_formula() -> None:
    cfg = ResNet1DConfig(in_leads=1, n_samples=512, n_classes=3, stem_channels=4, widths=[4, 8], strides=[1, 2],
                         kernel=3, stem_kernel=5, stem_pool=0)
    m = ResNet1D(cfg)
    # stem 1->4 k5 s2: 256 outputs; block0 4->4 k3 x2 at 256; block1 4->8 k3 s2 (128), 8->8 k3, 1x1 4->8 s2; fc 8->3
    expect = 4 * 256 * 1 * 5 + 2 * (4 * 256 * 4 * 3) + 8 * 128 * 4 * 3 + 8 * 128 * 8 * 3 + 8 * 128 * 4 + 8 * 3
    assert count_macs(m, torch.zeros(1, 1, 512)) == expect
    assert describe.describe_model(m, 1, 512).macs == expect


def test_registry_roundtrip() -> None:
    cfg = ResNet1DConfig(head="flatten", dropout=0.3)
    m = build_model("resnet1d", cfg.to_dict())
    assert isinstance(m, ResNet1D) and m.cfg == cfg


@pytest.mark.parametrize(("kw", "msg"), [
    ({"widths": [8], "strides": [1, 2]}, "equal length"),
    ({"head": "attention"}, "head must be"),
    ({"kernel": 4}, "odd"),
    ({"dropout": 1.0}, "dropout"),
    ({"n_samples": 16}, "total stride"),
    ({"n_classes": 1}, "n_classes"),
])
def test_config_validation(kw: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        ResNet1DConfig(**kw)


def test_describe_layers_and_activation_sizes() -> None:
    cfg = ResNet1DConfig()
    d = describe.describe_model(ResNet1D(cfg), 1, 5120)
    assert d.params == sum(r.params for r in d.layers)  # every parameter is attributed (BN into its conv)
    by = {r.name: r for r in d.layers}
    assert by["stem.conv"].out_shape == (16, 2560) and by["stem.conv"].out_elems == 16 * 2560
    assert by["pool"].out_shape == (16, 1280)
    assert by["head.fc"].out_shape == (4,)
    # peak of the live set: stem out + pool out (40960 + 20480) dominates the blocks
    assert d.peak_activation_int8 == 16 * 2560 + 16 * 1280


def test_models_doc_is_generated() -> None:
    """docs/models.md holds exactly what ecg_edge.models.describe generates (regenerate with
    `python -m ecg_edge.models.describe --write docs/models.md`)."""
    text = (REPO_ROOT / "docs" / "models.md").read_text()
    assert describe.generated_section() in text
