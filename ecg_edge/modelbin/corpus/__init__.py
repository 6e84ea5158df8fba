"""The malformed-file corpus: model.bin files that break one rule of export/FORMAT.md section 10
each, generated from the golden vectors (and a few hand-laid files for the size limits), every
one with the refusal it must get: the rule id (rules.py), the index of the section entry,
tensor or op it concerns, and the C status. Both readers run it (tests/runtime/test_corpus.py):
the Python reader must raise a ModelFormatError with that rule and index, the C loader
(ecg_rt_load_ex) must return that status, rule and index; a file marked host_only breaks a
field only the host reads, which the C loader must accept. A few valid variants (a permuted
section table, a conv stride change that keeps the output length) check both still accept.

    python -m ecg_edge.modelbin.corpus --out DIR      # DIR/NAME.bin + DIR/index.json
    python -m ecg_edge.modelbin.corpus --seeds DIR    # one fuzz seed per rule (runtime_c fuzz)
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ecg_edge import atomic
from ecg_edge.modelbin.corpus.base import BASES, Case, Cases, Model
from ecg_edge.modelbin.corpus.file_cases import (
    graph_cases,
    header_cases,
    limits_cases,
    meta_cases,
    section_table_cases,
    tensors_cases,
    trailer_cases,
)
from ecg_edge.modelbin.corpus.op_cases import op_cases
from ecg_edge.paths import GOLDEN_DIR

__all__ = ["BASES", "Case", "bases", "cases", "write_corpus", "write_seeds"]

def bases() -> dict[str, bytes]:
    return {name: (GOLDEN_DIR / f"{name}.bin").read_bytes() for name in BASES}


def cases() -> list[Case]:
    c = Cases()
    for name, data in bases().items():
        m = Model(name, data)
        c.add(f"{name}/valid", data, None)
        for part in (header_cases, section_table_cases, meta_cases, tensors_cases, op_cases, graph_cases,
                     trailer_cases):
            part(m, c)
    limits_cases(c)
    names = [x.name for x in c.out]
    dup = {x for x in names if names.count(x) > 1}
    if dup:
        raise AssertionError(f"corpus case names repeat: {sorted(dup)[:5]}")
    return c.out


def write_corpus(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for case in cases():
        fname = case.name.replace("/", "__").replace("^", "p") + ".bin"
        atomic.write_bytes(out / fname, case.data)
        index.append({**{k: v for k, v in asdict(case).items() if k != "data"}, "file": fname})
    atomic.write_text(out / "index.json", json.dumps({"format": "ecg-edge malformed model.bin corpus",
                                                     "cases": index}, indent=1) + "\n")
    return len(index)


def write_seeds(out: Path) -> int:
    """One fuzz seed ([ctrl=1][model]) per rule, the first case of each, for runtime_c's fuzz
    harness (its driver holds 512 seeds at most)."""
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str | None] = set()
    n = 0
    for case in cases():
        if case.rule in seen or case.host_only:
            continue
        seen.add(case.rule)
        (out / f"corpus_{(case.rule or 'valid').replace('.', '_')}.seed").write_bytes(b"\x01" + case.data)
        n += 1
    return n


