"""The Cortex-M side-by-side of `ecg-edge bench --target`: our int8 and plan model.bin on the
simulated board with exact counts and host parity, the TFLM + CMSIS-NN row measured when its
sources are present (and its library already built) or skipped with the reason, never a number."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.cli import main

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def packed(tiny, tmp_path_factory):
    from ecg_edge.modelbin.packer import pack

    root = tmp_path_factory.mktemp("mcu")
    (root / "int8.bin").write_bytes(pack(tiny.ckpt, None, tiny.calib).data)
    (root / "plan.bin").write_bytes(pack(tiny.ckpt, tiny.plan, tiny.calib).data)
    return root


def test_side_by_side_without_tflm_sources_says_so(toolchain, tiny, packed, monkeypatch):
    from ecg_edge.mobile.mcu_bench import mcu_markdown, mcu_side_by_side

    monkeypatch.setenv("ECG_EDGE_TFLM_SRC", str(packed / "absent.tar.xz"))
    res = mcu_side_by_side(packed / "int8.bin", packed / "int8.tflite", tiny.X[:2], "cortex-m4",
                           packed / "plan.bin", log=lambda m: None)
    rows = {r["runtime"]: r for r in res["rows"]}
    tflm = rows["TFLite Micro + CMSIS-NN (int8)"]
    assert tflm["status"].startswith("skipped") and "absent.tar.xz" in tflm["status"]
    dense, plan = rows["ours C runtime (int8 dense)"], rows["ours C runtime (plan)"]
    for r in (dense, plan):
        assert r["status"] == "ok" and r["parity"] == "2/2 vs host C runtime"
        assert r["instructions"] > 0 and len(set(r["instructions_all"])) == 1  # exact, repeatable
    assert res["goals"]["instructions_ours_plan_over_ours_int8"] == plan["instructions"] / dense["instructions"]
    assert "instructions_ours_int8_over_cmsis_nn" not in res["goals"]  # no TFLM row, no ratio
    prof = res["profiles"]["ours C runtime (int8 dense)"]
    assert prof[-1] == ["total", dense["instructions"]]  # profile of one window sums to its count
    md = mcu_markdown(res)
    assert "| TFLite Micro + CMSIS-NN (int8) | - |" in md and "ecg_rt_conv1d" in md


def test_tflm_cmsis_nn_row_matches_host_interpreter(toolchain, tiny, packed, tmp_path):
    """Runs only where the TFLM library is already cached (`make bench` builds it once, a few
    minutes on two cores): the firmware's int8 logits equal the host TFLM interpreter's."""
    from ecg_edge.mobile.mcu_bench import mcu_side_by_side
    from ecg_edge.mobile.tflite_export import export_tflite
    from ecg_edge.sim.tflm import LIB, TflmUnavailable, library_dir
    from ecg_edge.targets.registry import get_target

    try:
        lib = library_dir(toolchain, get_target("cortex-m4"))
    except TflmUnavailable as exc:
        pytest.skip(str(exc))
    if not (lib / "lib" / LIB).is_file():
        pytest.skip(f"TFLM library not built yet ({lib}); `make bench` builds it")
    pytest.importorskip("tflite_micro")
    tfl = tmp_path / "int8.tflite"
    export_tflite(tiny.ckpt, None, tfl, tiny.calib)
    res = mcu_side_by_side(packed / "int8.bin", tfl, tiny.X[:2], "cortex-m4", log=lambda m: None)
    t = {r["runtime"]: r for r in res["rows"]}["TFLite Micro + CMSIS-NN (int8)"]
    assert t["status"] == "ok", t["status"]
    assert t["parity"] == "2/2 vs host TFLM interpreter"
    assert t["arena_bytes"] > 0 and t["code_bytes"] > 10_000 and t["instructions"] > 0
    g = res["goals"]["instructions_ours_int8_over_cmsis_nn"]
    assert np.isclose(g, res["rows"][0]["instructions"] / t["instructions"])


def test_bench_cli_target_bad_name_is_one_line(tiny, tmp_path, capsys):
    rc = main(["bench", "--checkpoint", str(tiny.ckpt_path), "--data", str(tiny.data), "--target", "cortex-m99",
               "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "cortex-m99" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "bench.json").exists()
