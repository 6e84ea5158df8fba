"""Our vectorised implementation of McSharry et al.'s ECGSYN dynamical model (IEEE TBME 2003).

ECGSYN moves a point on a limit cycle in the (x, y) plane,
    dx/dt = a x - w y,   dy/dt = a y + w x,   a = 1 - sqrt(x^2 + y^2),   w = 2 pi / RR,
and drives the ECG coordinate z with Gaussian events at fixed phases theta_i (P, Q, R, S, T):
    dz/dt = - sum_i a_i dtheta_i exp(-dtheta_i^2 / (2 b_i^2)) - (z - z0(t)).
Started on the unit circle the radial term is zero for ever, so (x, y) = (cos theta, sin theta)
with theta advancing at w(t): we integrate the phase exactly, beat by beat (per-beat RR control:
w is constant between consecutive R peaks, theta = 0 at every R peak), and integrate the linear
z equation exactly for a piecewise-constant drive (an exponential-decay IIR filter), so whole
batches of windows are computed with array operations instead of a per-sample ODE solver.

Each wave is an event of its own (a "basis" trace per wave); a lead is a weighted sum of the
basis traces, the weights being the projection of each wave's cardiac dipole onto that lead.
Wave timing is given in seconds relative to its R peak and converted to phase with the current
RR, which is ECGSYN's heart-rate scaling of the event angles (QT shortening is applied by the
caller through the T-wave offsets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

WAVES = ("P", "Q", "R", "S", "T", "T2", "ST", "Rp", "VQRS", "VT")
W = len(WAVES)
WAVE = {name: i for i, name in enumerate(WAVES)}
TAU_Z = 1.0  # s, ECGSYN's relaxation of z towards the baseline z0


@dataclass
class BeatPlan:
    """Per-beat events of one window. R (K,) R-peak times in s relative to the window start,
    strictly increasing, R[0] < 0 and R[-1] > window length. toff/sigma/gain (K, W): event time
    relative to its R peak (s), width (s) and amplitude factor."""

    R: np.ndarray
    toff: np.ndarray
    sigma: np.ndarray
    gain: np.ndarray


def _pad_plans(plans: list[BeatPlan]) -> tuple[np.ndarray, ...]:
    K = max(len(p.R) for p in plans)
    n = len(plans)
    R = np.empty((n, K))
    toff = np.zeros((n, K, W))
    sig = np.full((n, K, W), 0.01)
    gain = np.zeros((n, K, W))
    for i, p in enumerate(plans):
        k = len(p.R)
        R[i, :k] = p.R
        # pad with far-away silent beats so every sample finds an interval
        R[i, k:] = p.R[-1] + 10.0 * np.arange(1, K - k + 1)
        toff[i, :k], sig[i, :k], gain[i, :k] = p.toff, p.sigma, p.gain
    return R, toff, sig, gain


def wave_basis(plans: list[BeatPlan], fs: float, n_samples: int) -> np.ndarray:
    """Integrate the ECGSYN z-equation for each wave separately: (n, W, n_samples) float64.

    Within RR interval j the phase is phi = w_j (t - R_j) with w_j = 2 pi / RR_j, and an event at
    angle theta = w_j t_i with width b = w_j sigma_i gives the drive
        -(a / 1) dtheta exp(-dtheta^2 / 2 b^2),  dtheta = w_j (t - R_j - t_i),
    which with a = g w_j / b^2 is exactly d/dt [g exp(-(t - t_c)^2 / 2 sigma^2)], t_c = R_j + t_i.
    So each event is evaluated in time, only within +-5 sigma of its centre and only inside the two
    RR intervals its beat owns (as ECGSYN evaluates it), and scattered into the drive; this sparse
    evaluation is what makes thousands of windows per second possible.
    """
    R, toff, sig, gain = _pad_plans(plans)
    n, K = R.shape
    dt = 1.0 / fs
    lo = np.concatenate([np.full((n, 1), -np.inf), R[:, :-1]], axis=1)  # beat k owns [R[k-1], R[k+1])
    hi = np.concatenate([R[:, 1:], np.full((n, 1), np.inf)], axis=1)
    flats, vals = [], []
    z0 = np.zeros((n, W))
    row = np.broadcast_to(np.arange(n)[:, None], (n, K))
    for w in range(W):
        g, sd = gain[:, :, w], sig[:, :, w]
        tc = R + toff[:, :, w]
        live = (g != 0) & (tc + 5 * sd > 0) & (tc - 5 * sd < n_samples * dt)
        if not live.any():
            continue
        g, sd, tc, l0, h0, rows = g[live], sd[live], tc[live], lo[live], hi[live], row[live]
        H = int(np.ceil(5 * sd.max() * fs)) + 1
        idx = np.rint(tc * fs).astype(np.int64)[:, None] + np.arange(-H, H + 1)
        t = idx * dt
        ok = (idx >= 0) & (idx < n_samples) & (t >= l0[:, None]) & (t < h0[:, None])
        u = (t - tc[:, None]) / sd[:, None]
        val = -(g / sd)[:, None] * u * np.exp(-0.5 * u * u)
        flat = (rows[:, None] * W + w) * n_samples + idx
        flats.append(flat[ok])
        vals.append(val[ok])
        at0 = (l0 <= 0.0) & (h0 > 0.0)  # the state at t = 0: events alive in the first interval
        np.add.at(z0[:, w], rows[at0], g[at0] * np.exp(-0.5 * (tc[at0] / sd[at0]) ** 2))
    size = n * W * n_samples
    drive = (np.bincount(np.concatenate(flats), weights=np.concatenate(vals), minlength=size) if flats
             else np.zeros(size)).reshape(n, W, n_samples)
    decay = np.exp(-dt / TAU_Z)
    zi = (decay * z0)[..., None]
    z, _ = signal.lfilter([dt], [1.0, -decay], drive, axis=-1, zi=zi)
    return z
