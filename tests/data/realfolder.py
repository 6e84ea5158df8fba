"""An own-labels archive of real single-lead recordings built from MIT-BIH Arrhythmia: lead MLII
stretches of one rhythm, 9 to 60 s long, written as WFDB records (360 Hz, the archive's gain)
with a 4-class labels CSV of the archive's own names (sinus, afib, brady, other) and the
MIT-BIH record as patient. Used by the tests and by the NOTES commands; nothing is downloaded."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OWN = {"(N": "sinus", "(AFIB": "afib", "(AFL": "afib", "(SBR": "brady"}
LENGTHS = (9.0, 21.0, 35.0, 60.0)
RECORDS = ("100", "103", "117", "201", "202", "203", "208", "209", "210", "219", "221", "222", "232")


def build(mitdb: Path, out: Path, records: tuple[str, ...] = RECORDS, per_record: int = 4) -> Path:
    """Write up to `per_record` stretches per (record, class); returns the labels CSV path."""
    import wfdb

    from ecg_edge.data.sources.rhythm_wfdb import rhythm_changes, segments_from_changes
    from ecg_edge.data.sources.wfdbio import read_wfdb

    out.mkdir(parents=True, exist_ok=True)
    rows = ["record,label,patient"]
    for rid in records:
        if not (mitdb / f"{rid}.hea").is_file():
            continue
        x, fs, names, _ = read_wfdb(mitdb / rid)
        lead = next((i for i, n in enumerate(names) if n.upper() == "MLII"), None)
        if lead is None:
            continue
        segs = segments_from_changes(rhythm_changes(mitdb / rid), x.shape[1], OWN, "other")
        taken: dict[str, int] = {}
        for seg in segs:
            label, start = seg.label, seg.start
            while taken.get(label, 0) < per_record:  # a long stretch gives several recordings
                k = taken.get(label, 0)
                n = min(int(LENGTHS[(k + len(rows)) % len(LENGTHS)] * fs), seg.end - start)
                if n < 9 * fs:
                    break
                name = f"r{rid}_{label}{k}"
                sig = x[lead, start:start + n].astype(np.float64)
                wfdb.wrsamp(name, fs=fs, units=["mV"], sig_name=["II"], p_signal=sig[:, None], fmt=["16"],
                            adc_gain=[200.0], baseline=[0], write_dir=str(out))
                rows.append(f"{name},{label},mitdb-{'201+202' if rid in ('201', '202') else rid}")
                taken[label] = k + 1
                start += n
    labels = out / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    return labels


if __name__ == "__main__":
    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
