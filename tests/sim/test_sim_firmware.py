"""The simulated Cortex-M target: linker budgets, build cache, exact and repeatable instruction
counts, parity with the golden vectors and the host runtime, clear failures."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

from ecg_edge.errors import ModelFormatError, ToolchainMissing
from ecg_edge.sim.boards import linker_script
from ecg_edge.sim.build import (
    FirmwareDoesNotFit,
    Layout,
    build_firmware,
    build_objects,
    build_plugin,
)
from ecg_edge.sim.qemu import run_image
from ecg_edge.targets.registry import TARGETS, get_target

from .sim_golden import golden_names, host_runtime_available, load_golden

sim = pytest.mark.sim
group = pytest.mark.xdist_group("sim")


def _memory(text: str) -> dict[str, tuple[int, int]]:
    out = {}
    for name, origin, length in re.findall(r"(\w+)\s*\([rwx]+\)\s*:\s*ORIGIN\s*=\s*(\w+),\s*LENGTH\s*=\s*(\w+)", text):
        mult = {"K": 1024, "M": 1024 * 1024}.get(length[-1], 1)
        out[name] = (int(origin, 0), int(length.rstrip("KM"), 0) * mult)
    return out


@pytest.mark.parametrize("name", list(TARGETS))
def test_linker_regions_equal_target_budgets(name: str) -> None:
    t = TARGETS[name]
    mem = _memory(linker_script(t))
    flash = mem["FLASH"][1] + (mem["VECT"][1] if "VECT" in mem else 0)
    assert flash == t.flash_bytes
    assert mem["FLASH"][0] == t.flash_base
    assert mem["RAM"] == (t.ram_base, t.ram_bytes)
    assert mem["IO"][0] == t.board.io_base
    spans = sorted((o, o + n) for o, n in mem.values())  # no region overlaps another
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert _memory(linker_script(t, ram_bytes=4 << 20))["RAM"] == (t.ram_base, 4 << 20)


def test_toolchain_missing_names_the_packages(monkeypatch, tmp_path) -> None:
    from ecg_edge.sim import simulate
    from ecg_edge.sim.toolchain import APT_LINE, find_toolchain

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainMissing) as exc:
        find_toolchain()
    msg = str(exc.value)
    assert APT_LINE in msg and "arm-none-eabi-gcc" in msg and "qemu-system-arm" in msg
    with pytest.raises(ToolchainMissing, match="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"):
        simulate(b"ECGB" + bytes(60), np.zeros((1, 4, 1), np.int8), "cortex-m4")


def test_toolchain_missing_cli_one_line(monkeypatch, tmp_path, capsys) -> None:
    from ecg_edge.cli import main

    model = tmp_path / "m.bin"
    model.write_bytes(b"ECGB" + bytes(60))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["simulate", str(model), "--n", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ecg-edge: error:") and "apt-get install" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@sim
@group
def test_build_cache_hits_and_keys(toolchain, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ECG_EDGE_CACHE", str(tmp_path))
    m4 = get_target("cortex-m4")
    d1 = build_objects(toolchain, m4, "O2", program="calib")
    stamp = (d1 / "manifest.json").stat().st_mtime_ns
    d2 = build_objects(toolchain, m4, "O2", program="calib")
    assert d2 == d1 and (d2 / "manifest.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    d_os = build_objects(toolchain, m4, "Os", program="calib")
    d_m7 = build_objects(toolchain, get_target("cortex-m7"), "O2", program="calib")
    assert len({d1, d_os, d_m7}) == 3  # flags and target are part of the key
    assert str(d1).startswith(str(tmp_path)) and "firmware" in str(d1)


@sim
@group
@pytest.mark.parametrize("name", ["cortex-m4", "cortex-m55"])
def test_plugin_counts_exact_instructions(toolchain, name: str) -> None:
    """calib_run(n) executes 10 instructions per iteration between the markers plus a fixed
    overhead: the plugin must report exactly 10*n + c with the same c, run after run."""
    t = get_target(name)
    img = build_firmware(toolchain, t, Layout(0, 0, 0), "O2", program="calib")
    plugin = build_plugin(toolchain)
    runs = [run_image(toolchain, t, img, plugin, timeout_s=60) for _ in range(2)]
    for r in runs:
        assert r.exit_code == 0
        c100, c200 = r.counts
        assert c200 - c100 == 1000
        assert 0 < c100 - 1000 < 16
    assert runs[0].counts == runs[1].counts


@sim
@group
def test_simulated_inference_parity_and_repeatable(toolchain, golden_int8) -> None:
    from ecg_edge.sim import simulate

    g = golden_int8
    x = np.concatenate([g.x, np.random.default_rng(1).integers(-128, 128, g.x.shape, dtype=np.int8)])
    r1 = simulate(g.model, x, "cortex-m4", "O2")
    r2 = simulate(g.model, x, "cortex-m4", "O2")
    assert np.array_equal(r1.logits[0], g.expected)  # the golden reference (numpy executor)
    assert r1.instructions == r2.instructions and all(n > 0 for n in r1.instructions)
    assert np.array_equal(r1.logits, r2.logits)
    if host_runtime_available():
        assert r1.parity.matches == 2 and r1.parity.mismatches == 0
    else:
        assert r1.parity.matches is None and "unavailable" in r1.parity.note
    assert r1.fits and r1.flash["model"] == len(g.model) and r1.flash["total"] > len(g.model)
    assert r1.ram["arena"] == struct.unpack_from("<I", g.model, 28)[0]
    assert 0 < r1.ram["stack_invoke"] <= r1.ram["stack_peak"] < r1.ram["stack_reserved"]
    assert r1.ram["total"] == r1.ram["static"] + r1.ram["arena"] + r1.ram["window"] + r1.ram["stack_peak"]
    assert r1.est_ms == pytest.approx(np.mean(r1.instructions) * 1.3 / 64e6 * 1e3)


@sim
@group
@pytest.mark.parametrize("name", [n for n in golden_names() if n != "int8_dense"][:2])
def test_other_golden_vectors_on_m7_os(toolchain, name: str) -> None:
    from ecg_edge.sim import simulate

    g = load_golden(name)
    r = simulate(g.model, g.x, "cortex-m7", "Os")
    assert np.array_equal(r.logits[0], g.expected)
    if host_runtime_available():
        assert r.parity.mismatches == 0


@sim
@group
def test_oversized_model_fails_the_link(toolchain, golden_int8) -> None:
    from ecg_edge.sim import simulate

    big = golden_int8.model + bytes(1024 * 1024)  # 1 MiB + model > cortex-m4's 1 MiB flash
    with pytest.raises(FirmwareDoesNotFit, match=r"does not fit cortex-m4.*flash"):
        simulate(big, golden_int8.x, "cortex-m4")
    huge_arena = bytearray(golden_int8.model)
    struct.pack_into("<I", huge_arena, 28, 300 * 1024)  # arena > 256 KiB of RAM
    with pytest.raises(FirmwareDoesNotFit, match=r"exceed the target's RAM"):
        simulate(bytes(huge_arena), golden_int8.x, "cortex-m4")
    # an arena that fits the RAM region but leaves less than the 8 KiB minimum for the stack
    struct.pack_into("<I", huge_arena, 28, 252 * 1024)
    with pytest.raises(FirmwareDoesNotFit, match=r"exceed the target's RAM"):
        simulate(bytes(huge_arena), golden_int8.x, "cortex-m4")
    struct.pack_into("<I", huge_arena, 28, 300 * 1024)
    # the same (header-only, not CRC-covered) arena fits cortex-m7's 1 MiB: links and runs
    r = simulate(bytes(huge_arena), golden_int8.x, "cortex-m7", parity=False)
    assert np.array_equal(r.logits[0], golden_int8.expected) and r.ram["arena"] == 300 * 1024


@sim
@group
def test_corrupt_model_reports_runtime_status(toolchain, golden_int8) -> None:
    from ecg_edge.sim import simulate

    bad = bytearray(golden_int8.model)
    bad[-1] ^= 0xFF  # inside the CRC-covered body
    with pytest.raises(ModelFormatError, match=r"status 5 \(CRC32 mismatch\)"):
        simulate(bytes(bad), golden_int8.x, "cortex-m4", parity=False)


@sim
@group
def test_cli_writes_json_and_markdown(toolchain, golden_int8, tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from ecg_edge.sim.cli import simulate as cmd

    model = tmp_path / "model.bin"
    model.write_bytes(golden_int8.model)
    res = CliRunner().invoke(cmd, [str(model), "--target", "cortex-m4", "--n", "2", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "o" / "simulate.json").read_text())
    r = doc["results"][0]
    assert r["target"] == "cortex-m4" and r["n_windows"] == 2 and r["fits"] is True
    md = (tmp_path / "o" / "simulate.md").read_text()
    assert "instructions / inference" in md and "cortex-m4 energy" in md
    e = r["energy"]
    assert e["instructions"] == r["instructions_per_inference"]["mean"] and e["energy_uj"] > 0
    assert e["window_s"] > 0 and e["duty_cycle"] == pytest.approx(e["active_s"] / e["window_s"])


@sim
@group
def test_icount_timer_crosscheck_agrees(toolchain, golden_int8) -> None:
    from ecg_edge.sim.crosscheck import icount_crosscheck

    cc = icount_crosscheck(golden_int8.model, golden_int8.x, "cortex-m4", shift=7)
    assert cc.plugin_counts == cc.plugin_counts_icount  # -icount does not change what executes
    # the timer reads sit a few instructions outside the markers
    assert abs(cc.timer_instructions[0] - cc.plugin_counts[0]) < 32


@sim
@group
@pytest.mark.parametrize("seed,bits,sparsity,cfg", [
    (2, [2, 3, 5], 0.5, {}),
    (4, [8, 4], 0.8, {}),
    (5, 8, 0.1, dict(widths=[6, 10], strides=[1, 2], stem_channels=6, in_leads=3, n_samples=256)),
    (6, 7, 0.3, dict(widths=[12, 20], strides=[2, 1], kernel=5, stem_kernel=9, n_samples=300, in_leads=2)),
])
def test_random_models_bit_exact_on_target(toolchain, seed, bits, sparsity, cfg) -> None:
    """Seeded ResNet1Ds (bit-widths, sparsities, channel counts not multiples of 4, odd kernels,
    several leads) through the firmware, whose kernels take the DSP (SMLAD) path on these cores:
    the logits equal the numpy reference executor's."""
    from ecg_edge.modelbin.golden import build_random_model
    from ecg_edge.sim import simulate

    data, x, expected = build_random_model(seed, bits, sparsity, **cfg)
    for target in ("cortex-m4", "cortex-m55"):
        r = simulate(data, x[None], target, parity=host_runtime_available())
        assert np.array_equal(r.logits[0], expected), target
        if r.parity is not None and r.parity.matches is not None:
            assert r.parity.mismatches == 0


