"""Golden vectors (export/golden, modelbin.golden) for the simulated-target tests."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ecg_edge.paths import REPO_ROOT

GOLDEN = REPO_ROOT / "export" / "golden"


@dataclass
class Golden:
    name: str
    model: bytes
    x: np.ndarray  # (1, L, C) int8
    expected: np.ndarray  # (n_classes,) int8


def load_golden(name: str) -> Golden:
    index = json.loads((GOLDEN / "index.json").read_text())["vectors"]
    L, C = index[name]["input_shape"]
    x = np.frombuffer((GOLDEN / f"{name}.input.i8").read_bytes(), np.int8).reshape(1, L, C)
    exp = np.frombuffer((GOLDEN / f"{name}.expected.i8").read_bytes(), np.int8)
    return Golden(name, (GOLDEN / f"{name}.bin").read_bytes(), x, exp)


def golden_names() -> list[str]:
    p = GOLDEN / "index.json"
    return sorted(json.loads(p.read_text())["vectors"]) if p.is_file() else []


def host_runtime_available() -> bool:
    try:
        from ecg_edge.runtime import CRuntime  # noqa: F401
    except ImportError:
        return False
    return True


