"""Per-layer description of a model: output shapes, parameters, MACs and activation sizes.

The activation sizes drive the RAM budget on a microcontroller, so docs/models.md is generated
from this module (`python -m ecg_edge.models.describe --write docs/models.md`) rather than typed
by hand, and a test keeps the two in sync.
"""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import torch
from torch import nn

from ecg_edge.models.registry import forward_with_hooks
from ecg_edge.models.resnet1d import ResidualBlock, ResNet1D, ResNet1DConfig
from ecg_edge.options import entry_point

LAYER_TYPES = (nn.Conv1d, nn.Linear, nn.MaxPool1d, nn.AvgPool1d)


@dataclass
class LayerStats:
    """One row of a model description: output shape, parameters (BN folded in), MACs, activation."""

    name: str
    kind: str
    detail: str  # kernel/stride or in->out features
    out_shape: tuple[int, ...]  # per example, without the batch axis
    params: int  # the layer's own weights (+ the BatchNorm that follows a conv, folded at export)
    macs: int
    out_elems: int


@dataclass
class ModelDescription:
    in_shape: tuple[int, int]
    layers: list[LayerStats]
    params: int
    macs: int
    peak_activation_int8: int  # estimate: see activation_peak()
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_model(model: nn.Module, in_leads: int, n_samples: int) -> ModelDescription:
    """Walk one forward pass of a (1, leads, samples) input with hooks on conv/linear/pool layers."""
    rows: list[LayerStats] = []
    names = {m: n for n, m in model.named_modules()}
    bn_after = _bn_following_convs(model)

    def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        shape = tuple(int(s) for s in out.shape[1:])
        elems = int(out[0].numel())
        name = names[mod]
        if isinstance(mod, nn.Conv1d):
            k, s = mod.kernel_size[0], mod.stride[0]
            macs = elems * (mod.in_channels // mod.groups) * k
            params = sum(p.numel() for p in mod.parameters()) + _bn_params(bn_after.get(name))
            rows.append(LayerStats(name, "conv1d", f"{mod.in_channels}->{mod.out_channels} k{k} s{s}", shape,
                                  params, macs, elems))
        elif isinstance(mod, nn.Linear):
            rows.append(LayerStats(name, "linear", f"{mod.in_features}->{mod.out_features}", shape,
                                  sum(p.numel() for p in mod.parameters()), elems * mod.in_features, elems))
        else:
            k = mod.kernel_size if isinstance(mod.kernel_size, int) else mod.kernel_size[0]
            s = mod.stride if isinstance(mod.stride, int) else mod.stride[0]
            rows.append(LayerStats(name, type(mod).__name__.lower(), f"k{k} s{s}", shape, 0, 0, elems))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, LAYER_TYPES)]
    forward_with_hooks(model, torch.zeros(1, in_leads, n_samples), handles)
    params = sum(p.numel() for p in model.parameters())
    macs = sum(r.macs for r in rows)
    return ModelDescription((in_leads, n_samples), rows, params, macs, activation_peak(model, in_leads, n_samples))


def _bn_following_convs(model: nn.Module) -> dict[str, nn.BatchNorm1d]:
    """conv name -> the BatchNorm1d applied to its output (ResNet1D naming: X.conv -> X.bn,
    X.convN -> X.bnN)."""
    mods = dict(model.named_modules())
    out = {}
    for name, m in mods.items():
        if isinstance(m, nn.Conv1d):
            bn_name = re.sub(r"conv(\d*)$", r"bn\1", name)
            if bn_name != name and isinstance(mods.get(bn_name), nn.BatchNorm1d):
                out[name] = mods[bn_name]
    return out


def _bn_params(bn: nn.BatchNorm1d | None) -> int:
    return 0 if bn is None else sum(p.numel() for p in bn.parameters())


