"""Property-based CLI test: for drawn option values and drawn states of the output location, every
command exits 0 or 2, never prints a traceback, leaves no partial output or leftover staging/lock
files, and never changes its inputs (or a folder/file it was not allowed to replace).

Runs in-process (ecg_edge.cli.main) on tiny data with a bounded number of examples."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecg_edge.checkpoint import save_checkpoint
from ecg_edge.cli import main

from .modelbin.conftest import make_checkpoint
from .tinydata import ECG_CLASSES as CLASSES
from .tinydata import make_dataset

SETTINGS = settings(max_examples=14, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
STATES = ("new", "empty", "foreign", "file", "under-file", "ours", "input")
LEFTOVER = (".ecg-edge-stage-", ".ecg-edge-new-", ".ecg-edge-old-", ".ecg-edge.lock")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("prop")
    make_dataset(root / "ds", "ecg", classes=CLASSES, sizes=(24, 8, 12), fs=100.0, task="chapman4", lead_names=["II"])
    save_checkpoint(root / "best.pt", make_checkpoint(root / "ds"))
    assert main(["export", str(root / "best.pt"), "--data", str(root / "ds"), "-o", str(root / "model.bin")]) == 0
    return {"root": root, "ds": root / "ds", "ckpt": root / "best.pt", "bin": root / "model.bin"}


def _snapshot(p: Path) -> dict[str, str]:
    if p.is_file():
        return {"": hashlib.sha256(p.read_bytes()).hexdigest()}
    if not p.exists():
        return {}
    return {str(f.relative_to(p)): hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else "dir"
            for f in sorted(p.rglob("*"))}


def _prepare_out(state: str, where: Path, world: dict[str, Path], kind: str) -> Path:
    """Make the output location drawn; returns the path handed to the command."""
    out = where / "out"
    if state == "empty":
        out.mkdir()
    elif state == "foreign":
        out.mkdir()
        (out / "thesis.txt").write_text("not ecg-edge's")
    elif state == "file":
        out.write_text("a file of the user's")
    elif state == "under-file":
        (where / "f").write_text("x")
        out = where / "f" / "out"
    elif state == "ours":
        if kind == "dataset":
            shutil.copytree(world["ds"], out)
        elif kind == "file":
            shutil.copyfile(world["bin"], out)
        else:
            from ecg_edge.outputs import result_set

            with result_set(out, command="test") as stage:
                (stage / "old.json").write_text("{}")
    elif state == "input":
        out = world["ds"]
    return out


def _run(argv: list[str]) -> tuple[int, str, str]:
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        rc = main(argv)
    return rc, o.getvalue(), e.getvalue()


def _check(world: dict[str, Path], where: Path, argv: list[str], out: Path, state: str, kind: str) -> int:
    inputs = {k: _snapshot(world[k]) for k in ("ds", "ckpt", "bin")}
    before = _snapshot(out) if state != "input" else None
    rc, so, se = _run(argv)
    assert rc in (0, 2), (argv, rc, so, se)
    assert "Traceback" not in so + se, (argv, se)
    if rc == 2:
        lines = [ln for ln in se.strip().splitlines() if ln.startswith("ecg-edge: error:")]
        assert len(lines) == 1, (argv, se)
    for k, snap in inputs.items():
        assert _snapshot(world[k]) == snap, (argv, f"input {k} changed")
    if state in ("foreign", "file", "under-file", "input"):
        assert rc == 2, (argv, "an output location that must be refused was accepted", so, se)
        if state != "input":
            assert _snapshot(out) == before, (argv, "a refused location changed")
    if rc == 2 and state == "new":
        assert not out.exists() or (out.is_dir() and not any(out.iterdir())), (argv, "partial output")
    if rc == 2 and state == "ours":
        assert _snapshot(out) == before, (argv, "a failed run changed the previous output")
    left = [str(p) for p in world["root"].rglob("*") if any(t in p.name for t in LEFTOVER)]
    left += [str(p) for p in where.rglob("*") if any(t in p.name for t in LEFTOVER)]
    assert not left, (argv, left)
    return rc


_num = st.sampled_from(["nan", "inf", "-1", "0", "1", "2", "0.5", "abc", "1e9"])


@SETTINGS
@given(state=st.sampled_from(STATES[:-1]), n=st.sampled_from(["24", "24", "0", "-3", "x"]),
       fs=st.sampled_from(["100", "250", "nan", "inf", "-1", "0"]),
       noise=st.sampled_from(["0", "0.5", "nan", "-1"]), leads=st.sampled_from(["1", "II", "II,II", "0", "V9"]))
def test_data_synth(world: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, state: str, n: str, fs: str,
                    noise: str, leads: str) -> None:
    where = tmp_path_factory.mktemp("synth")
    out = _prepare_out(state, where, world, "dataset")
    argv = ["data", "synth", "--n", n, "--fs", fs, "--noise-scale", noise, "--leads", leads, "--samples", "512",
            "--windows-per-patient", "2", "--synthetic-noise", "--out", str(out)]
    if _check(world, where, argv, out, state, "dataset") == 0:
        assert json.loads((out / "manifest.json").read_text())["n_samples"] == 512


@SETTINGS
@given(state=st.sampled_from(STATES), cmd=st.sampled_from(["describe", "evaluate", "evaluate-bin", "run"]),
       split=st.sampled_from(["test", "val", "nope"]), extra=st.sampled_from([[], ["--json"], ["--no-plot"]]))
def test_result_set_commands(world: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, state: str, cmd: str,
                             split: str, extra: list[str]) -> None:
    where = tmp_path_factory.mktemp("res")
    out = _prepare_out(state, where, world, "results")
    if cmd == "describe":
        argv = ["data", "describe", str(world["ds"]), *[e for e in extra if e == "--no-plot"]]
    else:
        model = world["ckpt"] if cmd == "evaluate" else world["bin"]
        argv = ["evaluate" if cmd != "run" else "run", str(model), "--data", str(world["ds"]), "--split", split,
                *[e for e in extra if e == "--json"]]
    argv += ["--out" if cmd != "run" else "-o", str(out)]
    rc = _check(world, where, argv, out, state, "results")
    if rc == 0:
        assert any(p.suffix == ".json" for p in out.iterdir())


@SETTINGS
@given(state=st.sampled_from(("new", "ours", "file-is-dir", "under-file", "input")),
       windows=st.sampled_from(["16", "0", "-1", "x"]), fmt=st.sampled_from(["bin", "c-header"]),
       data=st.sampled_from(["ds", "missing"]))
def test_export(world: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, state: str, windows: str, fmt: str,
                data: str) -> None:
    where = tmp_path_factory.mktemp("exp")
    out = where / ("m.bin" if fmt == "bin" else "m.h")
    if state == "ours":
        shutil.copyfile(world["bin"], out)
    elif state == "file-is-dir":
        out.mkdir()
    elif state == "under-file":
        (where / "f").write_text("x")
        out = where / "f" / out.name
    elif state == "input":
        out = world["bin"]
    before = _snapshot(out)
    argv = ["export", str(world["ckpt"]), "--data", str(world["ds"] if data == "ds" else where / "nope"),
            "--calib-windows", windows, "--format", fmt, "-o", str(out)]
    inputs = {k: _snapshot(world[k]) for k in ("ds", "ckpt", "bin")}
    rc, so, se = _run(argv)
    assert rc in (0, 2) and "Traceback" not in so + se, (argv, se)
    assert {k: _snapshot(world[k]) for k in inputs} == inputs, argv
    if state in ("file-is-dir", "under-file", "input") or data == "missing" or windows in ("0", "-1", "x"):
        assert rc == 2, (argv, so, se)
        assert _snapshot(out) == before, argv
    else:
        assert rc == 0 and out.is_file() and out.stat().st_size > 100, (argv, se)
    assert not [p for p in where.rglob("*") if p.name.startswith(".")], argv


@settings(SETTINGS, max_examples=8)
@given(state=st.sampled_from(STATES), epochs=st.sampled_from(["1", "1", "0", "-2"]),
       lr=st.sampled_from(["1e-3", "1e-3", "nan", "inf", "0", "-1"]),
       wd=st.sampled_from(["0", "1e-3", "-1", "nan"]), threads=st.sampled_from(["1", "0"]))
def test_train(world: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, state: str, epochs: str, lr: str,
               wd: str, threads: str) -> None:
    where = tmp_path_factory.mktemp("train")
    out = _prepare_out(state, where, world, "results")
    argv = ["train", "--data", str(world["ds"]), "--epochs", epochs, "--lr", lr, "--weight-decay", wd,
            "--threads", threads, "--batch-size", "16", "--out", str(out)]
    if _check(world, where, argv, out, state, "train") == 0:
        assert (out / "best.pt").is_file() and (out / "eval_test.json").is_file()
        rc, _, se = _run(argv)  # a second training into the same --out is refused, the run is kept
        assert rc == 2 and "holds a training run" in se


@SETTINGS
@given(state=st.sampled_from(STATES), tol=st.sampled_from(["0.01", "0.05", "nan", "-1", "1"]),
       val_max=st.sampled_from(["8", "8", "0"]), lr=st.sampled_from(["1e-4", "1e-4", "nan"]),
       latency=st.sampled_from([[], ["--max-latency-ms", "-1"]]))
def test_compress(world: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, state: str, tol: str,
                  val_max: str, lr: str, latency: list[str]) -> None:
    where = tmp_path_factory.mktemp("comp")
    out = _prepare_out(state, where, world, "results")
    argv = ["compress", str(world["ckpt"]), "--data", str(world["ds"]), "--method", "fixed-q8", "--tolerance", tol,
            "--val-max", val_max, "--finetune-lr", lr, *latency, "--out", str(out)]
    if _check(world, where, argv, out, state, "results") == 0:
        assert (out / "plan.json").is_file() and (out / "compressed.pt").is_file()


@SETTINGS
@given(argv=st.sampled_from([
    ["report", "ablation", "--tolerance", "nan"], ["report", "ablation", "--val-max", "0"],
    ["simulate", "--n", "0"], ["simulate", "--seed", "-1"], ["demo", "--epochs", "0"], ["demo", "--threads", "0"],
    ["bench", "--checkpoint", "{ckpt}", "--data", "{ds}", "--n-latency", "0", "--out", "{out}"],
    ["predict", "{bin}", "{ds}", "--fs", "nan"], ["inspect", "{ckpt}"], ["inspect", "{ds}"],
    ["data", "prepare", "folder", "{ds}", "--task", "chapman4", "--out", "{ds}"],
    ["data", "prepare", "folder", "{root}", "--task", "chapman4", "--band", "40,0.5", "--out", "{out}"],
]))
def test_refusals_before_work(world: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
                              monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    where = tmp_path_factory.mktemp("ref")
    monkeypatch.setenv("ECG_EDGE_WORK", str(where / "work"))
    out = where / "out"
    argv = [a.format(ckpt=world["ckpt"], ds=world["ds"], bin=world["bin"], root=world["root"], out=out) for a in argv]
    inputs = {k: _snapshot(world[k]) for k in ("ds", "ckpt", "bin")}
    rc, so, se = _run(argv)
    assert rc == 2 and "Traceback" not in so + se and se.strip().count("\n") == 0, (argv, se)
    assert {k: _snapshot(world[k]) for k in inputs} == inputs, argv
    assert not out.exists() and not (where / "work").exists(), argv


@pytest.mark.parametrize("cmd", ["export", "evaluate", "run", "compress", "describe", "train"])
def test_disk_full_is_one_line_and_keeps_the_previous_output(world: dict[str, Path], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch, cmd: str) -> None:
    import errno
    import os

    import ecg_edge.atomic as atomic

    out = tmp_path / ("m.bin" if cmd == "export" else "out")
    argv = {"export": ["export", str(world["ckpt"]), "--data", str(world["ds"]), "-o", str(out)],
            "evaluate": ["evaluate", str(world["bin"]), "--data", str(world["ds"]), "--out", str(out)],
            "run": ["run", str(world["bin"]), "--data", str(world["ds"]), "-o", str(out)],
            "compress": ["compress", str(world["ckpt"]), "--data", str(world["ds"]), "--method", "fixed-q8",
                         "--val-max", "8", "--out", str(out)],
            "describe": ["data", "describe", str(world["ds"]), "--out", str(out)],
            "train": ["train", "--data", str(world["ds"]), "--epochs", "1", "--threads", "1", "--batch-size", "16",
                      "--out", str(out)]}[cmd]
    assert _run(argv)[0] == 0  # a previous good output
    if cmd == "train":
        argv.append("--force")
    before = _snapshot(out)
    real = atomic.write_bytes

    def full(dest, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dest))

    monkeypatch.setattr(atomic, "write_bytes", full)
    rc, so, se = _run(argv)
    monkeypatch.setattr(atomic, "write_bytes", real)
    assert rc == 2 and "Traceback" not in so + se, se
    last = se.strip().splitlines()[-1]  # train logs its progress on stderr first
    assert last.startswith("ecg-edge: error: ") and "no space left" in last and "[ENOSPC]" in last, se
    assert _snapshot(out) == before  # the previous output, whole
    assert not [p for p in tmp_path.rglob("*") if any(t in p.name for t in LEFTOVER)]


def test_checkpoint_dataset_path_resolves_beside_the_checkpoint(world: dict[str, Path], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from ecg_edge.checkpoint import load_checkpoint

    proj = tmp_path / "proj"
    shutil.copytree(world["ds"], proj / "ds")
    ck = load_checkpoint(world["ckpt"])
    ck.data["dataset_dir"] = "ds"  # recorded relative to where training ran (older checkpoints)
    (proj / "train").mkdir()
    save_checkpoint(proj / "train" / "best.pt", ck)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rc, so, se = _run(["export", str(proj / "train" / "best.pt"), "-o", str(tmp_path / "m.bin")])
    assert rc == 0, se
    assert str(proj / "train" / "ds") not in so and "proj/ds" in so
