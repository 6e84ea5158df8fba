"""export/golden: regenerating gives identical bytes, and the committed files are self-consistent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ecg_edge.modelbin import executor
from ecg_edge.modelbin.golden import GOLDEN_DIR, build_random_model, generate
from ecg_edge.modelbin.reader import read_model


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    generate(tmp_path)
    committed = sorted(p.name for p in GOLDEN_DIR.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (GOLDEN_DIR / name).read_bytes(), name


def test_golden_vectors_run_and_cover_the_format() -> None:
    index = json.loads((GOLDEN_DIR / "index.json").read_text())
    bits, encs, ops = set(), set(), set()
    for name, v in index["vectors"].items():
        data = (GOLDEN_DIR / f"{name}.bin").read_bytes()
        assert len(data) < 16384, "golden models stay small"
        mb = read_model(data, name)
        L, C = mb.input_shape
        x = np.fromfile(GOLDEN_DIR / f"{name}.input.i8", dtype=np.int8).reshape(L, C)
        want = np.fromfile(GOLDEN_DIR / f"{name}.expected.i8", dtype=np.int8)
        assert np.array_equal(executor.run(mb, x), want)
        trace = np.fromfile(GOLDEN_DIR / f"{name}.trace.i8", dtype=np.int8)
        got = np.concatenate([t.ravel() for t in executor.run_traced(mb, x)])
        assert np.array_equal(trace, got)
        bits |= set(v["bits"])
        encs |= set(v["encodings"])
        ops |= set(v["ops"])
    assert {1, 2, 3, 4, 5, 8} <= bits
    assert encs == {"dense", "bitmask", "runlength"}
    assert ops == {"CONV1D", "LINEAR", "ADD", "MAXPOOL1D", "AVGPOOL1D", "GLOBAL_AVGPOOL", "RELU",
                   "LAYERNORM", "GELU", "GROUPNORM", "SOFTMAX", "MATMUL", "LUT"}
    versions = {v["version"] for v in index["vectors"].values()}
    assert versions == {1, 2, 3}  # CNNs stay version 1; the transformer needs 2, LUT tables 3


def test_build_random_model_is_deterministic() -> None:
    a = build_random_model(7, 3, 0.4)
    b = build_random_model(7, 3, 0.4)
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
    assert build_random_model(8, 3, 0.4)[0] != a[0]
