"""`ecg-edge bench` end to end on a tiny model: every runtime row present, figures consistent
with the files written, outputs (md, json, png) in place; a user's mistake is one clear line."""

from __future__ import annotations

import json

from ecg_edge.cli import main


def _have_sim() -> bool:
    from ecg_edge.errors import ToolchainMissing
    from ecg_edge.sim.toolchain import find_toolchain

    try:
        find_toolchain()
    except ToolchainMissing:
        return False
    return True


def test_bench_cli_writes_every_runtime_row(tiny, tmp_path, capsys):
    out = tmp_path / "bench"
    sim = _have_sim()  # with the Cortex-M toolchain: --target adds the simulated side by side
    rc = main(["bench", "--checkpoint", str(tiny.ckpt_path), "--plan", str(tiny.plan_path),
               "--data", str(tiny.data), "--n-latency", "3", "--out", str(out)]
              + (["--target", "cortex-m4", "--n-mcu", "1"] if sim else []))
    assert rc == 0
    res = json.loads((out / "bench.json").read_text())
    rows = {r["runtime"]: r for r in res["rows"]}
    for name in ("TFLite Micro (int8)", "TFLite Micro (LUT, laq+lap)", "LiteRT (int8)", "onnxruntime (fp32)",
                 "onnxruntime (QDQ, laq+lap)"):
        r = rows[name]
        assert r["status"] == "ok", (name, r["status"])
        assert r["bytes"] == (tmp_path / "bench" / "models" / r["file"].split("/")[-1]).stat().st_size
        assert r["latency_ms"]["median"] > 0
        assert 0 <= r["macro_f1"] <= 1 and 0 <= r["agree_fp32"] <= 1
        assert r["memory"]["peak_rss_kib"] > 0
    assert rows["onnxruntime (fp32)"]["agree_fp32"] == 1.0
    assert rows["TFLite Micro (int8)"]["memory"]["tflm_arena_total"] > 0
    assert rows["TFLite Micro (LUT, laq+lap)"]["bytes"] < rows["TFLite Micro (int8)"]["bytes"]
    ours = [r for n, r in rows.items() if n.startswith("ours")]
    assert len(ours) == 2  # dense int8 and the plan: measured, or a row saying why not
    for r in ours:
        assert r["status"] == "ok" or r["status"].startswith(("not available", "failed"))
    if all(r["status"] == "ok" for r in ours):  # C runtime built: paired latency vs TFLite Micro
        paired = {p["row"]: p for p in res["paired_latency"]["paired"]}
        assert set(paired) == {n for n in rows if n.startswith(("ours", "TFLite Micro"))}
        assert all(p["median_ms"] > 0 for p in paired.values())
        assert res["goals"]["latency_paired_ours_dense_over_tflm_median"] > 0
    md = (out / "bench.md").read_text()
    assert "| LiteRT (int8) | tflite |" in md
    assert (out / "bench.png").stat().st_size > 1000
    if not sim:
        return
    mcu = {r["runtime"]: r for r in res["mcu"]["rows"]}  # --target: the simulated side by side
    assert mcu["ours C runtime (plan)"]["status"] == "ok"
    assert res["goals"]["instructions_ours_plan_over_ours_int8"] > 0
    tflm = mcu["TFLite Micro + CMSIS-NN (int8)"]
    assert tflm["status"] == "ok" or tflm["status"].startswith("skipped")
    if tflm["status"] == "ok":
        assert res["goals"]["instructions_ours_int8_over_cmsis_nn"] > 0
    assert "## Side by side on simulated cortex-m4" in md


def test_bench_bad_dataset_is_one_line(tiny, tmp_path, capsys):
    rc = main(["bench", "--checkpoint", str(tiny.ckpt_path), "--data", str(tmp_path / "nope"),
               "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err


def test_ours_runner_refuses_without_the_c_runtime(tiny, tmp_path, monkeypatch):
    """No numpy stand-in under the C runtime's name: the runner refuses and says why."""
    import sys

    import pytest

    from ecg_edge.mobile.runners import OursRunner
    from ecg_edge.modelbin.packer import pack

    path = tmp_path / "m.bin"
    path.write_bytes(pack(tiny.ckpt, None, tiny.calib).data)
    monkeypatch.setitem(sys.modules, "ecg_edge.runtime", None)  # the binding cannot be imported
    with pytest.raises(ImportError, match="C runtime is not available.*build_ffi"):
        OursRunner(path)
