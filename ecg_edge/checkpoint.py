"""Self-describing checkpoints: architecture, config, weights, classes and the data contract
(fs, leads, samples) travel together, so every later step can refuse a mismatch clearly."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ecg_edge.atomic import atomic_path
from ecg_edge.errors import EcgEdgeError

CHECKPOINT_VERSION = 1


@dataclass
class Checkpoint:
    arch: str
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    classes: list[str]
    data: dict[str, Any]  # {"task", "fs", "leads", "n_samples", "dataset_dir", "preprocessing"}
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # trainer state, compression plan, ...


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    payload = {"version": CHECKPOINT_VERSION, **ckpt.__dict__}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise EcgEdgeError(f"{path}: checkpoint not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise EcgEdgeError(f"{path}: not a readable ecg-edge checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(raw, dict) or raw.get("version") != CHECKPOINT_VERSION:
        raise EcgEdgeError(f"{path}: not an ecg-edge checkpoint (field 'version' missing or not {CHECKPOINT_VERSION})")
    try:
        return Checkpoint(**{k: raw[k] for k in ("arch", "config", "state_dict", "classes", "data")},
                          metrics=raw.get("metrics", {}), extra=raw.get("extra", {}))
    except KeyError as exc:
        raise EcgEdgeError(f"{path}: checkpoint lacks field {exc.args[0]!r}") from exc


def recorded_dataset_dir(data: Any, ckpt_path: str | Path | None = None) -> Path | None:
    """The dataset a checkpoint was trained on: absolute as recorded, or (older checkpoints,
    recorded relative to where training ran) relative to the checkpoint, else to the cwd."""
    d = data.get("dataset_dir") if isinstance(data, dict) else None
    if not d:
        return None
    p = Path(d)
    if p.is_absolute() or ckpt_path is None:
        return p
    for base in [Path(ckpt_path).resolve().parent, *Path(ckpt_path).resolve().parents[1:]]:
        if (base / p).is_dir():
            return base / p
    return p
