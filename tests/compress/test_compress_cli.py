from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.cli import main
from ecg_edge.data.prepared import PreparedManifest, load_prepared, save_prepared
from ecg_edge.layerplan.plan import CompressionPlan
from ecg_edge.numerics import quantize_weight_channels


def test_compress_cli_writes_plan_and_checkpoint(tiny, tmp_path: Path, capsys) -> None:
    ck, ds = tiny
    out = tmp_path / "c"
    rc = main(["compress", str(ck), "--data", str(ds), "--target", "cortex-m", "--method", "fixed-q4",
               "--out", str(out)])
    assert rc == 0
    plan = CompressionPlan.load(out / "plan.json")
    assert plan.target == "cortex-m4" and all(lp.bits == 4 for lp in plan.layers)
    assert plan.metrics["model_bytes"] >= sum(lp.bytes for lp in plan.layers)
    comp = load_checkpoint(out / "compressed.pt")
    assert comp.extra["plan"]["method"] == "fixed-q4"
    for lp in plan.layers:
        w = comp.state_dict[f"{lp.name}.weight"].numpy()
        lv, _ = quantize_weight_channels(w, lp.bits)
        assert int(np.count_nonzero(lv)) == lp.nnz
    assert "stem.conv" in capsys.readouterr().out


def _no_plan(out: Path) -> bool:
    return not (out / "plan.json").exists() and not (out / "compressed.pt").exists()


def test_compress_cli_bad_inputs(tiny, tmp_path: Path, capsys) -> None:
    ck, ds = tiny
    out = tmp_path / "bad"
    assert main(["compress", str(ck), "--data", str(ds), "--tolerance", "1.5", "--out", str(out)]) == 2
    assert "--tolerance" in capsys.readouterr().err and _no_plan(out)
    assert main(["compress", str(ck), "--data", str(ds), "--method", "fixed-q4", "--max-bytes", "64",
                 "--out", str(out)]) == 2
    assert "--max-bytes" in capsys.readouterr().err and _no_plan(out)
    assert main(["compress", str(ck), "--data", str(ds), "--method", "zip", "--out", str(out)]) == 2
    assert "--method" in capsys.readouterr().err and _no_plan(out)
    # A dataset whose classes disagree with the checkpoint.
    src = load_prepared(ds)
    m = src.manifest
    other = tmp_path / "other"
    splits = {s: (*src.split(s), src.groups(s)) for s in ("train", "val", "test")}
    save_prepared(other, PreparedManifest(task="x", classes=["a", "b", "c"], fs=m.fs, n_samples=m.n_samples,
                                          leads=m.leads), splits)
    assert main(["compress", str(ck), "--data", str(other), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "classes" in err and _no_plan(out)
    assert json.loads((ds / "manifest.json").read_text())["classes"] != ["a", "b", "c"]
