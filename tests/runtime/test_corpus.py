"""The malformed-file corpus (ecg_edge.modelbin.corpus) through both readers: each file is refused
by the Python reader and by the C loader for the rule, index and C status it was made to break
(a host-only field: refused by Python, loaded by C; a valid variant: loaded by both). Random
1-2 byte mutations of the golden vectors (CRC fixed) check the two readers also check in one
order: the same rule and index whatever breaks first."""

from __future__ import annotations

import random

import pytest

from ecg_edge.errors import ModelFormatError
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.corpus import Case, bases, cases
from ecg_edge.modelbin.corpus.base import HOST_ONLY, fix_crc
from ecg_edge.modelbin.reader import read_model
from ecg_edge.runtime import load_refusal, rule_names

# Rules no corpus file reaches, each with why.
UNREACHED = {
    R.NONE: "not a refusal",
}


@pytest.fixture(scope="module")
def corpus() -> list[Case]:
    return cases()


def python_refusal(data: bytes) -> tuple[str | None, int | None] | None:
    try:
        read_model(data, "corpus.bin")
    except ModelFormatError as exc:
        return exc.rule, exc.index
    return None


def test_rule_ids_are_the_c_loaders() -> None:
    assert rule_names() == list(R.RULES)


def test_both_readers_refuse_each_file_for_its_rule(corpus: list[Case]) -> None:
    drift = []
    for case in corpus:
        want = None if case.rule is None else (case.rule, case.index)
        want_c = None if case.rule is None or case.host_only else (case.status, case.rule, case.index)
        py, c = python_refusal(case.data), load_refusal(case.data)
        if py != want or c != want_c:
            drift.append(f"{case.name}: expected {want} / C {want_c}; Python {py}, C {c}")
    assert not drift, f"{len(drift)} of {len(corpus)} corpus files disagree:\n" + "\n".join(drift)


def test_corpus_reaches_every_rule(corpus: list[Case]) -> None:
    reached = {case.rule for case in corpus}
    missing = set(R.RULES) - reached - set(UNREACHED)
    assert not missing, f"no corpus file breaks {sorted(missing)}"
    assert None in reached  # valid variants too


def test_random_mutations_get_one_rule_from_both() -> None:
    rng = random.Random(2026)
    golden = bases()
    names = sorted(golden)
    drift, refused = [], 0
    for it in range(3000):
        name = rng.choice(names)
        d = bytearray(golden[name])
        for _ in range(rng.choice((1, 1, 2))):
            pos = rng.choice((rng.randrange(16, len(d)), rng.randrange(len(d))))
            if not 12 <= pos < 16:  # the CRC is fixed below
                d[pos] = rng.choice((rng.randrange(256), d[pos] ^ (1 << rng.randrange(8)), 0, 255))
        data = fix_crc(d)
        py, c = python_refusal(data), load_refusal(data)
        refused += py is not None
        if py is not None and py[0] in HOST_ONLY and c is None:
            continue
        if py != (None if c is None else c[1:]):
            drift.append(f"mutation {it} of {name}: Python {py}, C {c}")
    assert refused > 1200  # over half of the mutations break a rule: the check is not vacuous
    assert not drift, f"{len(drift)} mutations refused differently:\n" + "\n".join(drift[:20])
