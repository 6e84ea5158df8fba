"""Data-parallel training: two gloo processes on CPU under torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ecg_edge.checkpoint import load_checkpoint
from ecg_edge.paths import REPO_ROOT
from tests.tinydata import make_dataset

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "ECG_EDGE_NO_PROGRESS": "1",
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory):
    return make_dataset(tmp_path_factory.mktemp("ddp") / "ds")


def test_ddp_ranks_agree_and_rank0_writes(ds, tmp_path: Path) -> None:
    p = subprocess.run([*TORCHRUN, "-m", "tests.train.ddp_worker", str(ds.root), str(tmp_path)], cwd=REPO_ROOT,
                       env=_env(), capture_output=True, text=True, timeout=400)
    assert p.returncode == 0, p.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert (r0["rank"], r1["rank"], r0["world"]) == (0, 1, 2)
    best = load_checkpoint(tmp_path / "best.pt").state_dict
    for k in best:  # every replica ends with the weights rank 0 saved
        assert torch.equal(r0["best"][k], best[k]) and torch.equal(r1["best"][k], best[k]), k
    trainer = load_checkpoint(tmp_path / "last.pt").extra["trainer"]
    assert trainer["world_size"] == 2 and len(trainer["torch_rng"]) == 2 and trainer["epoch"] == 2
    assert not list(tmp_path.glob(".*.tmp"))


def test_ddp_cli_train(ds, tmp_path: Path) -> None:
    out = tmp_path / "run"
    p = subprocess.run([*TORCHRUN, "-m", "ecg_edge.cli", "train", "--data", str(ds.root), "--epochs", "1",
                        "--batch-size", "8", "--threads", "1", "--out", str(out)], cwd=REPO_ROOT, env=_env(),
                       capture_output=True, text=True, timeout=400)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "2 replicas (DDP/gloo)" in p.stderr
    assert p.stderr.count("epoch 1/1:") == 1  # rank 0 logs alone
    assert (out / "eval_test.json").is_file() and (out / "curve.png").is_file()
    assert load_checkpoint(out / "last.pt").extra["trainer"]["world_size"] == 2
