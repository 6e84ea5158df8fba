"""The output policy (ecg_edge.outputs) and the CLI's OS-error messages: no command loses data."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from ecg_edge import outputs
from ecg_edge.cli import main
from ecg_edge.errors import OutputRefused

SYNTH = ["data", "synth", "--n", "24", "--samples", "512", "--windows-per-patient", "2", "--synthetic-noise"]


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("ecg-edge: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_foreign_folder_is_refused_and_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my recordings")
    before = _tree(mine)
    assert main([*SYNTH, "--out", str(mine)]) == 2
    assert "was not written by ecg-edge" in _err(capsys)
    assert _tree(mine) == before and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_existing_file_is_never_replaced_by_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "thesis.txt"
    f.write_text("do not lose me")
    assert main([*SYNTH, "--out", str(f)]) == 2
    assert "exists and is not a folder" in _err(capsys)
    assert f.read_text() == "do not lose me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.txt"]  # no hidden .old copy either
    assert main([*SYNTH, "--out", str(f / "sub")]) == 2
    assert "is a file" in _err(capsys)


def test_current_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep").write_text("x")
    assert main([*SYNTH, "--out", "."]) == 2
    assert "current folder" in _err(capsys)
    assert (tmp_path / "keep").read_text() == "x"


def test_prepare_into_its_input_folder_keeps_the_recordings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = tmp_path / "recs"
    rec.mkdir()
    for i in range(3):
        (rec / f"r{i}.csv").write_text("0.1\n0.2\n0.3\n")
    (rec / "labels.csv").write_text("id,label\nr0,SR\n")
    before = _tree(rec)
    for out in (rec, tmp_path):  # the input itself, and a folder holding it
        rc = main(["data", "prepare", "folder", str(rec), "--task", "chapman4", "--labels", str(rec / "labels.csv"),
                   "--out", str(out)])
        assert rc == 2
        err = _err(capsys)
        assert "input" in err and ("not written by ecg-edge" in err or "is the input" in err or "holds the input" in err)
        assert _tree(rec) == before


def test_replacing_our_dataset_keeps_the_old_until_the_new_is_complete(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ds"
    assert main([*SYNTH, "--seed", "1", "--out", str(out)]) == 0
    first = _tree(out)
    assert outputs.MARKER in first
    import numpy as np

    real_save = np.save

    def full_disk(path, *a, **k):  # the second array written fails as on a full disk
        if "y_train" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(path, *a, **k)

    monkeypatch.setattr(np, "save", full_disk)
    assert main([*SYNTH, "--seed", "2", "--out", str(out)]) == 2
    err = _err(capsys)
    assert "no space left" in err and "ENOSPC" in err
    assert _tree(out) == first  # the old dataset, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no staging or lock left
    monkeypatch.setattr(np, "save", real_save)
    assert main([*SYNTH, "--seed", "2", "--out", str(out)]) == 0
    assert _tree(out) != first and (out / "manifest.json").is_file()


def test_a_dataset_never_replaces_another_kind_of_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "run"
    with outputs.claim_dir(work, kind="train", command="train"):
        (work / "last.pt").write_bytes(b"hours of training")
    assert main([*SYNTH, "--out", str(work)]) == 2
    assert "holds an ecg-edge train output" in _err(capsys)
    assert (work / "last.pt").read_bytes() == b"hours of training"


def test_lock_refuses_a_second_writer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    import fcntl

    lp = tmp_path / ".ds.ecg-edge.lock"  # another process holding the lock
    fd = os.open(lp, os.O_RDWR | os.O_CREAT)
    pid = os.fork()
    if pid == 0:  # the child holds the lock until the parent has tried
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"x")
        import time

        time.sleep(3)
        os._exit(0)
    try:
        import time

        for _ in range(100):
            if os.fstat(fd).st_size:
                break
            time.sleep(0.02)
        assert main([*SYNTH, "--out", str(out)]) == 2
        assert "another ecg-edge process is writing it" in _err(capsys)
        assert not out.exists()
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
    assert main([*SYNTH, "--out", str(out)]) == 0  # released by the kernel when the holder exits
    assert not lp.exists()


def test_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    with outputs.lock(tmp_path / "x"), outputs.lock(tmp_path / "x"):
        assert (tmp_path / ".x.ecg-edge.lock").exists()
    assert not (tmp_path / ".x.ecg-edge.lock").exists()


def test_result_set_is_whole_or_absent(tmp_path: Path) -> None:
    out = tmp_path / "res"
    with outputs.result_set(out, command="t") as st:
        (st / "a.json").write_text("1")
        (st / "a.png").write_bytes(b"png1")
    with pytest.raises(RuntimeError), outputs.result_set(out, command="t") as st:
        (st / "a.json").write_text("2")
        raise RuntimeError("plotting failed")
    assert (out / "a.json").read_text() == "1" and (out / "a.png").read_bytes() == b"png1"
    assert sorted(p.name for p in out.iterdir()) == sorted(["a.json", "a.png", outputs.MARKER])


def test_outputs_honour_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        out = tmp_path / "ds"
        assert main([*SYNTH, "--out", str(out)]) == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o755
        assert stat.S_IMODE((out / "manifest.json").stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_os_errors_are_one_line_naming_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import ecg_edge.atomic as atomic

    out = tmp_path / "ds"
    assert main([*SYNTH, "--out", str(out)]) == 0
    capsys.readouterr()
    for code, words in ((errno.ENOSPC, "no space left"), (errno.EROFS, "read-only"), (errno.EACCES, "permission"),
                        (errno.ENOTDIR, "is a file, not a folder"), (errno.EISDIR, "is a folder")):
        def boom(dest, data, code=code):
            raise OSError(code, os.strerror(code), str(dest))

        monkeypatch.setattr(atomic, "write_bytes", boom)
        assert main(["data", "describe", str(out), "--out", str(tmp_path / f"d{code}")]) == 2
        err = _err(capsys)
        assert words in err and f"d{code}" in err, err
        assert not (tmp_path / f"d{code}" / "describe.png").exists()  # the set is absent, not half
    monkeypatch.undo()
    assert json.loads((out / outputs.MARKER).read_text())["kind"] == "dataset"


def test_check_out_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputRefused, match="is a folder"):
        outputs.check_out_file(tmp_path / "d")
    (tmp_path / "in.pt").write_bytes(b"x")
    with pytest.raises(OutputRefused, match="is the input"):
        outputs.check_out_file(tmp_path / "in.pt", inputs=[tmp_path / "in.pt"])
    with pytest.raises(OutputRefused, match="is a file"):
        outputs.check_out_file(tmp_path / "in.pt" / "model.bin")
