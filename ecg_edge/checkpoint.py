"""Self-describing checkpoints: architecture, config, weights, classes and the data contract
(fs, leads, samples) travel together, so every later step can refuse a mismatch clearly."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ecg_edge.atomic import write_bytes
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


def _digest(obj: Any, h: Any) -> None:
    """Feed a checkpoint's content (tensors by dtype, shape and bytes) into a hash, in a fixed order."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(b"D%d" % len(obj))
        for k in sorted(obj, key=str):
            h.update(repr(k).encode())
            _digest(obj[k], h)
    elif isinstance(obj, (list, tuple)):
        h.update(b"L%d" % len(obj))
        for v in obj:
            _digest(v, h)
    else:
        h.update(repr(obj).encode())


def content_sha256(ckpt: Checkpoint) -> str:
    h = hashlib.sha256()
    _digest({k: getattr(ckpt, k) for k in ("arch", "config", "state_dict", "classes", "data", "metrics", "extra")}, h)
    return h.hexdigest()


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    """Serialized in memory first, so a failed write (disk full) is an OSError naming the path."""
    payload = {"version": CHECKPOINT_VERSION, **ckpt.__dict__, "sha256": content_sha256(ckpt)}
    buf = io.BytesIO()
    torch.save(payload, buf)
    write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise EcgEdgeError(f"{path}: checkpoint not found" + (" (it is a folder)" if path.is_dir() else ""))
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"ECGB":
        raise EcgEdgeError(f"{path}: this is a model.bin, not a PyTorch checkpoint; `ecg-edge run`, `evaluate` and "
                           "`inspect` take model.bin, `compress`/`export` need the .pt from `ecg-edge train`")
    if head[:2] != b"PK" and head[:1] != b"\x80":  # zip (torch >= 1.6) or a legacy pickle
        raise EcgEdgeError(f"{path}: not an ecg-edge checkpoint (a .pt from `ecg-edge train` or `compress` is a "
                           f"zip archive; this file starts with {head!r})")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        # never repeat torch's advice to load with weights_only=False: that runs code from the file
        raise EcgEdgeError(f"{path}: not a readable ecg-edge checkpoint (truncated, corrupted or not written by "
                           f"ecg-edge; {type(exc).__name__}); ecg-edge loads weights only") from exc
    if not isinstance(raw, dict) or raw.get("version") != CHECKPOINT_VERSION:
        raise EcgEdgeError(f"{path}: not an ecg-edge checkpoint (field 'version' missing or not {CHECKPOINT_VERSION})")
    try:
        ck = Checkpoint(**{k: raw[k] for k in ("arch", "config", "state_dict", "classes", "data")},
                        metrics=raw.get("metrics", {}), extra=raw.get("extra", {}))
    except KeyError as exc:
        raise EcgEdgeError(f"{path}: checkpoint lacks field {exc.args[0]!r}") from exc
    want = raw.get("sha256")  # absent in checkpoints written before checksums
    if want is not None and content_sha256(ck) != want:
        raise EcgEdgeError(f"{path}: checksum mismatch (the file was corrupted after it was written); "
                           "use another checkpoint (e.g. best.pt instead of last.pt) or retrain")
    return ck


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
