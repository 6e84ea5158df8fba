"""HuBERT-ECG (Coppola et al. 2024) built on `transformers`' HubertModel, with a classification
head and an input adapter so it takes the same prepared datasets as ResNet1D.

forward(x: (N, leads, samples) at the dataset's fs) -> logits (N, n_classes).

Input adapter (`HubertInputAdapter`, fixed, no trainable parameters), as HuBERT-ECG prepares
its pretraining data, with the window and rate chosen for single-lead wearable input:
  1. take the first `window_s` (10.24 s: the whole window of our datasets) of every lead
     (zero-padded when the record is shorter);
  2. band-pass 0.05-47 Hz and decimate to `target_fs` (200 Hz) in one linear map: a
     Hann-windowed sinc low-pass at 47 Hz evaluated at the output instants (works for any
     input rate, integer ratio or not), then removal of the window mean. The 0.05 Hz
     high-pass edge lies below the window's frequency resolution (0.1 Hz at 10.24 s), so on
     one window it reduces exactly to removing DC;
  3. per-lead scaling to [-1, 1] (min-max over the window);
  4. leads concatenated into one sequence (1 x 2048 samples for single-lead).
The defaults give 31 transformer frames for one lead; HuBERT-ECG's own 5 s at 100 Hz gives 7,
which cost 10 pt of macro-F1 on single-lead chapman4 (NOTES.md, issue 14 item 4, has the
measurements behind every default here). Checkpoints store their whole config, so models
trained with other settings rebuild as they were trained.
The resampling matrix is a non-persistent buffer recomputed from the config, so it never
enters checkpoints and the whole adapter is matmul/reduce ops that export to ONNX.

Module names expose every layer to the compression engine: `hubert.feature_extractor.
conv_layers.K.conv` (nn.Conv1d), `hubert.feature_projection.projection`,
`hubert.encoder.pos_conv_embed.conv` (nn.Conv1d; weight norm is removed after construction
so its weight is a plain tensor), `hubert.encoder.layers.K.attention.{q,k,v,out}_proj`,
`hubert.encoder.layers.K.feed_forward.{intermediate,output}_dense`, `classifier` (nn.Linear).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from transformers import HubertConfig, HubertModel

# Transformer sizes of HuBERT-ECG (hidden, layers, heads, FFN, conv channels, pretraining
# projection size, pos-conv kernel/groups). `tiny` is ours: it trains on two CPU cores.
SIZES: dict[str, dict[str, Any]] = {
    "tiny": dict(hidden_size=96, num_hidden_layers=3, num_attention_heads=4, intermediate_size=384,
                 conv_dim=64, classifier_proj_size=64, num_conv_pos_embeddings=16,
                 num_conv_pos_embedding_groups=4),
    "small": dict(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, intermediate_size=2048,
                  conv_dim=512, classifier_proj_size=256, num_conv_pos_embeddings=128,
                  num_conv_pos_embedding_groups=16),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 conv_dim=512, classifier_proj_size=256, num_conv_pos_embeddings=128,
                 num_conv_pos_embedding_groups=16),
    "large": dict(hidden_size=960, num_hidden_layers=16, num_attention_heads=12, intermediate_size=3840,
                  conv_dim=512, classifier_proj_size=512, num_conv_pos_embeddings=128,
                  num_conv_pos_embedding_groups=16),
}


@dataclass
class HubertECGConfig:
    """Everything needed to rebuild the model; `None` transformer fields take the `size` preset."""

    in_leads: int = 1
    n_samples: int = 5120
    fs: float = 500.0  # the dataset's sampling rate (drives the decimation)
    n_classes: int = 4
    size: str = "tiny"
    # input adapter
    window_s: float = 10.24
    target_fs: float = 200.0
    band_low_hz: float = 0.05
    band_high_hz: float = 47.0
    sinc_half_width_s: float = 0.2
    # transformer (None = preset of `size`)
    hidden_size: int | None = None
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    intermediate_size: int | None = None
    conv_dim: list[int] | None = None
    conv_kernel: list[int] = field(default_factory=lambda: [10, 3, 3, 2, 2])
    conv_stride: list[int] = field(default_factory=lambda: [4, 2, 2, 2, 2])
    conv_bias: bool = False
    num_conv_pos_embeddings: int | None = None
    num_conv_pos_embedding_groups: int | None = None
    classifier_proj_size: int | None = None
    # 0.2 in the encoder and 0.4 in the head: measured better than 0.1/0.2 on 1,680 training windows
    hidden_dropout: float = 0.2
    attention_dropout: float = 0.2
    activation_dropout: float = 0.2
    feat_proj_dropout: float = 0.0
    layerdrop: float = 0.0
    dropout: float = 0.4  # classification head (mean-pool -> dropout -> linear)

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}, got {self.size!r}")
        preset = SIZES[self.size]
        for k, v in preset.items():
            if getattr(self, k) is None:
                setattr(self, k, [v] * len(self.conv_kernel) if k == "conv_dim" else v)
        if isinstance(self.conv_dim, int):
            self.conv_dim = [self.conv_dim] * len(self.conv_kernel)
        self.conv_dim, self.conv_kernel, self.conv_stride = (
            list(self.conv_dim), list(self.conv_kernel), list(self.conv_stride))
        if not (len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride)):
            raise ValueError("conv_dim, conv_kernel and conv_stride must have equal length")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by "
                             f"num_attention_heads {self.num_attention_heads}")
        if self.hidden_size % self.num_conv_pos_embedding_groups:
            raise ValueError("hidden_size must be divisible by num_conv_pos_embedding_groups")
        if self.in_leads < 1 or self.n_samples < 1 or self.fs <= 0 or self.n_classes < 2:
            raise ValueError("in_leads, n_samples, fs must be positive and n_classes >= 2")
        if not 0 <= self.band_low_hz < self.band_high_hz <= self.target_fs / 2:
            raise ValueError(f"band {self.band_low_hz}-{self.band_high_hz} Hz must lie in "
                             f"[0, target_fs/2 = {self.target_fs / 2}]")
        if self.frames < 1:
            raise ValueError(f"the conv feature extractor leaves no frames from {self.sequence_length} samples")

    @property
    def window_in(self) -> int:
        """Samples of one lead's window at the dataset rate."""
        return int(round(self.window_s * self.fs))

    @property
    def window_out(self) -> int:
        """Samples of one lead's window at `target_fs` (2048 for 10.24 s at 200 Hz)."""
        return int(round(self.window_s * self.target_fs))

    @property
    def sequence_length(self) -> int:
        """Length of the concatenated sequence the conv feature extractor sees."""
        return self.window_out * self.in_leads

    @property
    def frames(self) -> int:
        """Transformer frames per input (31 for one lead at the defaults)."""
        n = self.sequence_length
        for k, s in zip(self.conv_kernel, self.conv_stride, strict=True):
            n = (n - k) // s + 1
        return n

    @property
    def frame_stride(self) -> int:
        return math.prod(self.conv_stride)

    def hf_config(self, **overrides: Any) -> HubertConfig:
        """The `transformers` HubertConfig of the encoder (group norm on the first conv, GELU)."""
        kw: dict[str, Any] = dict(
            hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads, intermediate_size=self.intermediate_size,
            hidden_act="gelu", feat_extract_activation="gelu", feat_extract_norm="group",
            conv_dim=tuple(self.conv_dim), conv_kernel=tuple(self.conv_kernel),
            conv_stride=tuple(self.conv_stride), conv_bias=self.conv_bias,
            num_conv_pos_embeddings=self.num_conv_pos_embeddings,
            num_conv_pos_embedding_groups=self.num_conv_pos_embedding_groups,
            classifier_proj_size=self.classifier_proj_size,
            hidden_dropout=self.hidden_dropout, attention_dropout=self.attention_dropout,
            activation_dropout=self.activation_dropout, feat_proj_dropout=self.feat_proj_dropout,
            final_dropout=self.dropout, layerdrop=self.layerdrop,
            mask_time_prob=0.0, mask_feature_prob=0.0,  # masking is the pretraining wrapper's job
            do_stable_layer_norm=False, feat_proj_layer_norm=True,
        )
        kw.update(overrides)
        cfg = HubertConfig(**kw)
        cfg._attn_implementation = "eager"  # plain matmul + softmax: exports, and MACs are countable
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sinc_resample_matrix(n_in: int, fs_in: float, n_out: int, fs_out: float, cutoff_hz: float,
                         half_width_s: float) -> torch.Tensor:
    """(n_in, n_out) matrix M with y = x @ M: low-pass at `cutoff_hz` and resample to `fs_out`.

    Hann-windowed sinc evaluated at every output instant; each column is normalised to unit DC
    gain so the window edges (where the kernel is truncated) keep the signal level.
    """
    t_in = torch.arange(n_in, dtype=torch.float64) / fs_in
    t_out = torch.arange(n_out, dtype=torch.float64) / fs_out
    dt = t_out[None, :] - t_in[:, None]
    h = 2 * cutoff_hz * torch.sinc(2 * cutoff_hz * dt)
    w = torch.where(dt.abs() < half_width_s, 0.5 * (1 + torch.cos(math.pi * dt / half_width_s)),
                    torch.zeros_like(dt))
    m = h * w
    m = m / m.sum(dim=0, keepdim=True).clamp_min(1e-12)
    return m.to(torch.float32)


