"""Run a network stage by stage, so a search that varies one layer re-runs only the stages from
that layer on: the input of the stage holding the layer is computed once per layer visit and
reused for every candidate (the main speed-up of the LAQ/LAP searches).

ResNet1D is split into stem+pool, each residual block, and the head. Any other nn.Module falls
back to one stage (the whole forward): correct, just without the reuse. HuBERT-ECG gets its
stages from `hubert_stages` when its module exposes the expected parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ecg_edge.compress.layers import COMPRESSIBLE


@dataclass
class Stage:
    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    layers: list[str]


def _layers_under(model: nn.Module, prefix: str) -> list[str]:
    mod = model.get_submodule(prefix) if prefix else model
    return [f"{prefix}.{n}" if prefix and n else (n or prefix)
            for n, m in mod.named_modules() if isinstance(m, COMPRESSIBLE)]


def resnet1d_stages(model: nn.Module) -> list[Stage]:
    cfg = model.cfg

    def stem(x: torch.Tensor) -> torch.Tensor:
        return model.pool(torch.relu(model.stem(x)))

    def head(h: torch.Tensor) -> torch.Tensor:
        h = h.mean(dim=-1) if cfg.head == "gap" else h.flatten(1)
        return model.head.fc(model.dropout(h))

    stages = [Stage("stem", stem, _layers_under(model, "stem"))]
    for i, blk in enumerate(model.blocks):
        stages.append(Stage(f"blocks.{i}", blk, _layers_under(model, f"blocks.{i}")))
    stages.append(Stage("head", head, _layers_under(model, "head")))
    return stages


def hubert_stages(model: nn.Module) -> list[Stage]:
    """HuBERT-ECG: adapter + conv feature extractor + projection, positional conv + norm, each
    transformer layer, mean-pool + classifier (mirrors HubertModel/HubertEncoder.forward in
    eval mode; StagedRunner verifies the split against the full forward before using it)."""
    hub = model.hubert
    enc = hub.encoder

    def features(x: torch.Tensor) -> torch.Tensor:
        f = hub.feature_extractor(model.adapter(x)).transpose(1, 2)
        return hub.feature_projection(f)

    def pos(h: torch.Tensor) -> torch.Tensor:
        return enc.dropout(enc.layer_norm(h + enc.pos_conv_embed(h)))

    def layer_fn(layer: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        def run(h: torch.Tensor) -> torch.Tensor:
            out = layer(h, attention_mask=None)
            return out[0] if isinstance(out, tuple) else out
        return run

    def head(h: torch.Tensor) -> torch.Tensor:
        return model.classifier(model.dropout(h.mean(dim=1)))

    stages = [Stage("features", features, _layers_under(model, "hubert.feature_extractor")
                    + _layers_under(model, "hubert.feature_projection")),
              Stage("pos_conv", pos, _layers_under(model, "hubert.encoder.pos_conv_embed"))]
    for i, layer in enumerate(enc.layers):
        stages.append(Stage(f"layers.{i}", layer_fn(layer), _layers_under(model, f"hubert.encoder.layers.{i}")))
    stages.append(Stage("head", head, _layers_under(model, "classifier")))
    return stages


def build_stages(model: nn.Module) -> list[Stage]:
    from ecg_edge.models.resnet1d import ResNet1D

    if isinstance(model, ResNet1D):
        stages = resnet1d_stages(model)
    elif type(model).__name__ == "HubertECG" and not getattr(model.hubert.config, "do_stable_layer_norm", False):
        try:
            stages = hubert_stages(model)
        except AttributeError:  # an encoder layout we do not know: the whole forward
            stages = [Stage("model", model, _layers_under(model, ""))]
    else:
        stages = [Stage("model", model, _layers_under(model, ""))]
    covered = [n for s in stages for n in s.layers]
    every = _layers_under(model, "")
    if sorted(covered) != sorted(every):  # a structure we do not know: never skip a layer
        stages = [Stage("model", model, every)]
    return stages


class StagedRunner:
    """Holds a fixed input set and runs the model from any stage, in batches, without grad."""

    def __init__(self, model: nn.Module, X: np.ndarray, batch_size: int = 256) -> None:
        self.model = model.eval()
        self.stages = build_stages(model)
        self.stage_of = {n: i for i, s in enumerate(self.stages) for n in s.layers}
        self.batches = [torch.from_numpy(np.array(X[i:i + batch_size], dtype=np.float32))
                        for i in range(0, len(X), batch_size)]
        if len(self.stages) > 1 and self.batches and not self._split_matches():
            self.stages = [Stage("model", model, [n for s in self.stages for n in s.layers])]
            self.stage_of = {n: 0 for n in self.stage_of}

    @torch.no_grad()
    def _split_matches(self) -> bool:
        """The staged forward must reproduce the model's own forward (else: no reuse)."""
        x = self.batches[0][:4]
        a = x
        try:
            for s in self.stages:
                a = s.fn(a)
        except (TypeError, RuntimeError, ValueError):
            return False
        ref = self.model(x)
        return a.shape == ref.shape and bool(torch.allclose(a, ref, rtol=1e-4, atol=1e-5))

    @torch.no_grad()
    def inputs_of(self, stage: int) -> list[torch.Tensor]:
        """The input activations of `stage` under the model's current weights."""
        acts = self.batches
        for s in self.stages[:stage]:
            acts = [s.fn(a) for a in acts]
        return acts

    @torch.no_grad()
    def logits_from(self, stage: int, acts: list[torch.Tensor] | None = None) -> np.ndarray:
        acts = self.batches if acts is None else acts
        if acts is self.batches:
            stage = 0
        out = []
        for a in acts:
            for s in self.stages[stage:]:
                a = s.fn(a)
            out.append(a)
        return torch.cat(out).numpy()

    def logits(self) -> np.ndarray:
        return self.logits_from(0)