def activation_peak(model: nn.Module, in_leads: int, n_samples: int) -> int:
    """Largest set of int8 activations that must be live at once for a ResNet1D executed layer
    by layer without in-place reuse: the input and output of each plain layer, and inside a
    residual block the block input (kept for the shortcut) plus the tensors in flight
    (conv1 out and conv2 out; then conv2 out and the shortcut's output). 0 for other models."""
    if not isinstance(model, ResNet1D):
        return 0
    sizes: dict[str, int] = {}

    def hook(name: str):
        def f(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            sizes[name + ".in"] = int(inp[0][0].numel())
            sizes[name + ".out"] = int(out[0].numel())
        return f

    handles = []
    for n, m in model.named_modules():
        if isinstance(m, (nn.Conv1d, nn.MaxPool1d, nn.Linear, ResidualBlock)):
            handles.append(m.register_forward_hook(hook(n)))
    forward_with_hooks(model, torch.zeros(1, in_leads, n_samples), handles)
    peak = 0
    blocks = [n + "." for n, m in model.named_modules() if isinstance(m, ResidualBlock)]
    for n, m in model.named_modules():
        if isinstance(m, ResidualBlock):
            x, z1, z2 = sizes[f"{n}.in"], sizes[f"{n}.conv1.out"], sizes[f"{n}.conv2.out"]
            sc = sizes.get(f"{n}.shortcut.conv.out", 0)
            peak = max(peak, x + z1 + z2 if not sc else max(x + z1 + z2, x + z2 + sc))
        elif isinstance(m, (nn.Conv1d, nn.MaxPool1d, nn.Linear)) and not any(n.startswith(b) for b in blocks):
            peak = max(peak, sizes[f"{n}.in"] + sizes[f"{n}.out"])
    return peak


def markdown_table(desc: ModelDescription) -> str:
    lines = ["| layer | op | shape | output (C x L) | params | MACs | activation int8 / fp32 (bytes) |",
             "|---|---|---|---|---:|---:|---:|"]
    lines.append(f"| input | | | {' x '.join(map(str, desc.in_shape))} | | | "
                 f"{desc.in_shape[0] * desc.in_shape[1]:,} / {4 * desc.in_shape[0] * desc.in_shape[1]:,} |")
    for r in desc.layers:
        lines.append(f"| `{r.name}` | {r.kind} | {r.detail} | {' x '.join(map(str, r.out_shape))} | {r.params:,} | "
                     f"{r.macs:,} | {r.out_elems:,} / {4 * r.out_elems:,} |")
    lines.append(f"| **total** | | | | **{desc.params:,}** | **{desc.macs:,}** | |")
    return "\n".join(lines)


BEGIN, END = "<!-- BEGIN GENERATED: ecg_edge.models.describe -->", "<!-- END GENERATED -->"


def generated_section() -> str:
    """The generated part of docs/models.md: the default ResNet1D and the paper's flatten head."""
    cfg = ResNet1DConfig()
    desc = describe_model(ResNet1D(cfg), cfg.in_leads, cfg.n_samples)
    flat_cfg = ResNet1DConfig(head="flatten")
    flat = describe_model(ResNet1D(flat_cfg), flat_cfg.in_leads, flat_cfg.n_samples)
    fields = ", ".join(f"{k}={v!r}" for k, v in cfg.to_dict().items())
    return "\n".join([
        BEGIN,
        "### Default ResNet1D (`ResNet1DConfig()`)",
        "",
        f"`{fields}`",
        "",
        f"- parameters: **{desc.params:,}** ({desc.params * 4:,} bytes as fp32; BatchNorm is folded into the "
        "preceding convolution at export, so the shipped layers carry conv weights plus one bias per channel)",
        f"- MACs per inference (conv + linear): **{desc.macs:,}**",
        f"- largest int8 activation: **{max(r.out_elems for r in desc.layers):,} bytes** "
        f"(`{max(desc.layers, key=lambda r: r.out_elems).name}`); live-set estimate for layer-by-layer "
        f"int8 execution without in-place reuse: **{desc.peak_activation_int8:,} bytes** "
        "(block input kept for the shortcut + the tensors in flight; the model.bin planner's arena is the real figure)",
        "",
        markdown_table(desc),
        "",
        "### Paper head (`ResNet1DConfig(head=\"flatten\")`)",
        "",
        f"Same trunk, classifier on vec(H_K) ({flat.layers[-1].detail}): parameters **{flat.params:,}**, "
        f"MACs **{flat.macs:,}**.",
        END,
    ])


def update_doc(path: str | Path) -> bool:
    """Rewrite the generated section of `path` in place; True when the file changed."""
    from ecg_edge.atomic import write_text

    path = Path(path)
    text = path.read_text() if path.is_file() else f"# Models\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + generated_section() + tail
    if new != text:
        write_text(path, new)
    return new != text


@click.command(help=__doc__.splitlines()[0])
@click.option("--write", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="update the generated section of this markdown file")
def command(write: Path | None) -> None:
    if write:
        print(f"{write}: {'updated' if update_doc(write) else 'up to date'}")
    else:
        print(generated_section())


main = entry_point(command, "python -m ecg_edge.models.describe")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
