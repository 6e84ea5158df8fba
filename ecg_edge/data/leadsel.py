"""Picking leads by name across archives that spell them differently (MLII in MIT-BIH)."""

from __future__ import annotations

from ecg_edge.data.synth.leads import LEADS_12
from ecg_edge.errors import DataError

ALIASES = {"mlii": "ii", "ml2": "ii", "mli": "i", "mliii": "iii", "avr": "avr", "avl": "avl", "avf": "avf"}
KNOWN = {L.lower() for L in LEADS_12} | set(ALIASES)


def canon(name: str) -> str:
    n = str(name).strip().lower().replace(" ", "")
    return ALIASES.get(n, n)


def parse_leads(spec: str | int | list[str] | None) -> list[str]:
    """'II' / 'I,II,V1' / '12' / 1 -> lead names; an unknown name is a DataError."""
    if spec is None or spec == "" or spec == 1 or spec == "1":
        return ["II"]
    if spec == 12 or spec == "12":
        return list(LEADS_12)
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s) for s in spec]
    names = [n for n in names if n]
    for n in names:
        if canon(n) not in KNOWN and not n.lower().startswith("lead"):
            raise DataError(f"unknown lead name {n!r}; expected names like {', '.join(LEADS_12)} (or MLII), or 1 / 12")
    return names


def lead_indices(record_leads: list[str], wanted: list[str]) -> list[int] | None:
    """Row of each wanted lead in the record; None when one is absent. A single-lead record
    serves a single-lead request whatever its lead is called (a wearable's only channel)."""
    have = [canon(n) for n in record_leads]
    idx = []
    for w in wanted:
        c = canon(w)
        if c not in have:
            if len(wanted) == 1 and len(record_leads) == 1 and record_leads[0].lower() not in KNOWN:
                return [0]
            return None
        idx.append(have.index(c))
    return idx