class HubertInputAdapter(nn.Module):
    """(N, leads, samples at fs) -> (N, leads * window_out): HuBERT-ECG's input preparation."""

    def __init__(self, cfg: HubertECGConfig) -> None:
        super().__init__()
        self.cfg = cfg
        m = sinc_resample_matrix(cfg.window_in, cfg.fs, cfg.window_out, cfg.target_fs,
                                 cfg.band_high_hz, cfg.sinc_half_width_s)
        self.register_buffer("resample", m, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        if x.dim() != 3 or x.shape[1] != cfg.in_leads:
            raise ValueError(f"expected input (N, {cfg.in_leads}, samples), got {tuple(x.shape)}")
        n_in = cfg.window_in
        x = x[:, :, :n_in]
        if x.shape[-1] < n_in:  # shorter records: zero-pad to the window
            x = nn.functional.pad(x, (0, n_in - x.shape[-1]))
        y = torch.matmul(x, self.resample)  # (N, L, window_out): low-pass 47 Hz + decimate
        y = y - y.mean(dim=-1, keepdim=True)  # 0.05 Hz high-pass on one window == DC removal
        lo = y.amin(dim=-1, keepdim=True)
        hi = y.amax(dim=-1, keepdim=True)
        y = 2.0 * (y - lo) / (hi - lo + 1e-6) - 1.0  # per-lead scaling to [-1, 1]
        return y.reshape(y.shape[0], -1)  # leads concatenated


def build_hubert_encoder(cfg: HubertECGConfig, **hf_overrides: Any) -> HubertModel:
    """A HubertModel whose positional conv is a plain nn.Conv1d (weight norm folded away), so
    compression and export see an ordinary weight tensor."""
    model = HubertModel(cfg.hf_config(**hf_overrides))
    conv = model.encoder.pos_conv_embed.conv
    if parametrize.is_parametrized(conv, "weight"):
        parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)
    return model


class HubertECG(nn.Module):
    """HuBERT-ECG classifier: input adapter -> HubertModel -> mean-pool -> dropout -> linear."""

    def __init__(self, cfg: HubertECGConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.adapter = HubertInputAdapter(cfg)
        self.hubert = build_hubert_encoder(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.hidden_size, cfg.n_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, leads, samples) -> last hidden states (N, frames, hidden)."""
        return self.hubert(self.adapter(x)).last_hidden_state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encode(x)
        return self.classifier(self.dropout(h.mean(dim=1)))


def attention_macs(cfg: HubertECGConfig) -> int:
    """MACs of the attention score and context matmuls (not nn.Linear, so count_macs misses
    them): per layer 2 * frames^2 * hidden."""
    return 2 * cfg.frames * cfg.frames * cfg.hidden_size * cfg.num_hidden_layers
