"""Load a local HuBERT-ECG checkpoint directory into our HubertECG, offline and without running
any code from the checkpoint (no `trust_remote_code`, no pickles).

Layout (as the HuBERT-ECG authors publish it, and as `ecg-edge pretrain` writes it):
  DIR/config.json          HubertConfig fields + model_type "hubert_ecg", ensemble_length,
                           vocab_sizes; optionally an "ecg_edge" object with our adapter fields
  DIR/model.safetensors    weights (or model.safetensors.index.json + shards)

Weights are mapped by name after stripping a `hubert_ecg.` / `hubert.` prefix. The positional
conv's weight norm (weight_g/weight_v or parametrizations.weight.original0/1) is folded into a
plain weight. Pretraining heads (final_proj, label_embedding, masked_spec_embed) are reported
as unused; the classifier is taken only when its shape fits our class count.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ecg_edge.errors import ModelFormatError
from ecg_edge.models.hubert_ecg import SIZES, HubertECG, HubertECGConfig

MODEL_TYPE = "hubert_ecg"
PREFIXES = ("hubert_ecg.", "hubert.")
PRETRAINING_HEADS = ("final_proj.", "label_embedding.", "masked_spec_embed")
# HubertConfig fields we take over (our name == theirs)
_ENCODER_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                   "conv_dim", "conv_kernel", "conv_stride", "conv_bias", "num_conv_pos_embeddings",
                   "num_conv_pos_embedding_groups", "classifier_proj_size")
ADAPTER_FIELDS = ("window_s", "target_fs", "band_low_hz", "band_high_hz", "sinc_half_width_s")
# The input HuBERT-ECG's published checkpoints were pretrained on (5 s at 100 Hz); a config.json
# without our "ecg_edge" object is one of those, so it does not take our model defaults.
HUBERT_ECG_ADAPTER = {"window_s": 5.0, "target_fs": 100.0}


def adapter_fields(cfg: HubertECGConfig) -> dict[str, Any]:
    """The input-adapter settings of `cfg` (window, rate, band): what config.json records and
    what pretraining data share."""
    return {k: getattr(cfg, k) for k in ADAPTER_FIELDS}


@dataclass
class LoadReport:
    """Which tensors went where; printed so a partial load is never silent."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # ours, not in the checkpoint (left as initialised)
    unused: list[str] = field(default_factory=list)  # in the checkpoint, not used (with reason)
    folded: list[str] = field(default_factory=list)  # weight-norm pairs folded into plain weights
    ensemble_length: int = 1
    vocab_sizes: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"HuBERT-ECG checkpoint {self.source}: loaded {len(self.loaded)} tensors, "
                 f"{len(self.missing)} missing, {len(self.unused)} unused"]
        if self.folded:
            lines.append("  folded weight norm: " + ", ".join(self.folded))
        for k in self.missing:
            lines.append(f"  missing (kept initialised): {k}")
        for k in self.unused:
            lines.append(f"  unused: {k}")
        return "\n".join(lines)


