"""`ecg-edge export --format c-project`: the folder builds with its own Makefile, runs in QEMU
and prints the host stream's logits window by window; refusals happen before a file is written."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from ecg_edge.cli import main
from ecg_edge.runtime.stream import CStream

LINE = re.compile(r"^window (\d+) class (\S+) logits ((?:-?\d+ ?)+)$")


def _export(tmp_path, capsys, model: bytes, shared_data, *extra: str):
    mb = tmp_path / "model.bin"
    mb.write_bytes(model)
    out = tmp_path / "proj"
    rc = main(["export", "--format", "c-project", "--model", str(mb), "--record",
               str(shared_data / "mitdb" / "100"), *extra, str(out)])
    cap = capsys.readouterr()
    return rc, cap.out + cap.err, out


@pytest.mark.xdist_group("sim")
def test_c_project_builds_runs_in_qemu_and_matches_the_host_stream(toolchain, tmp_path, capsys, shared_data,
                                                                   device_model):
    model = device_model(500, 1024)
    rc, text, out = _export(tmp_path, capsys, model, shared_data, "--seconds", "30", "--hop", "750",
                            "--target", "cortex-m33")
    assert rc == 0, text
    env = {"PATH": f"{toolchain.arm_gcc.rsplit('/', 1)[0]}:{shutil.which('make').rsplit('/', 1)[0]}:/usr/bin:/bin"}
    b = subprocess.run(["make", "-C", str(out), "-j2"], capture_output=True, text=True, timeout=300, env=env)
    assert b.returncode == 0, b.stderr[-2000:]
    q = subprocess.run(["make", "-s", "-C", str(out), "run", f"QEMU={toolchain.qemu}"], capture_output=True,
                       text=True, timeout=300)
    assert q.returncode == 0, q.stdout[-2000:] + q.stderr[-2000:]
    rows = [LINE.match(ln) for ln in (q.stdout + q.stderr).splitlines() if ln.startswith("window ")]
    got = np.array([[int(v) for v in m.group(3).split()] for m in rows if m], dtype=np.int8)
    signal = np.fromfile(out / "signal.i16", dtype="<i2")
    want = CStream(model, adc_fs=360, hop=750).push(signal)
    assert len(rows) == len(want) == (15000 - 1024) // 750 + 1
    assert np.array_equal(got, want)
    assert [int(m.group(1)) for m in rows] == list(range(len(want)))


def test_c_project_refuses_rate_ram_and_models_without_preprocessing(tmp_path, capsys, shared_data, device_model):
    rc, text, out = _export(tmp_path, capsys, device_model(125, 256), shared_data, "--seconds", "2")
    assert rc == 2 and "more than twice the model rate" in text and not out.exists()
    rc, text, out = _export(tmp_path, capsys, device_model(500, 24576, leads=2), shared_data, "--seconds", "60",
                            "--target", "cortex-m4")
    assert rc == 2 and "B of RAM on cortex-m4" in text and not out.exists(), text
    rc, text, out = _export(tmp_path, capsys, device_model(500, 1024), shared_data, "--seconds", "1")
    assert rc == 2 and "no complete window" in text and not out.exists()
    from tests.runtime.conftest import golden, golden_names

    rc, text, out = _export(tmp_path, capsys, golden(golden_names()[0])[0], shared_data, "--seconds", "2")
    assert rc == 2 and "no device preprocessing" in text and not out.exists()


@pytest.mark.xdist_group("sim")
def test_simulate_stream_counts_instructions_and_agrees_with_the_host(toolchain, tmp_path, capsys, shared_data,
                                                                     device_model):
    import json

    mb = tmp_path / "model.bin"
    mb.write_bytes(device_model(500, 1024))
    rc = main(["simulate", str(mb), "--stream", str(shared_data / "mitdb" / "100"), "--seconds", "12",
               "--hop", "1000", "--target", "cortex-m4", "--out", str(tmp_path / "sim")])
    cap = capsys.readouterr()
    assert rc == 0, cap.out + cap.err
    res = json.loads((tmp_path / "sim" / "simulate_stream.json").read_text())["results"][0]
    assert res["windows"] == res["host_windows"] == res["agree_windows"] == (6000 - 1024) // 1000 + 1
    assert res["preprocess_instructions"] > 0 and res["inference_instructions"] > 0
    assert res["instructions_per_second"] == pytest.approx(
        (res["preprocess_instructions"] + res["inference_instructions"]) / 12.0)
    assert 0 < res["peak_ram"] <= res["ram_budget"] and res["stack_peak"] > 0
