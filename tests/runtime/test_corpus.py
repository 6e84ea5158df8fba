"""The malformed-file corpus (ecg_edge.modelbin.corpus) through both readers: each file is refused
by the Python reader and by the C loader for the rule, index and C status it was made to break
(a host-only field: refused by Python, loaded by C; a valid variant: loaded by both)."""

from __future__ import annotations

import pytest

from ecg_edge.errors import ModelFormatError
from ecg_edge.modelbin import rules as R
from ecg_edge.modelbin.corpus import Case, cases
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
