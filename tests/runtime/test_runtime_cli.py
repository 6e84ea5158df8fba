"""`ecg-edge run`: metrics through the C runtime equal the numpy executor's; parity reported;
a user's mistake is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from ecg_edge.cli import main
from ecg_edge.modelbin.golden import build_random_model
from ecg_edge.report.shipped import evaluate_model_bin
from tests.tinydata import make_dataset


def _dataset(root: Path) -> Path:
    """24 ECG-like test windows labelled with the random model's classes (c0..c3)."""
    make_dataset(root, "ecg", classes=[f"c{i}" for i in range(4)], sizes=(24, 4, 24), fs=100.0, task="golden")
    return root


def test_run_matches_numpy_evaluation(tmp_path, capsys):
    data, _, _ = build_random_model(3, 4, 0.5)
    mb_path = tmp_path / "model.bin"
    mb_path.write_bytes(data)
    ds = _dataset(tmp_path / "ds")
    rc = main(["run", str(mb_path), "--data", str(ds), "--split", "test", "--parity", "--json",
               "-o", str(tmp_path / "out")])
    captured = capsys.readouterr()
    out = captured.out
    assert rc == 0, out
    assert json.loads(out)["parity"]["identical"] == 24  # --json: only JSON on stdout
    out = captured.err
    res = json.loads((tmp_path / "out" / "run_test_c.json").read_text())
    ref = evaluate_model_bin(mb_path, ds, split="test", runtime="numpy")
    assert res["runtime"] == "c"
    for key in ("accuracy", "macro_f1", "macro_precision", "macro_recall", "confusion"):
        assert res[key] == ref[key], key
    assert res["parity"] == {"windows": 24, "identical": 24, "first_mismatch": None}
    assert "24/24 windows byte-identical" in out


def test_run_errors_are_one_line(tmp_path, capsys):
    rc = main(["run", str(tmp_path / "missing.bin"), "--data", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "no such model.bin" in err and "Traceback" not in err
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"ECGB" + b"\0" * 100)
    rc = main(["run", str(bad), "--data", str(_dataset(tmp_path / "ds"))])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
