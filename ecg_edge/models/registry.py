"""Build a model from (architecture name, config dict), so checkpoints are self-describing."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecg_edge.checkpoint import Checkpoint
from ecg_edge.errors import EcgEdgeError

ARCHITECTURES = ("resnet1d", "hubert_ecg")


def build_model(arch: str, config: dict[str, Any]) -> nn.Module:
    if arch == "resnet1d":
        from ecg_edge.models.resnet1d import ResNet1D, ResNet1DConfig

        return ResNet1D(ResNet1DConfig(**config))
    if arch == "hubert_ecg":
        from ecg_edge.models.hubert_ecg import HubertECG, HubertECGConfig

        return HubertECG(HubertECGConfig(**config))
    raise EcgEdgeError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}")


def model_from_checkpoint(ckpt: Checkpoint, where: str = "checkpoint") -> nn.Module:
    """The checkpoint's model with its weights, in eval mode (the checkpoint itself builds
    nothing); a config the architecture rejects is reported as the user's error."""
    try:
        m = build_model(ckpt.arch, ckpt.config)
        missing, unexpected = m.load_state_dict(ckpt.state_dict, strict=False)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise EcgEdgeError(f"{where}: cannot rebuild its {ckpt.arch} model: {str(exc).splitlines()[0]}") from exc
    if missing or unexpected:
        raise EcgEdgeError(
            f"{where}: weights do not fit a {ckpt.arch} with this config: "
            f"missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}")
    m.eval()
    return m


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of Conv1d and Linear layers for one forward pass of `example`."""
    macs = 0

    def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(mod, nn.Conv1d):
            macs += out.numel() // out.shape[0] * (mod.in_channels // mod.groups) * mod.kernel_size[0]
        elif isinstance(mod, nn.Linear):
            macs += out.numel() // out.shape[0] * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Linear))]
    forward_with_hooks(model, example, handles)
    return macs


def forward_with_hooks(model: nn.Module, example: torch.Tensor, handles: list[Any]) -> None:
    """One no-grad eval-mode forward pass so registered hooks can measure the model; restores
    the training mode and removes `handles` whatever happens."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()


def model_summary(model: nn.Module, in_leads: int, n_samples: int) -> dict[str, int]:
    params = sum(p.numel() for p in model.parameters())
    macs = count_macs(model, torch.zeros(1, in_leads, n_samples))
    return {"parameters": params, "fp32_bytes": params * 4, "macs": macs}
