"""Every option value is checked at parse time: one line naming the option and the value, exit 2,
before any work (no output folder appears)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from ecg_edge import options
from ecg_edge.cli import main

CASES = [
    (["data", "synth", "--fs", "nan"], "'--fs': 'nan' is not a finite number"),
    (["data", "synth", "--fs", "inf"], "'--fs': 'inf' is not a finite number"),
    (["data", "synth", "--noise-scale", "nan"], "'--noise-scale': 'nan' is not a finite number"),
    (["data", "synth", "--label-noise", "1.5"], "'--label-noise': '1.5': expected a number >= 0 and <= 1"),
    (["data", "synth", "--n", "0"], "'--n': 0 is not in the range x>=1"),
    (["data", "synth", "--seed", "-1"], "'--seed': -1 is not in the range x>=0"),
    (["data", "synth", "--leads", "II,V1,ii"], "'--leads': 'II,V1,ii': lead II, ii given more than once"),
    (["data", "prepare", "folder", "{tmp}", "--task", "chapman4", "--band", "40,0.5"], "'--band': '40,0.5': expected"),
    (["data", "prepare", "folder", "{tmp}", "--task", "chapman4", "--band", "0.5,300"], "below the Nyquist frequency 250"),
    (["data", "prepare", "folder", "{tmp}", "--task", "chapman4", "--band", "foo"], "'--band': 'foo'"),
    (["data", "prepare", "folder", "{tmp}", "--task", "chapman4", "--stride", "0"], "'--stride': 0"),
    (["data", "prepare", "folder", "{tmp}", "--task", "chapman4", "--target-fs", "nan"], "'--target-fs': 'nan'"),
    (["data", "prepare", "folder", "{tmp}", "--task", "chapman4", "--split", "0.5,x,0.2"], "'--split': '0.5,x,0.2'"),
    (["data", "prepare", "folder", "{tmp}", "--task", "chapman4", "--split", "0.5,0.5"], "expected 3"),
    (["train", "--threads", "0"], "'--threads': 0"),
    (["train", "--weight-decay", "-1"], "'--weight-decay': '-1': expected a number >= 0"),
    (["train", "--lr", "nan"], "'--lr': 'nan'"),
    (["train", "--epochs", "0"], "'--epochs': 0"),
    (["train", "--dropout", "1"], "'--dropout': '1'"),
    (["compress", "--val-max", "0"], "'--val-max': 0"),
    (["compress", "--finetune-lr", "nan"], "'--finetune-lr': 'nan'"),
    (["compress", "--max-latency-ms", "-1"], "'--max-latency-ms': '-1': expected a number > 0"),
    (["compress", "--tolerance", "inf"], "'--tolerance': 'inf'"),
    (["compress", "--max-bytes", "0"], "'--max-bytes': 0"),
    (["report", "ablation", "--finetune-lr", "-1"], "'--finetune-lr': '-1'"),
    (["export", "--calib-windows", "0"], "'--calib-windows': 0"),
    (["simulate", "--n", "0"], "'--n': 0"),
    (["demo", "--threads", "0"], "'--threads': 0"),
]


@pytest.mark.parametrize("argv,msg", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_values_are_refused_at_parse_time(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch, argv: list[str], msg: str) -> None:
    monkeypatch.setenv("ECG_EDGE_WORK", str(tmp_path / "work"))
    out = tmp_path / "out"
    argv = [a.format(tmp=tmp_path) for a in argv]
    if argv[0] == "data":
        argv += ["--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ecg-edge: error: ") and "\n" not in err and "Traceback" not in err, err
    assert msg in err, err
    assert not out.exists() and not (tmp_path / "work").exists()


def test_types_directly() -> None:
    assert options.POSITIVE.convert("2.5", None, None) == 2.5
    assert options.Band().convert("none", None, None) is None
    assert options.Band().convert("0.5,40", None, None) == (0.5, 40.0)
    assert options.NumberList(3).convert("0.7,0.15,0.15", None, None) == (0.7, 0.15, 0.15)
    assert options.Leads().convert("12", None, None) == "12"
    for t, v in ((options.POSITIVE, "0"), (options.FRACTION, "-0.1"), (options.Band(), "0.5,inf"),
                 (options.Leads(), "0"), (options.Leads(), "II,,V1")):
        with pytest.raises(click.BadParameter):
            t.convert(v, None, None)
    with pytest.raises(click.BadParameter, match="Nyquist"):
        options.check_band_below_nyquist((0.5, 40.0), 64.0)
