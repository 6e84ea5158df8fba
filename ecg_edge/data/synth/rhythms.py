"""Rhythm and morphology of synthetic patients: what makes each class what it is.

A patient fixes the anatomy (dipole axis, amplitudes, wave widths, PR, QT) and the class
parameters (heart rate, subtype, f-wave amplitude, ectopic focus, ...); each window of that
patient re-draws only the beat-to-beat variation and the noise. Class boundaries overlap the
way real labels do: sinus bradycardia, sinus rhythm and sinus tachycardia share heart rates near
60 and 100 bpm, some AF is nearly regular with f-waves under the noise, flutter with fixed
conduction is perfectly regular, PACs can be only mildly premature, PR and ST cut-offs are fuzzy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from ecg_edge.data.labels import SYNTH_TASKS
from ecg_edge.data.labels import TASK_CLASSES as _ALL_TASKS
from ecg_edge.data.synth.ecgsyn import WAVE, BeatPlan, W
from ecg_edge.data.synth.leads import random_rotation

# the synthetic tasks use exactly the real tasks' class lists (and order)
TASK_CLASSES: dict[str, list[str]] = {t: _ALL_TASKS[t] for t in SYNTH_TASKS}

# dipoles (X left, Y inferior, Z posterior), mV, of a normal heart
_BASE_VEC = {
    "P": (0.08, 0.12, -0.03),
    "Q": (-0.10, -0.03, -0.06),
    "R": (0.75, 0.70, 0.35),
    "S": (-0.22, -0.20, 0.30),
    "T": (0.22, 0.20, -0.10),
    "T2": (0.08, 0.07, -0.035),
}
_STE_DIR = np.array([0.05, 0.25, -0.15])
_STD_DIR = np.array([0.15, 0.20, 0.10])
_ATRIAL_DIR = np.array([0.05, 0.08, -0.12])
_RBBB_RP = np.array([-0.35, -0.12, -0.50])
_LBBB_RP = np.array([0.50, 0.25, 0.45])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@dataclass
class Patient:
    pid: str
    label: int
    cls: str
    sub: str  # subtype within the class (e.g. AF / AFL, ST / AT / AVNRT / WAP)
    hr: float
    vectors: np.ndarray  # (W, 3) dipole per wave
    atrial: np.ndarray  # (3,) dipole of f / flutter waves
    timing: dict[str, float]
    params: dict[str, float] = field(default_factory=dict)
    noise: float = 0.5


def make_patient(pid: str, label: int, cls: str, rng: np.random.Generator) -> Patient:
    rot = random_rotation(rng, 15.0)
    scale = rng.lognormal(0.0, 0.25)
    vec = np.zeros((W, 3))
    for name, v in _BASE_VEC.items():
        vec[WAVE[name]] = rot @ np.asarray(v) * scale * rng.lognormal(0.0, 0.2)
    vec[WAVE["ST"]] = rot @ _unit(_STE_DIR)  # ST gain carries the signed shift in mV
    focus = _unit(rng.normal(0, 1, 3))
    vec[WAVE["VQRS"]] = focus * rng.uniform(0.9, 1.8) * scale
    vec[WAVE["VT"]] = -0.35 * focus * rng.uniform(0.7, 1.3) * scale
    timing = {
        "pr": rng.uniform(0.12, 0.20), "p_sd": rng.uniform(0.018, 0.028),
        "q_t": -rng.uniform(0.018, 0.026), "q_sd": rng.uniform(0.007, 0.010),
        "r_sd": rng.uniform(0.009, 0.013),
        "s_t": rng.uniform(0.020, 0.028), "s_sd": rng.uniform(0.008, 0.011),
        "t_k": rng.uniform(0.25, 0.31), "t_sd": rng.uniform(0.040, 0.060),
        "t2_dt": rng.uniform(0.03, 0.05), "t2_sd": rng.uniform(0.030, 0.040),
        "st_k": rng.uniform(0.10, 0.13), "st_sd": rng.uniform(0.035, 0.05),
        "rp_t": 0.05, "rp_sd": 0.015,
        "v_sd": rng.uniform(0.035, 0.05), "vt_t": rng.uniform(0.28, 0.36), "vt_sd": rng.uniform(0.06, 0.08),
    }
    p = Patient(pid, label, cls, "", 0.0, vec, rot @ _unit(_ATRIAL_DIR), timing,
                noise=float(rng.uniform(0.15, 1.0)))
    p.params["sa"] = rng.uniform(0.0, 0.06)
    p.params["st_amp"] = rng.uniform(-0.04, 0.04)
    _CLASS_SETUP[cls](p, rng)
    return p


# ---- class definitions -------------------------------------------------------------------

def _sb(p: Patient, rng: np.random.Generator) -> None:
    p.sub, p.hr = "SB", rng.uniform(40.0, 60.5)
    p.params["sa"] = rng.uniform(0.0, 0.10)


def _sr(p: Patient, rng: np.random.Generator) -> None:
    irregular = rng.random() < 0.2  # "sinus irregularity" belongs to SR in Zheng et al.
    p.sub, p.hr = ("SI" if irregular else "SR"), rng.uniform(59.5, 100.5)
    if irregular:
        p.params["sa"] = rng.uniform(0.08, 0.16)


def _normal(p: Patient, rng: np.random.Generator) -> None:
    p.sub, p.hr = "SR", rng.uniform(52.0, 100.0)
    p.timing["pr"] = rng.uniform(0.12, 0.205)


def _af_common(p: Patient, rng: np.random.Generator) -> None:
    p.sub, p.hr = "AF", rng.uniform(55.0, 150.0)
    p.params["cv"] = rng.uniform(0.035, 0.07) if rng.random() < 0.3 else rng.uniform(0.10, 0.25)
    p.params["f_amp"] = rng.uniform(0.008, 0.07)
    p.params["f_hz"] = rng.uniform(4.5, 8.5)


def _afib(p: Patient, rng: np.random.Generator) -> None:
    if rng.random() < 0.2:  # atrial flutter is part of the AFIB group (Chapman: 445 AFL / 2225 AFIB)
        p.sub = "AFL"
        p.params["fl_hz"] = rng.uniform(4.0, 5.5)
        p.params["ratio"] = float(rng.choice([2, 3, 4], p=[0.5, 0.2, 0.3]))
        p.params["variable"] = float(rng.random() < 0.3)
        p.params["fl_amp"] = rng.uniform(0.04, 0.18)
        p.hr = 60.0 * p.params["fl_hz"] / p.params["ratio"]
    else:
        _af_common(p, rng)


def _gsvt(p: Patient, rng: np.random.Generator) -> None:
    # subtype shares follow Chapman-Shaoxing's GSVT group: ST 68 %, SVT 25 %, AT 5 %, AVNRT/AVRT/SAAWR ~1 %
    u = rng.random()
    if u < 0.66:
        p.sub, p.hr = "ST", rng.uniform(99.5, 160.0)
        p.timing["pr"] = rng.uniform(0.11, 0.17)
        p.params["sa"] = rng.uniform(0.0, 0.03)
    elif u < 0.92:
        p.sub, p.hr = "SVT", rng.uniform(140.0, 220.0)
        p.params["sa"] = rng.uniform(0.0, 0.01)
        if rng.random() < 0.4:  # retrograde P just after the QRS
            p.params["retro"] = rng.uniform(0.06, 0.09)
            p.params["p_gain"] = -rng.uniform(0.3, 0.7)
        else:
            p.params["p_gain"] = 0.0
    elif u < 0.98:
        p.sub, p.hr = "AT", rng.uniform(105.0, 190.0)
        p.params["p_gain"] = (1.0 if rng.random() < 0.6 else -1.0) * rng.uniform(0.4, 1.0)
        p.timing["pr"] = rng.uniform(0.10, 0.16)
        p.params["sa"] = rng.uniform(0.0, 0.015)
    else:
        p.sub, p.hr = "WAP", rng.uniform(95.0, 125.0)  # wandering atrial pacemaker
        p.params["wander"] = 1.0
        p.params["sa"] = rng.uniform(0.02, 0.06)


def _iavb(p: Patient, rng: np.random.Generator) -> None:
    p.sub, p.hr = "I-AVB", rng.uniform(48.0, 95.0)
    p.timing["pr"] = rng.uniform(0.195, 0.36)


def _lbbb(p: Patient, rng: np.random.Generator) -> None:
    p.sub, p.hr = "LBBB", rng.uniform(52.0, 100.0)
    sc = np.linalg.norm(p.vectors[WAVE["R"]]) / np.linalg.norm(_BASE_VEC["R"])
    rot = random_rotation(rng, 12.0)
    p.vectors[WAVE["R"]] = rot @ np.array([0.70, 0.40, 0.60]) * sc
    p.vectors[WAVE["Rp"]] = rot @ _LBBB_RP * sc * rng.uniform(0.6, 1.1)
    p.vectors[WAVE["Q"]] = 0.0
    p.vectors[WAVE["S"]] *= 0.3
    p.vectors[WAVE["T"]] = -0.9 * p.vectors[WAVE["T"]]
    p.vectors[WAVE["T2"]] = -0.9 * p.vectors[WAVE["T2"]]
    p.timing.update(r_sd=rng.uniform(0.018, 0.032), rp_t=rng.uniform(0.035, 0.055), rp_sd=rng.uniform(0.015, 0.022))


def _rbbb(p: Patient, rng: np.random.Generator) -> None:
    p.sub, p.hr = "RBBB", rng.uniform(52.0, 100.0)
    sc = np.linalg.norm(p.vectors[WAVE["R"]]) / np.linalg.norm(_BASE_VEC["R"])
    p.vectors[WAVE["Rp"]] = random_rotation(rng, 12.0) @ _RBBB_RP * sc * rng.uniform(0.5, 1.1)
    p.timing.update(rp_t=rng.uniform(0.055, 0.075), rp_sd=rng.uniform(0.014, 0.022),
                    s_t=rng.uniform(0.03, 0.04), s_sd=rng.uniform(0.014, 0.02))


def _pac(p: Patient, rng: np.random.Generator) -> None:
    p.sub, p.hr = "PAC", rng.uniform(52.0, 100.0)
    p.params["n_ect"] = float(rng.integers(1, 4))
    p.params["coupling"] = rng.uniform(0.55, 0.85)
    p.params["p_ect"] = rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 0.9)


def _pvc(p: Patient, rng: np.random.Generator) -> None:
    p.sub, p.hr = "PVC", rng.uniform(52.0, 100.0)
    p.params["n_ect"] = float(rng.integers(1, 4))
    p.params["coupling"] = rng.uniform(0.5, 0.78)


def _std(p: Patient, rng: np.random.Generator) -> None:
    _normal(p, rng)
    p.sub = "STD"
    rot = random_rotation(rng, 15.0)
    p.vectors[WAVE["ST"]] = rot @ _unit(_STD_DIR)
    p.params["st_amp"] = -rng.uniform(0.05, 0.30)


def _ste(p: Patient, rng: np.random.Generator) -> None:
    _normal(p, rng)
    p.sub = "STE"
    p.params["st_amp"] = rng.uniform(0.06, 0.40)


_CLASS_SETUP = {
    "SB": _sb, "SR": _sr, "AFIB": _afib, "GSVT": _gsvt,
    "Normal": _normal, "AF": _af_common, "I-AVB": _iavb, "LBBB": _lbbb, "RBBB": _rbbb,
    "PAC": _pac, "PVC": _pvc, "STD": _std, "STE": _ste,
}


# ---- one window ----------------------------------------------------------------------------

def _rr_sequence(p: Patient, rng: np.random.Generator, dur: float, hr: float) -> tuple[np.ndarray, np.ndarray]:
    """R-peak times and beat kinds (0 sinus/conducted, 1 PAC, 2 PVC) covering [0, dur]."""
    rr0 = 60.0 / hr
    sub = p.sub
    if sub == "AFL":
        fl = p.params["fl_hz"] * rng.uniform(0.98, 1.02)
        n_f = int((dur + 4.0) * fl) + 8
        m = int(p.params["ratio"])
        steps = np.full(n_f, m)
        if p.params.get("variable"):
            steps = rng.choice([m, m + 1, 2 * m] if m < 4 else [m - 2, m, m + 1], n_f, p=[0.6, 0.25, 0.15])
        first = -rng.uniform(0.2, 1.5)
        R = first + np.cumsum(steps) / fl - steps[0] / fl
        R = R[dur + 2.0 > R]
        p.params["_fl_now"], p.params["_fl_t0"] = fl, first - rng.uniform(0.12, 0.25)  # AV delay
        return R, np.zeros(len(R), dtype=np.int64)
    t = -rng.uniform(0.3, 1.3) * rr0 - 0.05
    R, kinds = [t], [0]
    fr, ph, ph2 = rng.uniform(0.15, 0.4), rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi)
    sa = p.params.get("sa", 0.0)
    ect_at: set[int] = set()
    if sub in ("PAC", "PVC"):
        n_beats = int(dur / rr0) + 2
        k = int(p.params["n_ect"])
        cand = np.arange(2, max(3, n_beats - 1))
        ect_at = set(rng.choice(cand, size=min(k, len(cand)), replace=False).tolist())
    i = 0
    while R[-1] < dur + 0.5:
        i += 1
        tt = R[-1]
        if sub == "AF":
            cv = p.params["cv"]
            rr = rr0 * np.exp(rng.normal(-cv * cv / 2, cv))
        else:
            rr = rr0 * (1 + sa * np.sin(2 * np.pi * fr * tt + ph) + 0.3 * sa * np.sin(2 * np.pi * 0.1 * tt + ph2)
                        + rng.normal(0, 0.006))
        kind = 0
        if i in ect_at:
            kind = 1 if sub == "PAC" else 2
            rr = rr0 * p.params["coupling"] * rng.uniform(0.95, 1.05)
        elif kinds[-1] == 2:
            rr = 2 * rr0 - (R[-1] - R[-2])  # full compensatory pause after a PVC
        elif kinds[-1] == 1:
            rr = rr0 * rng.uniform(1.0, 1.15)  # sinus node reset after a PAC
        R.append(tt + max(rr, 0.25))
        kinds.append(kind)
    return np.asarray(R), np.asarray(kinds)


def window_plan(p: Patient, rng: np.random.Generator, dur: float) -> tuple[BeatPlan, dict]:
    hr = p.hr * (1.0 + rng.normal(0.0, 0.02))
    R, kinds = _rr_sequence(p, rng, dur, hr)
    K = len(R)
    tm = p.timing
    rr = np.diff(R, append=R[-1] + 60.0 / hr)
    prev_rr = np.concatenate([[60.0 / hr], np.diff(R)])
    sq = np.sqrt(np.clip(prev_rr, 0.25, 2.0))
    toff = np.zeros((K, W))
    sig = np.zeros((K, W))
    gain = np.ones((K, W))
    setw = lambda name, t, s: (toff.__setitem__((slice(None), WAVE[name]), t),  # noqa: E731
                               sig.__setitem__((slice(None), WAVE[name]), s))
    pr = tm["pr"] * (0.9 + 0.1 * np.sqrt(np.clip(prev_rr, 0.3, 1.5)))
    setw("P", -pr, tm["p_sd"])
    setw("Q", tm["q_t"], tm["q_sd"])
    setw("R", 0.0, tm["r_sd"])
    setw("S", tm["s_t"], tm["s_sd"])
    t_peak = np.minimum(tm["t_k"] * sq, 0.62 * np.maximum(rr, 0.25))  # QT shortens with rate
    setw("T", t_peak, tm["t_sd"] * np.clip(sq, 0.7, 1.1))
    setw("T2", t_peak + tm["t2_dt"], tm["t2_sd"])
    setw("ST", tm["st_k"] * sq, tm["st_sd"])
    setw("Rp", tm["rp_t"], tm["rp_sd"])
    setw("VQRS", 0.0, tm["v_sd"])
    setw("VT", tm["vt_t"], tm["vt_sd"])
    gain[:, WAVE["ST"]] = p.params["st_amp"]
    gain[:, WAVE["VQRS"]] = 0.0
    gain[:, WAVE["VT"]] = 0.0
    if not p.vectors[WAVE["Rp"]].any():
        gain[:, WAVE["Rp"]] = 0.0
    gain[:, WAVE["P"]] = p.params.get("p_gain", 1.0)
    if p.sub in ("AF", "AFL"):
        gain[:, WAVE["P"]] = 0.0
    if "retro" in p.params:
        toff[:, WAVE["P"]] = p.params["retro"]
    if p.params.get("wander"):
        gain[:, WAVE["P"]] = rng.uniform(-0.3, 1.0, K)
        toff[:, WAVE["P"]] *= rng.uniform(0.8, 1.1, K)
    pac = kinds == 1
    gain[pac, WAVE["P"]] = p.params.get("p_ect", 1.0) * rng.uniform(0.8, 1.2, int(pac.sum()))
    toff[pac, WAVE["P"]] = -rng.uniform(0.10, 0.16, int(pac.sum()))
    pvc = kinds == 2
    for name in ("P", "Q", "R", "S", "T", "T2", "ST", "Rp"):
        gain[pvc, WAVE[name]] = 0.0
    gain[pvc, WAVE["VQRS"]] = 1.0
    gain[pvc, WAVE["VT"]] = 1.0
    info = {"hr": hr, "kinds": kinds}
    if p.sub == "AFL":
        info.update(fl_hz=p.params.pop("_fl_now"), fl_t0=p.params.pop("_fl_t0"))
    return BeatPlan(R, toff, sig, gain), info


def atrial_signal(p: Patient, rng: np.random.Generator, fs: float, n_samples: int,
                  info: dict) -> np.ndarray | None:
    """f-waves (AF) or flutter waves (AFL) in mV along the atrial dipole; None when sinus."""
    t = np.arange(n_samples) / fs
    if p.sub == "AF":
        f0 = p.params["f_hz"]
        inst = f0 * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 6.3)))
        phase = 2 * np.pi * np.cumsum(inst) / fs + rng.uniform(0, 6.3)
        env = 1 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 6.3))
        x = np.sin(phase) + 0.35 * np.sin(2 * phase + rng.uniform(0, 6.3))
        return (p.params["f_amp"] * env * x / 1.1).astype(np.float64)
    if p.sub == "AFL":
        ph = 2 * np.pi * info["fl_hz"] * (t - info["fl_t0"])  # flutter waves locked to the QRS
        return -p.params["fl_amp"] * signal.sawtooth(ph, 0.85)
    return None
