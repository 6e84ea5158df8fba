"""Synthetic ECG benchmark tasks from our ECGSYN implementation (see ecgsyn.py).

`make_synthetic_dataset` writes a prepared dataset (ecg_edge.data.prepared) split by synthetic
patient; `generate` returns the raw windows in mV for other uses (tests, plots, demos).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecg_edge.data.prepared import PreparedDataset, PreparedManifest, save_prepared
from ecg_edge.data.preprocess import PreprocessConfig, filter_and_normalise
from ecg_edge.data.splits import SplitConfig, split_by_patient
from ecg_edge.data.synth.ecgsyn import WAVES, wave_basis
from ecg_edge.data.synth.leads import LEADS_12, lead_matrix, select_leads
from ecg_edge.data.synth.noise import NoiseSource
from ecg_edge.data.synth.rhythms import TASK_CLASSES, atrial_signal, make_patient, window_plan
from ecg_edge.errors import DataError
from ecg_edge.progress import progress

__all__ = ["TASK_CLASSES", "SynthConfig", "SynthBatch", "generate", "make_synthetic_dataset"]

CHUNK = 48  # windows integrated together (bounded memory, vectorised work)


@dataclass
class SynthConfig:
    task: str = "chapman4"
    n: int = 2400
    leads: int | list[str] = 1  # 1 (lead II), 12, or explicit lead names
    seed: int = 0
    fs: float = 500.0
    n_samples: int = 5120
    windows_per_patient: int = 5
    label_noise: float = 0.0  # fraction of windows given a wrong (random other) label
    noise_scale: float = 1.0  # multiplies muscle/white-noise levels (0 = clean)
    real_noise: bool = True  # use NSTDB bw/ma when present
    noise_dir: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASK_CLASSES:
            raise DataError(f"synthetic task {self.task!r} unknown; expected one of {', '.join(TASK_CLASSES)}")
        if self.n < 1:
            raise DataError(f"synthetic data: --n must be >= 1, got {self.n}")
        if self.windows_per_patient < 1:
            raise DataError(f"synthetic data: windows_per_patient must be >= 1, got {self.windows_per_patient}")
        if not 0.0 <= self.label_noise < 1.0:
            raise DataError(f"synthetic data: label_noise must be in [0, 1), got {self.label_noise}")

    @property
    def lead_names(self) -> list[str]:
        if isinstance(self.leads, int):
            if self.leads == 1:
                return ["II"]
            if self.leads == 12:
                return list(LEADS_12)
            raise DataError(f"synthetic data: --leads must be 1 or 12 (or lead names), got {self.leads}")
        names = [LEADS_12[i] for i in select_leads(self.leads)]
        if not names:
            raise DataError("synthetic data: no leads selected")
        return names


@dataclass
class SynthBatch:
    X: np.ndarray  # float32 (n, leads, samples), mV, noisy, unfiltered
    y: np.ndarray  # int64 (n,)
    groups: np.ndarray  # str (n,) synthetic patient id
    classes: list[str]
    lead_names: list[str]
    subtypes: np.ndarray  # str (n,) rhythm subtype (e.g. AFL inside AFIB)
    info: dict = field(default_factory=dict)


def _class_counts(n: int, n_classes: int) -> list[int]:
    return [n // n_classes + (1 if c < n % n_classes else 0) for c in range(n_classes)]


def generate(cfg: SynthConfig) -> SynthBatch:
    """All windows of the task, deterministic in cfg (seed included)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    classes = TASK_CLASSES[cfg.task]
    lead_idx = select_leads(cfg.lead_names)
    proj = lead_matrix()[:, lead_idx]  # (3, L)
    L, T, fs = len(lead_idx), cfg.n_samples, cfg.fs
    dur = T / fs
    # patients: class-balanced, windows_per_patient windows each (the last one may get fewer)
    owners: list[tuple[int, int]] = []  # (patient index, window index within patient)
    patients = []
    for c, nc in enumerate(_class_counts(cfg.n, len(classes))):
        for j in range(0, nc, cfg.windows_per_patient):
            pi = len(patients)
            patients.append(make_patient(f"syn{cfg.seed}-{cfg.task}-{pi:05d}", c, classes[c], rng))
            owners += [(pi, w) for w in range(min(cfg.windows_per_patient, nc - j))]
    order = rng.permutation(len(owners))  # interleave classes so chunks are mixed
    owners = [owners[i] for i in order]
    noise = NoiseSource(fs, cfg.noise_dir, cfg.real_noise)
    X = np.empty((len(owners), L, T), dtype=np.float32)
    for s in progress(range(0, len(owners), CHUNK), desc=f"synthesize {cfg.task}", unit="chunk"):
        part = owners[s:s + CHUNK]
        plans, atria, vecs, atr_vec = [], [], [], []
        for pi, _ in part:
            p = patients[pi]
            plan, info = window_plan(p, rng, dur)
            plans.append(plan)
            atria.append(atrial_signal(p, rng, fs, T, info))
            vecs.append(p.vectors)
            atr_vec.append(p.atrial)
        basis = wave_basis(plans, fs, T)  # (m, W, T)
        A = np.einsum("mwd,dl->mwl", np.asarray(vecs), proj)  # per-wave lead weights
        x = np.einsum("mwt,mwl->mlt", basis, A)
        for i, a in enumerate(atria):
            if a is not None:
                x[i] += (atr_vec[i] @ proj)[:, None] * a[None, :]
        level = np.array([patients[pi].noise for pi, _ in part]) * rng.uniform(0.7, 1.3, len(part))
        x += noise.mixture(rng, len(part), L, T, np.clip(level * cfg.noise_scale, 0.0, None))
        X[s:s + len(part)] = x
    y = np.array([patients[pi].label for pi, _ in owners], dtype=np.int64)
    groups = np.array([patients[pi].pid for pi, _ in owners])
    subtypes = np.array([patients[pi].sub for pi, _ in owners])
    n_flipped = 0
    if cfg.label_noise > 0:
        flip = rng.random(len(y)) < cfg.label_noise
        y[flip] = (y[flip] + rng.integers(1, len(classes), int(flip.sum()))) % len(classes)
        n_flipped = int(flip.sum())
    info = {"noise": noise.kind, "noise_source": noise.source, "patients": len(patients),
            "label_noise_flipped": n_flipped, "seconds": round(time.perf_counter() - t0, 3),
            "waves": list(WAVES)}
    return SynthBatch(X, y, groups, list(classes), cfg.lead_names, subtypes, info)


