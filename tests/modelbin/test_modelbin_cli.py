"""`ecg-edge export` / `inspect` / `evaluate X.bin` end to end on a tiny checkpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from torch import nn

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.cli import main
from ecg_edge.layerplan.plan import CompressionPlan, LayerPlan
from ecg_edge.modelbin.reader import read_model, read_model_file
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.report.shipped import evaluate_model_bin


def _plan_file(ckpt_path: Path, tmp: Path, bits: int = 4, sparsity: float = 0.5) -> Path:
    model = model_from_checkpoint(load_checkpoint(ckpt_path))
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Linear))]
    p = tmp / "plan.json"
    CompressionPlan("laq", "cortex-m4", [LayerPlan(n, bits, sparsity) for n in names]).save(p)
    return p


def test_export_inspect_evaluate(tiny_ckpt_path: Path, tiny_dataset: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan_file(tiny_ckpt_path, tmp_path)
    out = tmp_path / "m.bin"
    assert main(["export", str(tiny_ckpt_path), "--plan", str(plan), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"true CR [\d.]+x vs fp32 parameters \(\d+ B\), nominal 16\.00x; arena \d+ B \(lower bound \d+ B\)", text)
    mb = read_model_file(out)
    assert all(op.block.bits == 4 for op in mb.ops if op.block)

    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"stem.conv\s+CONV1D\s+\[128\]\[8\]\s+8x7\s+4\s+50\.0%\s+bitmask", text)
    assert "bytes by section: META" in text and "nominal CR 16.00x" in text and "lower bound" in text

    res = evaluate_model_bin(out, tiny_dataset, "test")
    assert res["n"] == 40 and 0 <= res["accuracy"] <= 1
    assert res["agreement_fakequant"] >= 0.9  # the source checkpoint path travels in META
    vs = res["vs_fakequant"]  # paired bootstrap CI of model.bin - fake-quant on the same windows
    assert vs["n"] == 40 and vs["macro_f1"]["delta_ci95"][0] <= vs["macro_f1"]["delta"] <= vs["macro_f1"]["delta_ci95"][1]
    assert len(res["predictions"]) == len(res["labels"]) == 40

    assert main(["evaluate", str(out), "--data", str(tiny_dataset), "--json", "--out", str(tmp_path / "eval")]) == 0
    printed = capsys.readouterr().out
    assert '"agreement_fakequant"' in printed
    json.loads(printed)  # --json prints only JSON on stdout
    assert main(["evaluate", str(out), "--data", str(tiny_dataset), "--out", str(tmp_path / "eval")]) == 0
    assert "model.bin - fake-quant: accuracy" in capsys.readouterr().out


def test_c_header_and_short_spelling(tiny_ckpt_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    # the card's short spelling: the lone .bin/.h argument is the output, the checkpoint is the default one
    work = tmp_path / "work"
    (work / "train").mkdir(parents=True)
    (work / "train" / "best.pt").write_bytes(tiny_ckpt_path.read_bytes())
    monkeypatch.setenv("ECG_EDGE_WORK", str(work))
    assert main(["export", str(tmp_path / "short.bin")]) == 0
    assert "as int8 (no plan)" in capsys.readouterr().out
    data = (tmp_path / "short.bin").read_bytes()
    assert main(["export", str(tmp_path / "model.h")]) == 0
    capsys.readouterr()
    h = (tmp_path / "model.h").read_text()
    image = read_model(data).device_image  # the C header holds what is flashed: no host trailer
    assert len(image) < len(data)
    assert "__attribute__((aligned(16)))" in h and f"model_len = {len(image)}u" in h
    body = bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", h.split("= {", 1)[1]))
    assert body == image
    assert main(["export", "--json", "-o", str(tmp_path / "j.bin")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["bytes"] == len(image) and summary["file_bytes"] == len(data)
    assert summary["arena_bytes"] >= summary["arena_lower_bound"]


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"ECGB" + bytes(100))
    assert main(["inspect", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.bin: header field 'version'" in err
    assert main(["inspect", str(tmp_path / "missing.bin")]) == 2
    assert "cannot read model file" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope.pt"), "-o", str(tmp_path / "x.bin")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert not (tmp_path / "x.bin").exists()


def test_evaluate_with_the_c_runtime_matches_numpy(tiny_ckpt_path: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    try:
        from ecg_edge.runtime import CRuntime  # noqa: F401
    except ImportError:
        pytest.skip("C runtime binding not built")
    out = tmp_path / "c.bin"
    assert main(["export", str(tiny_ckpt_path), "--plan", str(_plan_file(tiny_ckpt_path, tmp_path, 3, 0.4)),
                 "-o", str(out)]) == 0
    a = evaluate_model_bin(out, tiny_dataset, "test", runtime="numpy")
    b = evaluate_model_bin(out, tiny_dataset, "test", runtime="c")
    assert a["confusion"] == b["confusion"] and a["agreement_fakequant"] == b["agreement_fakequant"]


def test_output_suffix_picks_the_mobile_format(tiny_ckpt_path: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    """`ecg-edge export CKPT -o m.onnx` writes ONNX (not model.bin bytes under an .onnx name)."""
    import onnx

    out = tmp_path / "m.onnx"
    assert main(["export", str(tiny_ckpt_path), "--data", str(tiny_dataset), "-o", str(out)]) == 0
    onnx.checker.check_model(onnx.load(str(out)))
    assert out.read_bytes()[:4] != b"ECGB"
