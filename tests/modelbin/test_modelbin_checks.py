"""Combinations that would silently give a wrong model.bin are refused before any work, in one
line: a plan for another model, a fine-tuned plan with un-fine-tuned weights, calibration data
of another task, a model.bin passed as a checkpoint, a CRC-valid model.bin with a broken META plan."""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from ecg_edge.checkpoint import save_checkpoint
from ecg_edge.cli import main
from ecg_edge.compress.layers import discover_layers
from ecg_edge.data.prepared import PreparedManifest, load_prepared, save_prepared
from ecg_edge.layerplan.plan import CompressionPlan, LayerPlan
from ecg_edge.models.registry import model_from_checkpoint

from .conftest import make_checkpoint


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("ecg-edge: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _plan(ckpt_path: Path, tiny_dataset: Path, **change) -> dict:
    from ecg_edge.checkpoint import load_checkpoint

    ck = load_checkpoint(ckpt_path)
    layers = [LayerPlan(li.name, 4, 0.0, li.params) for li in discover_layers(model_from_checkpoint(ck))]
    plan = asdict(CompressionPlan("fixed-q4", "cortex-m4", layers))
    plan.update(change)
    return plan


@pytest.mark.parametrize("case,msg", [
    ("unknown", "are not in the model"),
    ("missing", "no entry for layer(s)"),
    ("duplicate", "listed more than once"),
    ("none", "lists no layers"),
    ("params", "weights in the plan but"),
    ("arch", "made for a hubert_ecg model"),
    ("classes", "made for classes"),
    ("list", "a plan must be a JSON object"),
])
def test_plan_of_another_model_is_refused(tiny_ckpt_path: Path, tiny_dataset: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str], case: str, msg: str) -> None:
    plan = _plan(tiny_ckpt_path, tiny_dataset)
    if case == "unknown":
        plan["layers"][0]["name"] = "blocks.9.conv9"
    elif case == "missing":
        plan["layers"] = plan["layers"][1:]
    elif case == "duplicate":
        plan["layers"].append(dict(plan["layers"][0]))
    elif case == "none":
        plan["layers"] = []
    elif case == "params":
        plan["layers"][-1]["params"] += 12  # e.g. a flatten head or another class count
    elif case == "arch":
        plan["provenance"] = {"arch": "hubert_ecg"}
    elif case == "classes":
        plan["provenance"] = {"classes": ["N", "AF"]}
    (tmp_path / "plan.json").write_text(json.dumps([plan] if case == "list" else plan))
    out = tmp_path / "m.bin"
    assert main(["export", str(tiny_ckpt_path), "--plan", str(tmp_path / "plan.json"), "--data", str(tiny_dataset),
                 "-o", str(out)]) == 2
    assert msg in _err(capsys)
    assert not out.exists()