def read_hubert_config(path: str | Path) -> dict[str, Any]:
    """config.json of a HuBERT-ECG checkpoint, validated (clear errors for anything off)."""
    cp = Path(path) / "config.json"
    if not Path(path).is_dir():
        raise ModelFormatError(f"{path}: not a folder; expected a HuBERT-ECG checkpoint directory "
                               "(config.json + model.safetensors)")
    if not cp.is_file():
        raise ModelFormatError(f"{cp}: missing; a HuBERT-ECG checkpoint directory needs config.json")
    try:
        raw = json.loads(cp.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{cp}: malformed JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelFormatError(f"{cp}: expected a JSON object, got {type(raw).__name__}")
    mt = raw.get("model_type")
    if mt != MODEL_TYPE:
        raise ModelFormatError(f"{cp}: model_type is {mt!r}; expected {MODEL_TYPE!r} (a HuBERT-ECG checkpoint)")
    for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
        v = raw.get(name)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ModelFormatError(f"{cp}: field {name!r} is {v!r}; expected a positive integer")
    ens = raw.get("ensemble_length", 1)
    vocab = raw.get("vocab_sizes", [100])
    if isinstance(vocab, int):
        vocab = [vocab]
    if (not isinstance(ens, int) or ens < 1 or not isinstance(vocab, list) or len(vocab) != ens
            or not all(isinstance(v, int) and v > 0 for v in vocab)):
        raise ModelFormatError(f"{cp}: ensemble_length {ens!r} and vocab_sizes {vocab!r} disagree; "
                               "expected vocab_sizes to be a list of ensemble_length positive integers")
    for name in ("conv_dim", "conv_kernel", "conv_stride"):
        v = raw.get(name)
        if v is not None and (not isinstance(v, list) or not all(isinstance(i, int) and i > 0 for i in v)):
            raise ModelFormatError(f"{cp}: field {name!r} is {v!r}; expected a list of positive integers")
    if raw.get("feat_extract_norm", "group") != "group":
        raise ModelFormatError(f"{cp}: feat_extract_norm {raw.get('feat_extract_norm')!r} is not supported; "
                               "HuBERT-ECG uses 'group'")
    if raw.get("do_stable_layer_norm", False):
        raise ModelFormatError(f"{cp}: do_stable_layer_norm=true is not supported; HuBERT-ECG uses post-LN")
    if raw.get("feat_proj_layer_norm", True) is not True:
        raise ModelFormatError(f"{cp}: feat_proj_layer_norm=false is not supported")
    raw["ensemble_length"], raw["vocab_sizes"] = ens, vocab
    return raw


def config_from_hubert(raw: dict[str, Any], **data: Any) -> HubertECGConfig:
    """Our HubertECGConfig from a checkpoint's config.json plus the dataset contract
    (`in_leads`, `n_samples`, `fs`, `n_classes`, and optionally `dropout`)."""
    kw: dict[str, Any] = {k: raw[k] for k in _ENCODER_FIELDS if raw.get(k) is not None}
    ours = raw.get("ecg_edge")
    if ours is None:
        kw.update(HUBERT_ECG_ADAPTER)
        ours = {}
    kw.update({k: ours[k] for k in ADAPTER_FIELDS if k in ours})
    size = next((s for s, p in SIZES.items() if p["hidden_size"] == kw["hidden_size"]
                 and p["num_hidden_layers"] == kw["num_hidden_layers"]), ours.get("size", "small"))
    data.pop("size", None)  # the checkpoint's own dimensions decide the size
    kw.update(data)
    try:
        return HubertECGConfig(size=size, **kw)
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(f"HuBERT-ECG config does not make a valid model: {exc}") from exc


def read_safetensors_dir(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of DIR/model.safetensors or of the shards named by its index file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    single, index = path / "model.safetensors", path / "model.safetensors.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        try:
            wm = json.loads(index.read_text())["weight_map"]
            files = [path / f for f in sorted(set(wm.values()))]
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ModelFormatError(f"{index}: malformed shard index ({exc})") from exc
    else:
        pickled = [p.name for p in path.glob("*.bin")] + [p.name for p in path.glob("*.pt")]
        hint = f" (found {', '.join(pickled)}: pickled weights are not loaded, convert to safetensors)" if pickled else ""
        raise ModelFormatError(f"{path}: no model.safetensors{hint}")
    tensors: dict[str, torch.Tensor] = {}
    for f in files:
        if not f.is_file():
            raise ModelFormatError(f"{f}: shard named in the index is missing")
        try:
            tensors.update(load_file(str(f)))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFormatError(f"{f}: not a readable safetensors file ({exc})") from exc
    return tensors


def _strip(name: str) -> str:
    for p in PREFIXES:
        if name.startswith(p):
            return name[len(p):]
    return name


def map_hubert_weights(tensors: dict[str, torch.Tensor], model: HubertECG,
                       source: str = "") -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Checkpoint tensors -> a (partial) state dict of `model`, and the report of what fit."""
    report = LoadReport(source=source)
    target = model.state_dict()
    enc = {_strip(k): v for k, v in tensors.items()}
    out: dict[str, torch.Tensor] = {}
    # weight norm of the positional conv: g * v / ||v|| with the norm over all dims but dim 2
    for g_key, v_key in (("encoder.pos_conv_embed.conv.weight_g", "encoder.pos_conv_embed.conv.weight_v"),
                         ("encoder.pos_conv_embed.conv.parametrizations.weight.original0",
                          "encoder.pos_conv_embed.conv.parametrizations.weight.original1")):
        if g_key in enc and v_key in enc:
            g, v = enc.pop(g_key).float(), enc.pop(v_key).float()
            enc["encoder.pos_conv_embed.conv.weight"] = torch._weight_norm(v, g, 2)
            report.folded.append(f"{g_key}+{v_key}")
    for name, t in sorted(enc.items()):
        ours = name if name.startswith("classifier.") else f"hubert.{name}"
        if name.startswith(PRETRAINING_HEADS):
            report.unused.append(f"{name} (pretraining head)")
        elif ours not in target:
            report.unused.append(f"{name} (no such tensor in our model)")
        elif tuple(t.shape) != tuple(target[ours].shape):
            if name.startswith("classifier."):
                report.unused.append(f"{name} (shape {tuple(t.shape)} != ours {tuple(target[ours].shape)}; "
                                     "different class count)")
            else:
                raise ModelFormatError(
                    f"{source}: tensor {name} has shape {tuple(t.shape)}, the model built from "
                    f"config.json expects {tuple(target[ours].shape)}; config.json and weights disagree")
        else:
            out[ours] = t.to(target[ours].dtype)
            report.loaded.append(ours)
    report.missing = sorted(k for k in target if k not in out)
    return out, report


def load_hubert_ecg_dir(path: str | Path, n_classes: int, *, in_leads: int = 1, n_samples: int = 5120,
                        fs: float = 500.0, verbose: bool = True,
                        **overrides: Any) -> tuple[HubertECG, LoadReport]:
    """Build our HubertECG from a HuBERT-ECG checkpoint directory for a dataset with the given
    contract; returns (model, LoadReport) and prints the report to stderr when `verbose`."""
    raw = read_hubert_config(path)
    cfg = config_from_hubert(raw, n_classes=n_classes, in_leads=in_leads, n_samples=n_samples,
                             fs=fs, **overrides)
    model = HubertECG(cfg)
    tensors = read_safetensors_dir(path)
    sd, report = map_hubert_weights(tensors, model, source=str(path))
    report.ensemble_length, report.vocab_sizes = raw["ensemble_length"], raw["vocab_sizes"]
    if not report.loaded:
        raise ModelFormatError(f"{path}: none of its {len(tensors)} tensors fit a HuBERT-ECG encoder")
    model.load_state_dict(sd, strict=False)
    if verbose:
        print(report, file=sys.stderr)
    return model, report


def save_hubert_ecg_dir(path: str | Path, cfg: HubertECGConfig, tensors: dict[str, torch.Tensor],
                        vocab_sizes: list[int], extra_config: dict[str, Any] | None = None) -> None:
    """Write DIR/config.json + DIR/model.safetensors in the HuBERT-ECG layout (atomically, as a
    whole folder). `tensors` use HubertModel names (no `hubert.` prefix) plus any pretraining
    heads (final_proj.N.*, label_embedding.N.*)."""
    from safetensors.torch import save_file

    from ecg_edge.atomic import atomic_dir, write_json

    hf = cfg.hf_config().to_dict()
    hf.update(model_type=MODEL_TYPE, architectures=["HuBERTECG"], ensemble_length=len(vocab_sizes),
              vocab_sizes=list(vocab_sizes),
              ecg_edge={"size": cfg.size, **adapter_fields(cfg)},
              **(extra_config or {}))
    with atomic_dir(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()},
                  str(tmp / "model.safetensors"), metadata={"format": "pt"})
        write_json(tmp / "config.json", hf)
