"""The op registry against the rest of the definition of an op: the format's code table, the C
runtime's enum and interpreter, FORMAT.md's op table and the golden vectors that exercise it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ecg_edge.modelbin.layout import OP_NAMES
from ecg_edge.modelbin.ops import REGISTRY, RUNNABLE_OPS, OpDef, op_def

ROOT = Path(__file__).resolve().parents[2]


def test_registry_codes_and_names() -> None:
    assert frozenset(REGISTRY) == RUNNABLE_OPS
    for code, od in REGISTRY.items():
        assert isinstance(od, OpDef) and od.code == code and OP_NAMES[code] == od.name
        assert od.n_inputs in (1, 2)
        assert op_def(code) is od
    with pytest.raises(KeyError):
        op_def(max(OP_NAMES) + 1)


def test_registry_matches_the_c_runtime() -> None:
    header = (ROOT / "runtime_c/src/ecg_rt_internal.h").read_text()
    c_codes = {int(v): n for n, v in re.findall(r"ECG_RT_OP_([A-Z0-9_]+)\s*=\s*(\d+)", header)
               if n in OP_NAMES.values()}
    assert set(c_codes) == set(REGISTRY), "the C runtime and the registry run different ops"
    invoke = (ROOT / "runtime_c/src/invoke.c").read_text()
    for code, od in REGISTRY.items():
        assert c_codes[code] == od.name
        assert f"case ECG_RT_OP_{od.name}:" in invoke, f"invoke.c has no case for {od.name}"


def test_registry_matches_format_md() -> None:
    table = dict(re.findall(r"^\| (\d+) \| ([A-Z0-9_]+) \|", (ROOT / "export/FORMAT.md").read_text(), re.M))
    for code, od in REGISTRY.items():
        assert table.get(str(code)) == od.name


def test_golden_vectors_exercise_every_op() -> None:
    index = json.loads((ROOT / "export/golden/index.json").read_text())
    used = {name for v in index["vectors"].values() for name in v["ops"]}
    assert used == {od.name for od in REGISTRY.values()}


def test_reader_limits_match_the_c_loader() -> None:
    """The limits FORMAT.md section 10 leaves to the implementation are the same numbers in the
    Python reader and the C loader (they drifted once: c_out*span 2^31 vs 2^28)."""
    from ecg_edge.modelbin.layout import MAX_LAYER_WEIGHTS, MAX_TENSOR_ELEMENTS
    from ecg_edge.modelbin.ops.base import MAX_POOL_SUM

    header = (ROOT / "runtime_c/src/ecg_rt_internal.h").read_text()
    c = {n: 1 << int(e) for n, e in re.findall(r"#define ECG_RT_(MAX_\w+) \(1u << (\d+)\)", header)}
    assert c["MAX_WEIGHTS"] == MAX_LAYER_WEIGHTS
    assert c["MAX_ELEMS"] == MAX_TENSOR_ELEMENTS == c["MAX_PARAM"]
    assert c["MAX_POOL_SUM"] == MAX_POOL_SUM
