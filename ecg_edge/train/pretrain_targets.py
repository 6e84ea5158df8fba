"""Per-frame pretraining targets for HuBERT-ECG: frame features and a small seeded k-means.

Iteration 1 clusters hand-made time/frequency features of the signal ("MFCC-like": log band
energies of a Hann-windowed 128-sample segment -> DCT cepstra, their deltas, and time
statistics), taken at the transformer's frame rate (one frame per prod(conv_stride) samples,
centred on each frame's receptive field). Later iterations cluster the hidden states of a chosen
transformer layer. k-means is ours (k-means++ init from a seeded generator, Lloyd iterations in
float64), so targets are reproducible without scikit-learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ecg_edge.models.hubert_ecg import HubertECGConfig


def receptive_field(cfg: HubertECGConfig) -> int:
    """Samples (at target_fs) seen by one frame of the conv feature extractor (82 for HuBERT-ECG)."""
    rf, jump = 1, 1
    for k, s in zip(cfg.conv_kernel, cfg.conv_stride, strict=True):
        rf += (k - 1) * jump
        jump *= s
    return rf


def _dct_matrix(n_in: int, n_out: int) -> torch.Tensor:
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    n = torch.arange(n_in, dtype=torch.float64)[None, :]
    return torch.cos(math.pi / n_in * (n + 0.5) * k)  # DCT-II rows


def _band_filters(n_fft: int, fs: float, n_bands: int, lo: float, hi: float) -> torch.Tensor:
    """(n_bands, n_fft//2+1) triangular filters, log-spaced between lo and hi Hz."""
    freqs = torch.fft.rfftfreq(n_fft, 1 / fs).double()
    edges = torch.logspace(math.log10(lo), math.log10(hi), n_bands + 2, dtype=torch.float64)
    fb = torch.zeros(n_bands, freqs.numel(), dtype=torch.float64)
    for b in range(n_bands):
        left, mid, right = edges[b], edges[b + 1], edges[b + 2]
        up = (freqs - left) / (mid - left)
        down = (right - freqs) / (right - mid)
        fb[b] = torch.clamp(torch.minimum(up, down), min=0)
    return fb / fb.sum(dim=1, keepdim=True).clamp_min(1e-12)


def frame_features(seq: np.ndarray | torch.Tensor, cfg: HubertECGConfig, n_fft: int = 128,
                   n_bands: int = 16, n_ceps: int = 10) -> np.ndarray:
    """(M, seq_len) adapted sequences -> (M, frames, D) float32 per-frame features."""
    x = torch.as_tensor(np.asarray(seq), dtype=torch.float64)
    frames, stride, rf = cfg.frames, cfg.frame_stride, receptive_field(cfg)
    half = n_fft // 2
    xp = torch.nn.functional.pad(x[:, None], (half, half), mode="reflect")[:, 0]
    centers = torch.arange(frames) * stride + rf // 2 + half  # in padded coordinates
    seg_idx = centers[:, None] + torch.arange(-half, half)[None, :]  # (T, n_fft)
    seg = xp[:, seg_idx]  # (M, T, n_fft)
    win = torch.hann_window(n_fft, periodic=False, dtype=torch.float64)
    power = torch.fft.rfft(seg * win, dim=-1).abs() ** 2
    fb = _band_filters(n_fft, cfg.target_fs, n_bands, 0.5, cfg.band_high_hz)
    logb = torch.log(power @ fb.T + 1e-8)
    ceps = logb @ _dct_matrix(n_bands, n_ceps).T  # (M, T, n_ceps)
    delta = torch.diff(ceps[..., :5], dim=1, prepend=ceps[:, :1, :5])
    rf_idx = torch.arange(frames)[:, None] * stride + torch.arange(rf)[None, :] + half
    r = xp[:, rf_idx]  # (M, T, rf) the receptive field itself
    stats = torch.stack([r.mean(-1), r.std(-1), r.amax(-1) - r.amin(-1),
                         r.diff(dim=-1).abs().mean(-1)], dim=-1)
    return torch.cat([ceps, delta, stats], dim=-1).float().numpy()


@dataclass
class KMeansResult:
    centroids: np.ndarray  # (K, D) float32, in the standardised space
    mean: np.ndarray  # (D,) standardisation applied before clustering
    scale: np.ndarray  # (D,)
    inertia: float
    n_iter: int

    def assign(self, feats: np.ndarray, batch: int = 65536) -> np.ndarray:
        """Nearest centroid of every row of feats (..., D) -> int64 (...)."""
        shape = feats.shape[:-1]
        z = (feats.reshape(-1, feats.shape[-1]) - self.mean) / self.scale
        c = torch.as_tensor(self.centroids, dtype=torch.float64)
        out = np.empty(z.shape[0], dtype=np.int64)
        for i in range(0, z.shape[0], batch):
            zi = torch.as_tensor(z[i:i + batch], dtype=torch.float64)
            out[i:i + batch] = torch.cdist(zi, c).argmin(dim=1).numpy()
        return out.reshape(shape)


def kmeans(feats: np.ndarray, k: int, seed: int = 0, max_iter: int = 100, tol: float = 1e-6,
           max_points: int = 100_000) -> KMeansResult:
    """Seeded k-means (k-means++ init, Lloyd) on standardised features (..., D)."""
    rng = np.random.default_rng(seed)
    x = feats.reshape(-1, feats.shape[-1]).astype(np.float64)
    if x.shape[0] < k:
        raise ValueError(f"k-means needs at least k={k} points, got {x.shape[0]}")
    if x.shape[0] > max_points:
        x = x[np.sort(rng.choice(x.shape[0], max_points, replace=False))]
    mean, scale = x.mean(0), x.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    z = torch.as_tensor((x - mean) / scale)
    n = z.shape[0]
    # k-means++: each next centre drawn with probability proportional to squared distance
    cent = [int(rng.integers(n))]
    d2 = ((z - z[cent[0]]) ** 2).sum(1)
    for _ in range(1, k):
        p = d2.numpy() / max(float(d2.sum()), 1e-300)
        nxt = int(rng.choice(n, p=p)) if p.sum() > 0 else int(rng.integers(n))
        cent.append(nxt)
        d2 = torch.minimum(d2, ((z - z[nxt]) ** 2).sum(1))
    c = z[cent].clone()
    inertia, it = float("inf"), 0
    for it in range(1, max_iter + 1):  # noqa: B007
        dist = torch.cdist(z, c) ** 2
        lab = dist.argmin(1)
        mind = dist.gather(1, lab[:, None])[:, 0]
        new_inertia = float(mind.sum())
        counts = torch.bincount(lab, minlength=k).double()
        sums = torch.zeros_like(c).index_add_(0, lab, z)
        new_c = sums / counts.clamp_min(1)[:, None]
        empty = torch.nonzero(counts == 0)[:, 0]
        if empty.numel():  # re-seed empty clusters at the worst-served points
            far = torch.argsort(mind, descending=True)[: empty.numel()]
            new_c[empty] = z[far]
        shift = float(((new_c - c) ** 2).sum())
        c = new_c
        if abs(inertia - new_inertia) <= tol * max(new_inertia, 1e-12) and shift <= tol and not empty.numel():
            inertia = new_inertia
            break
        inertia = new_inertia
    return KMeansResult(c.float().numpy(), mean.astype(np.float32), scale.astype(np.float32), inertia, it)
