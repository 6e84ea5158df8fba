"""Sources on the real samples under $ECG_EDGE_DATA (read in place, linked into tmp folders)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ecg_edge.data.prepare import PrepareConfig, prepare
from ecg_edge.data.prepared import SPLITS
from ecg_edge.data.records import SkipReport
from ecg_edge.data.sources.challenge import iter_challenge
from ecg_edge.data.sources.rhythm_wfdb import iter_cpsc2021, iter_mitdb
from ecg_edge.data.sources.wfdbio import dx_codes


def _link(src: Path, names: list[str], dest: Path, exts: tuple[str, ...]) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for n in names:
        for e in exts:
            os.symlink(src / f"{n}{e}", dest / f"{n}{e}")
    return dest


def test_challenge_layout_twelve_leads_and_maps(shared_data: Path) -> None:
    root = shared_data / "cinc2021_sample"
    skip = SkipReport()
    recs = {r.record_id: r for r in iter_challenge(root, "chapman4", skip)}
    # E07500: Dx 67741000119109 (LAE), 426177001 (SB) -> SB; E07503 426783006 -> SR
    assert recs["E07500"].labels == ["SB"]
    r = recs["E07500"]
    assert r.signal.shape == (12, 5000) and r.fs == 500 and r.lead_names[:3] == ["I", "II", "III"]
    assert r.signal.dtype == np.float32 and abs(float(r.signal[0, 0]) - (-0.068)) < 1e-6  # adc / 1000 per mV
    assert {lab for rec in recs.values() for lab in rec.labels} <= {"SB", "AFIB", "GSVT", "SR"}
    assert skip.counts["several classes"] >= 1 and skip.counts["no class of the task"] >= 1
    assert len(recs) + skip.total() == 50
    skip9 = SkipReport()
    recs9 = {r.record_id: r for r in iter_challenge(root, "cpsc9", skip9)}
    assert recs9 and {lab for rec in recs9.values() for lab in rec.labels} <= {"Normal", "PAC", "RBBB", "AF", "PVC",
                                                                              "I-AVB", "LBBB", "STD", "STE"}
    assert len(recs9) + skip9.total() == 50


def test_both_dx_spellings(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "cinc2021_sample"
    for name, dx in (("A1", "#Dx: 164889003"), ("A2", "# Dx: 164889003,59931005")):
        text = (src / "E07503.hea").read_text().replace("E07503.mat", f"{name}.mat")
        lines = [ln for ln in text.splitlines() if "Dx" not in ln]
        first = lines[0].split()
        first[0] = name
        (tmp_path / f"{name}.hea").write_text("\n".join([" ".join(first)] + lines[1:] + [dx]) + "\n")
        os.symlink(src / "E07503.mat", tmp_path / f"{name}.mat")
    assert dx_codes("#Dx:1,2") == ["1", "2"] and dx_codes("# Dx: 3") == ["3"] and dx_codes("# Rx: x") is None
    recs = list(iter_challenge(tmp_path, "chapman4", SkipReport()))
    assert [(r.record_id, r.labels) for r in recs] == [("A1", ["AFIB"]), ("A2", ["AFIB"])]
    assert [r.labels for r in iter_challenge(tmp_path, "cpsc9", SkipReport())] == [["AF"], ["AF"]]


def test_challenge_prepare_twelve_leads(shared_data: Path, tmp_path: Path) -> None:
    ds = prepare(PrepareConfig("challenge", str(shared_data / "cinc2021_sample"), "chapman4", leads="12"),
                 tmp_path / "c4")
    X, _ = ds.split("train")
    assert X.shape[1:] == (12, 5120) and ds.manifest.leads[6] == "V1"
    assert ds.manifest.provenance["split"]["by"] == "record"
    assert ds.manifest.skipped["several classes"] >= 1


def test_mitdb_window_counts(shared_data: Path, tmp_path: Path) -> None:
    root = _link(shared_data / "mitdb", ["100", "201", "202", "232"], tmp_path / "mitdb", (".hea", ".dat", ".atr"))
    recs = {r.record_id: r for r in iter_mitdb(root, "mitdb-rhythm", SkipReport())}
    assert recs["201"].patient_id == recs["202"].patient_id != recs["100"].patient_id
    assert [(s.start, s.label) for s in recs["100"].segments] == [(18, "SR")]
    assert recs["201"].segments[0].label == "AFIB" and any(s.label == "other" for s in recs["201"].segments)
    ds = prepare(PrepareConfig("mitdb", str(root), "mitdb-rhythm", split=_split()), tmp_path / "out")
    per_group: dict[str, dict[int, int]] = {}
    for s in SPLITS:
        _, y = ds.split(s)
        for g, c in zip(ds.groups(s), y, strict=True):
            per_group.setdefault(str(g), {}).setdefault(int(c), 0)
            per_group[str(g)][int(c)] += 1
    # 650000 samples at 360 Hz -> 902778 at 500 Hz; '(N' from sample 18 (-> 25), '(SBR' from 76 (-> 106):
    # floor((902778 - 5120 - start) / 5120) + 1 = 176 windows of 5120 each
    assert per_group["mitdb-100"] == {0: 176}
    assert per_group["mitdb-232"] == {2: 176}
    assert set(per_group) == {"mitdb-100", "mitdb-201+202", "mitdb-232"}


def _split():
    from ecg_edge.data.splits import SplitConfig
    return SplitConfig(fractions=(0.34, 0.33, 0.33), seed=0)


def test_cpsc2021_af_windows(shared_data: Path, tmp_path: Path) -> None:
    root = _link(shared_data / "cpsc2021_sample", ["data_21_7", "data_84_1", "data_101_6"], tmp_path / "c21",
                 (".hea", ".dat", ".atr"))
    recs = {r.record_id: r for r in iter_cpsc2021(root, "cpsc2021-af", SkipReport())}
    assert [s.label for s in recs["data_21_7"].segments] == ["non-AF"]  # no rhythm notes: non-AF throughout
    assert recs["data_84_1"].segments[0].label == "AF" and recs["data_84_1"].segments[0].start == 0
    seg101 = recs["data_101_6"].segments
    assert [(s.start, s.label) for s in seg101[:3]] == [(0, "non-AF"), (3132, "AF"), (5639, "non-AF")]
    ds = prepare(PrepareConfig("cpsc2021", str(root), "cpsc2021-af", split=_split()), tmp_path / "out")
    counts: dict[str, list[int]] = {}
    for s in SPLITS:
        _, y = ds.split(s)
        for g, c in zip(ds.groups(s), y, strict=True):
            counts.setdefault(str(g), [0, 0])[int(c)] += 1
    # data_21_7: 47201 samples at 200 Hz -> 118003 at 500 Hz -> 23 windows, all non-AF
    assert counts["cpsc2021-21"] == [23, 0]
    expect_af = 0  # AF windows of data_84_1 and data_101_6 from their annotation intervals
    for rid in ("data_84_1", "data_101_6"):
        r = recs[rid]
        for seg in r.segments:
            if seg.label == "AF":
                a, b = round(seg.start * 2.5), min(round(seg.end * 2.5), int(np.ceil(r.signal.shape[1] * 2.5)))
                expect_af += max(0, (b - a - 5120) // 5120 + 1)
    assert counts["cpsc2021-84"][1] + counts["cpsc2021-101"][1] == expect_af > 40