def make_synthetic_dataset(task: str = "chapman4", n: int = 2400, leads: int | list[str] = 1, seed: int = 0,
                           out_dir: str | Path = "synthetic", *, split: SplitConfig | None = None,
                           preprocess: PreprocessConfig | None = None, **kw) -> PreparedDataset:
    """Generate, preprocess exactly like real data, split by synthetic patient, save atomically."""
    cfg = SynthConfig(task=task, n=n, leads=leads, seed=seed, **kw)
    pre = preprocess or PreprocessConfig(fs=cfg.fs, n_samples=cfg.n_samples)
    if pre.fs != cfg.fs or pre.n_samples != cfg.n_samples:
        raise DataError(f"synthetic data: preprocess fs/n_samples ({pre.fs}, {pre.n_samples}) must equal "
                        f"the generator's ({cfg.fs}, {cfg.n_samples})")
    sp = split or SplitConfig(seed=seed)
    batch = generate(cfg)
    X = filter_and_normalise(batch.X, pre)
    # strata = class x rhythm subtype, so that e.g. flutter is not concentrated in one split
    _, strata = np.unique(np.char.add(batch.y.astype(str), np.char.add("/", batch.subtypes)), return_inverse=True)
    idx = split_by_patient(strata, batch.groups, int(strata.max()) + 1, sp)
    manifest = PreparedManifest(
        task=cfg.task, classes=batch.classes, fs=cfg.fs, n_samples=cfg.n_samples, leads=batch.lead_names,
        skipped={}, source=f"synthetic:ecgsyn:{cfg.task}",
        provenance={"generator": "ecg_edge.data.synth (ECGSYN, McSharry et al. 2003)",
                    "config": {k: v for k, v in cfg.__dict__.items()},
                    "preprocess": pre.to_dict(), "split": {"fractions": list(sp.fractions), "seed": sp.seed,
                                                          "by": "patient"},
                    "subtype_counts": {str(k): int(v) for k, v in zip(*np.unique(batch.subtypes, return_counts=True), strict=True)},
                    **batch.info})
    splits = {s: (X[i], batch.y[i], batch.groups[i]) for s, i in idx.items()}
    return save_prepared(out_dir, manifest, splits)
