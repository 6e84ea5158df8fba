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
    """Integrate the ECGSYN z-equation for each wave separately: (n, W, n_samples) float64."""
    R, toff, sig, gain = _pad_plans(plans)
    n, K = R.shape
    dt = 1.0 / fs
    t = np.arange(n_samples) * dt
    base = np.arange(n)[:, None] * 1e6  # keeps the flattened R times globally sorted
    k = np.searchsorted((R + base).ravel(), (t[None, :] + base).ravel(), side="right").reshape(n, n_samples)
    k = k - 1 - np.arange(n)[:, None] * K  # interval index: R[k] <= t < R[k+1]
    r0 = np.take_along_axis(R, k, 1)
    rr = np.take_along_axis(R, k + 1, 1) - r0
    omega = 2.0 * np.pi / rr
    phi = omega * (t[None, :] - r0)  # phase in [0, 2 pi) within the interval
    drive = np.zeros((n, W, n_samples))
    z0 = np.zeros((n, W))
    for w in range(W):
        for step, shift in ((0, 0.0), (1, 2.0 * np.pi)):  # events of beat k, then of beat k+1
            kk = k + step
            g = np.take_along_axis(gain[:, :, w], kk, 1)
            if not g.any():
                continue
            th = omega * np.take_along_axis(toff[:, :, w], kk, 1)
            b = omega * np.take_along_axis(sig[:, :, w], kk, 1)
            d = phi - shift - th
            e = np.exp(-0.5 * (d / b) ** 2)
            # a_i = g / b^2 makes the event's peak in z equal to g (leak aside)
            drive[:, w] += -(g / b**2) * d * e * omega
            z0[:, w] += g[:, 0] * e[:, 0]
    decay = np.exp(-dt / TAU_Z)
    zi = (decay * z0)[..., None]
    z, _ = signal.lfilter([dt], [1.0, -decay], drive, axis=-1, zi=zi)
    return z