def test_finetuned_plan_needs_its_own_weights(tiny_ckpt_path: Path, tiny_dataset: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(tiny_ckpt_path, tiny_dataset, metrics={"finetune_epochs": 2})
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    args = ["--plan", str(tmp_path / "plan.json"), "--data", str(tiny_dataset), "-o", str(tmp_path / "m.bin")]
    assert main(["export", str(tiny_ckpt_path), *args]) == 2
    assert "was fine-tuned (2 epochs)" in (err := _err(capsys)) and "compressed.pt" in err
    # a compressed checkpoint made with another plan would be compressed twice
    from ecg_edge.checkpoint import load_checkpoint

    ck = load_checkpoint(tiny_ckpt_path)
    other = _plan(tiny_ckpt_path, tiny_dataset)
    other["layers"][0]["bits"] = 2
    ck.extra["plan"] = other
    save_checkpoint(tmp_path / "compressed.pt", ck)
    assert main(["export", str(tmp_path / "compressed.pt"), *args]) == 2
    assert "compressed twice" in _err(capsys)
    ck.extra["plan"] = plan  # its own plan: fine
    save_checkpoint(tmp_path / "compressed.pt", ck)
    assert main(["export", str(tmp_path / "compressed.pt"), *args]) == 0
    assert (tmp_path / "m.bin").is_file()


def test_calibration_data_of_another_task_is_refused(tiny_ckpt_path: Path, tiny_dataset: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    ds = load_prepared(tiny_dataset)
    splits = {s: (*ds.split(s), ds.groups(s)) for s in ("train", "val", "test")}
    for name, man in (("cls", PreparedManifest("cpsc9x", ["A", "B", "C", "D"], 100.0, 256, ["II"])),
                      ("fs", PreparedManifest("chapman4", ds.classes, 250.0, 256, ["II"])),
                      ("lead", PreparedManifest("chapman4", ds.classes, 100.0, 256, ["V1"]))):
        save_prepared(tmp_path / name, man, splits)
        assert main(["export", str(tiny_ckpt_path), "--data", str(tmp_path / name), "-o", str(tmp_path / "m.bin")]) == 2
        assert f"--data {tmp_path / name}" in _err(capsys)
    assert not (tmp_path / "m.bin").exists()


def test_model_bin_passed_as_checkpoint(tiny_ckpt_path: Path, tiny_dataset: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    mb = tmp_path / "m.bin"
    assert main(["export", str(tiny_ckpt_path), "--data", str(tiny_dataset), "-o", str(mb)]) == 0
    capsys.readouterr()
    assert main(["compress", str(mb), "--data", str(tiny_dataset), "--out", str(tmp_path / "c")]) == 2
    assert "this is a model.bin, not a PyTorch checkpoint" in _err(capsys)
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    assert main(["export", str(tmp_path / "junk.pt"), "-o", str(tmp_path / "j.bin")]) == 2
    err = _err(capsys)
    assert "not a readable ecg-edge checkpoint" in err and "weights_only=False" not in err
    assert main(["export", str(tiny_ckpt_path), "--data", str(tiny_dataset), "-o", str(tmp_path)]) == 2
    assert "is a folder; expected a file path" in _err(capsys)
    assert main(["export", str(tiny_ckpt_path), "--data", str(tiny_dataset), "-o", str(mb / "x.bin")]) == 2
    assert "is a file" in _err(capsys)


def _with_meta_plan(data: bytes, plan_text: str) -> bytes:
    """Overwrite the META 'plan' value in place (the host trailer holds it) and fix both CRCs: a
    file that passes every structural check."""
    from ecg_edge.modelbin.layout import (
        HEADER_SIZE,
        HEADER_STRUCT,
        TRAILER_HEADER_SIZE,
        TRAILER_STRUCT,
    )
    from ecg_edge.modelbin.reader import read_model

    old = read_model(data).meta["plan"].encode()
    assert len(plan_text) <= len(old)
    i = data.index(old)
    out = bytearray(data)
    out[i:i + len(old)] = plan_text.encode().ljust(len(old), b" ")
    fields = list(HEADER_STRUCT.unpack_from(out, 0))
    end = fields[3]
    fields[4] = zlib.crc32(bytes(out[HEADER_SIZE:end])) & 0xFFFFFFFF
    HEADER_STRUCT.pack_into(out, 0, *fields)
    if len(out) > end:
        tf = list(TRAILER_STRUCT.unpack_from(out, end))
        tf[2] = zlib.crc32(bytes(out[end + TRAILER_HEADER_SIZE:])) & 0xFFFFFFFF
        TRAILER_STRUCT.pack_into(out, end, *tf)
    return bytes(out)


def test_broken_meta_plan_is_refused_everywhere(tiny_ckpt_path: Path, tiny_dataset: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    mb = tmp_path / "m.bin"
    assert main(["export", str(tiny_ckpt_path), "--data", str(tiny_dataset), "-o", str(mb)]) == 0
    capsys.readouterr()
    from ecg_edge.modelbin.reader import read_model

    bad = tmp_path / "bad.bin"
    for text in ("{broken", "[1, 2]"):
        read_model(_with_meta_plan(mb.read_bytes(), '{"layers": {}}'))  # the rewrite itself is valid
        bad.write_bytes(_with_meta_plan(mb.read_bytes(), text))
        for argv in (["inspect", str(bad)], ["evaluate", str(bad), "--data", str(tiny_dataset), "--out", str(tmp_path / "e")],
                     ["run", str(bad), "--data", str(tiny_dataset), "-o", str(tmp_path / "r")]):
            assert main(argv) == 2, argv
            assert "META 'plan'" in _err(capsys)
    assert not (tmp_path / "e").exists() and not (tmp_path / "r").exists()


def test_nan_windows_are_refused_by_run(tiny_ckpt_path: Path, tiny_dataset: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    mb = tmp_path / "m.bin"
    assert main(["export", str(tiny_ckpt_path), "--data", str(tiny_dataset), "-o", str(mb)]) == 0
    capsys.readouterr()
    ds = load_prepared(tiny_dataset)
    splits = {s: (np.array(ds.split(s)[0]), ds.split(s)[1], ds.groups(s)) for s in ("train", "val", "test")}
    with pytest.raises(Exception, match="NaN/inf"):  # never written in the first place
        save_prepared(tmp_path / "never", ds.manifest, {**splits, "test": (splits["test"][0] * np.nan, *splits["test"][1:])})
    assert not (tmp_path / "never").exists()
    save_prepared(tmp_path / "nan", ds.manifest, splits)  # then damaged after writing, as by another tool
    X = np.array(splits["test"][0])
    X[3, 0, 7] = np.nan
    np.save(tmp_path / "nan" / "X_test.npy", X)
    man = json.loads((tmp_path / "nan" / "manifest.json").read_text())
    assert main(["run", str(mb), "--data", str(tmp_path / "nan"), "-o", str(tmp_path / "r")]) == 2
    assert "checksum mismatch" in _err(capsys)
    man["checksums"].pop("X_test.npy")  # a dataset without checksums: the values are still checked
    (tmp_path / "nan" / "manifest.json").write_text(json.dumps(man))
    assert main(["run", str(mb), "--data", str(tmp_path / "nan"), "-o", str(tmp_path / "r")]) == 2
    assert "1 NaN/inf sample values (first in window 3)" in _err(capsys)
    assert not (tmp_path / "r").exists()


def test_checkpoint_checksum_catches_a_flipped_byte(tiny_dataset: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    ck = make_checkpoint(tiny_dataset)
    p = tmp_path / "last.pt"
    save_checkpoint(p, ck)
    raw = bytearray(p.read_bytes())
    w = max(ck.state_dict.values(), key=lambda t: t.numel()).contiguous().numpy().tobytes()
    i = bytes(raw).index(w[:64])
    raw[i + 10] ^= 0x01  # one bit inside the largest weight tensor; the zip still reads
    p.write_bytes(bytes(raw))
    assert main(["export", str(p), "--data", str(tiny_dataset), "-o", str(tmp_path / "m.bin")]) == 2
    assert "checksum mismatch" in _err(capsys)