@sim
@group
def test_dsp_and_scalar_kernels_agree_on_target(toolchain) -> None:
    """The SMLAD path (ecg_rt_dsp.h) against the runtime's scalar kernels, both on cortex-m4, on
    a model whose layers take every DSP branch (channel pairs, borders, stride 2, pointwise)."""
    from ecg_edge.modelbin.golden import build_random_model
    from ecg_edge.sim import simulate

    data, x, expected = build_random_model(7, 8, 0.2, widths=[8, 16, 12], strides=[1, 2, 2], n_samples=384)
    xs = np.concatenate([x[None], np.random.default_rng(3).integers(-128, 128, (2, *x.shape), dtype=np.int8)])
    fast = simulate(data, xs, "cortex-m4", parity=False)
    scalar = simulate(data, xs, "cortex-m4", parity=False, dsp=False)
    assert np.array_equal(fast.logits, scalar.logits) and np.array_equal(fast.logits[0], expected)
    assert fast.instructions[0] < scalar.instructions[0]


@sim
@group
def test_cli_reports_a_target_that_does_not_fit(toolchain, golden_int8, tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from ecg_edge.sim.cli import simulate as cmd

    big = bytearray(golden_int8.model)
    struct.pack_into("<I", big, 28, 400 * 1024)  # arena: over cortex-m4's RAM, within cortex-m7's
    model = tmp_path / "big.bin"
    model.write_bytes(bytes(big))
    res = CliRunner().invoke(cmd, [str(model), "--target", "cortex-m4,cortex-m7", "--n", "1", "--out", str(tmp_path / "sim")])
    assert res.exit_code == 0, res.output
    m4, m7 = json.loads((tmp_path / "sim" / "simulate.json").read_text())["results"]
    assert m4["fits"] is False and m4["fits_ram"] is False and m4["ram"]["total"] > m4["ram"]["budget"]
    assert "exceed the target's RAM" in m4["reason"]
    assert m7["fits"] is True and m7["parity"]["mismatches"] == 0
    assert "| no |" in (tmp_path / "sim" / "simulate.md").read_text()


@sim
@group
@pytest.mark.parametrize("target", ["cortex-m55", "cortex-m7"])
@pytest.mark.parametrize("name", ["transformer", "transformer_lut"])
def test_transformer_golden_on_m55_and_m7(toolchain, target: str, name: str) -> None:
    """The format-version-2/3 ops (norms, GELU, LUT, softmax, MATMUL, grouped conv) on the
    simulated board: the golden logits and host-runtime parity on random windows too."""
    from ecg_edge.sim import simulate

    g = load_golden(name)
    x = np.concatenate([g.x, np.random.default_rng(2).integers(-128, 128, (3, *g.x.shape[1:]), dtype=np.int8)])
    r = simulate(g.model, x, target, "O2")
    assert np.array_equal(r.logits[0], g.expected)
    assert r.fits and all(n > 0 for n in r.instructions)
    if host_runtime_available():
        assert r.parity.matches == 4 and r.parity.mismatches == 0


@sim
@group
def test_mve_and_dsp_paths_agree_on_m55(toolchain, tmp_path) -> None:
    """cortex-m55: the Helium kernels against the DSP ones (`simulate --no-mve`), same bytes,
    on a model whose layers take the group kernel with borders, stride 2 and pointwise."""
    from ecg_edge.cli import main
    from ecg_edge.modelbin.golden import build_random_model
    from ecg_edge.sim import simulate

    data, x, expected = build_random_model(7, 8, 0.2, widths=[8, 16, 12], strides=[1, 2, 2], n_samples=384)
    mve = simulate(data, x[None], "cortex-m55", parity=False)
    dsp = simulate(data, x[None], "cortex-m55", parity=False, mve=False)
    assert np.array_equal(mve.logits[0], expected) and np.array_equal(dsp.logits[0], expected)
    assert mve.instructions[0] < dsp.instructions[0]
    (tmp_path / "m.bin").write_bytes(data)
    assert main(["simulate", str(tmp_path / "m.bin"), "--target", "cortex-m55", "--no-mve", "--n", "1",
                 "--out", str(tmp_path / "o")]) == 0
