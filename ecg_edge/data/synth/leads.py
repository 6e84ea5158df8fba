"""From cardiac dipole to leads: every wave has a 3-D dipole (Frank X left, Y inferior, Z
posterior), projected onto the 12 standard leads with Dower's VCG-to-12-lead coefficients.
The limb leads III, aVR, aVL, aVF follow Einthoven/Goldberger from I and II, so the set is
exactly as consistent as a real 12-lead recording."""

from __future__ import annotations

import numpy as np

from ecg_edge.errors import DataError

LEADS_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

# Dower et al. (1980) inverse transform, rows I, II, V1..V6, columns X, Y, Z.
_DOWER = np.array([
    [0.632, -0.235, 0.059],
    [0.235, 1.066, -0.132],
    [-0.515, 0.157, -0.917],
    [0.044, 0.164, -1.387],
    [0.882, 0.098, -1.277],
    [1.213, 0.127, -0.601],
    [1.125, 0.127, -0.086],
    [0.831, 0.076, 0.230],
])


def lead_matrix() -> np.ndarray:
    """(3, 12): dipole (X, Y, Z) -> the 12 standard leads in LEADS_12 order."""
    i, ii = _DOWER[0], _DOWER[1]
    limb = [i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2]
    return np.stack(limb + list(_DOWER[2:]), axis=1)


def select_leads(names: list[str] | tuple[str, ...]) -> list[int]:
    idx = []
    for n in names:
        match = [j for j, L in enumerate(LEADS_12) if L.lower() == str(n).lower()]
        if not match:
            raise DataError(f"synthetic data: unknown lead name {n!r}; expected one of {', '.join(LEADS_12)}")
        idx.append(match[0])
    return idx


def random_rotation(rng: np.random.Generator, sd_deg: float) -> np.ndarray:
    """Small random rotation of the heart's axis (anatomy, posture) about X, Y and Z."""
    a = np.deg2rad(rng.normal(0.0, sd_deg, 3))
    cx, sx, cy, sy, cz, sz = np.cos(a[0]), np.sin(a[0]), np.cos(a[1]), np.sin(a[1]), np.cos(a[2]), np.sin(a[2])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx
