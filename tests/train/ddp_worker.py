"""Run under torchrun by test_train_ddp.py: fit() on every rank, then dump each rank's weights."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from ecg_edge.data.prepared import load_prepared
from ecg_edge.train import distributed as ddp
from ecg_edge.train.loop import TrainConfig, fit
from tests.train.tinydata import tiny_model


def main(data: str, out: str) -> None:
    info = ddp.init_from_env()
    try:
        ck = fit(tiny_model(seed=0), load_prepared(data), TrainConfig(epochs=2, batch_size=8, num_threads=1),
                 out, log=None)
        torch.save({"best": ck.state_dict, "rank": info.rank, "world": info.world_size},
                   Path(out) / f"rank{info.rank}.pt")
    finally:
        ddp.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
