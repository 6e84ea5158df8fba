"""Light ECG augmentations for small real datasets, applied to training batches only.

- small time shifts (circular, up to `shift_seconds`);
- baseline wander and muscle artefact from the MIT-BIH Noise Stress Test Database records
  (bw, ma) when they are present under $ECG_EDGE_DATA/nstdb_noise, synthetic equivalents
  otherwise (ecg_edge.data.synth.noise); the noise is band-passed like the data first, so it
  looks as it would after the model's own preprocessing;
- amplitude scaling, which only means something for un-normalised windows: a z-scored
  window is re-normalised after the noise is added, exactly as a test window would be.
Every draw comes from a generator seeded by (seed, epoch, batch), so a resumed run sees the
same augmented batches as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class AugmentConfig:
    shift_seconds: float = 0.5  # circular shift up to this, either way
    baseline: float = 0.5  # max amplitude of baseline wander (before band-pass), x window std
    muscle: float = 0.2  # max amplitude of muscle artefact, x window std
    scale: tuple[float, float] = (0.8, 1.25)  # amplitude factor range (un-normalised data only)
    p: float = 0.5  # each augmentation is applied to a window with this probability
    bank: int = 256  # noise segments drawn once

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Augmenter:
    def __init__(self, fs: float, n_samples: int, preprocessing: dict[str, Any] | None, seed: int,
                 cfg: AugmentConfig | None = None) -> None:
        from ecg_edge.data.preprocess import bandpass
        from ecg_edge.data.synth.noise import NoiseSource

        self.cfg = cfg or AugmentConfig()
        pre = preprocessing or {}
        self.normalise = pre.get("normalise", "zscore")
        band = pre.get("band")
        noise = NoiseSource(fs)
        self.noise_kind = noise.kind
        rng = np.random.default_rng(seed)
        bw = noise.baseline(rng, self.cfg.bank, 1, n_samples)[:, 0]
        ma = noise.muscle(rng, self.cfg.bank, 1, n_samples)[:, 0]
        if band is not None:
            bw = bandpass(bw, fs, tuple(band), int(pre.get("filter_order", 3)))
            ma = bandpass(ma, fs, tuple(band), int(pre.get("filter_order", 3)))
        self.bw = torch.from_numpy(np.ascontiguousarray(bw, dtype=np.float32))
        self.ma = torch.from_numpy(np.ascontiguousarray(ma, dtype=np.float32))
        self.max_shift = int(round(self.cfg.shift_seconds * fs))

    def describe(self) -> str:
        src = "NSTDB bw/ma records" if self.noise_kind == "nstdb" else "synthetic bw/ma (NSTDB records not found)"
        scale = "amplitude scaling" if self.normalise == "none" else "no amplitude scaling (z-scored windows)"
        return (f"augmentation: shifts up to {self.cfg.shift_seconds:g} s, baseline wander and muscle noise from "
                f"{src}, {scale}; each with p={self.cfg.p:g}")

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """x (B, leads, samples) -> an augmented copy."""
        B, L, T = x.shape
        c = self.cfg
        x = x.clone()
        sd = x.std(dim=-1, keepdim=True).clamp_min(1e-6)

        def pick(p: float) -> torch.Tensor:
            return (torch.rand(B, generator=gen) < p).float()[:, None, None]

        for bank, amp in ((self.bw, c.baseline), (self.ma, c.muscle)):
            i = torch.randint(0, bank.shape[0], (B, L), generator=gen)
            a = torch.rand(B, 1, 1, generator=gen) * amp * pick(c.p)
            x = x + a * sd * bank[i]
        if self.max_shift > 0:
            shifts = torch.randint(-self.max_shift, self.max_shift + 1, (B,), generator=gen) * pick(c.p)[:, 0, 0].long()
            idx = (torch.arange(T)[None, :] - shifts[:, None]) % T
            x = torch.gather(x, 2, idx[:, None, :].expand(B, L, T))
        if self.normalise == "none":
            lo, hi = c.scale
            f = lo + (hi - lo) * torch.rand(B, 1, 1, generator=gen)
            x = x * torch.where(pick(c.p) > 0, f, torch.ones_like(f))
        else:  # as the data layer does: per window and lead
            mu = x.mean(dim=-1, keepdim=True)
            s = x.std(dim=-1, keepdim=True, unbiased=False)
            x = (x - mu) / torch.where(s > 1e-6, s, torch.ones_like(s))
        return x


def time_mask(x: torch.Tensor, gen: torch.Generator, spans: int, span_samples: int) -> torch.Tensor:
    """SpecAugment-style time masking on the input: `spans` stretches of `span_samples` samples
    per window, at uniform random starts (they may overlap), set to 0 on every lead (the mean of
    a z-scored window). x (B, leads, samples) -> a masked copy."""
    B, _, T = x.shape
    if spans <= 0 or span_samples <= 0:
        return x
    width = min(span_samples, T)
    starts = torch.randint(0, T - width + 1, (B, spans), generator=gen)
    t = torch.arange(T)
    hit = ((t[None, None, :] >= starts[:, :, None]) & (t[None, None, :] < starts[:, :, None] + width)).any(dim=1)
    return x.masked_fill(hit[:, None, :], 0.0)
