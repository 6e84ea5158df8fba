"""Training speed of the default ResNet1D on the default synthetic data (seconds per epoch).

Wall time on a shared machine depends on what else runs, so the process CPU time per epoch
and the load average are recorded beside it (with one thread, CPU seconds is the wall time an
idle core would take). Writes bench/train.json and bench/train.md.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
import torch

from ecg_edge.atomic import write_json, write_text
from ecg_edge.models.registry import model_summary
from ecg_edge.models.resnet1d import ResNet1D, ResNet1DConfig
from ecg_edge.options import POSITIVE_INT, NumberList, entry_point
from ecg_edge.train.loop import TrainConfig, fit


def _dataset(n: int, seed: int, root: Path):
    from ecg_edge.data.synth import make_synthetic_dataset

    return make_synthetic_dataset("chapman4", n=n, leads=1, seed=seed, out_dir=root / f"chapman4_{n}_{seed}")


def measure(n: int = 2400, epochs: int = 2, threads: tuple[int, ...] = (1, 2), batch_size: int = 64,
            seed: int = 0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ecg-edge-bench-train-") as tmp:
        ds = _dataset(n, seed, Path(tmp))
        m = ds.manifest
        cfg_m = ResNet1DConfig(in_leads=m.n_leads, n_samples=m.n_samples, n_classes=len(m.classes))
        summary = model_summary(ResNet1D(cfg_m), m.n_leads, m.n_samples)
        runs = []
        for t in threads:
            torch.manual_seed(seed)
            model = ResNet1D(cfg_m)
            records: list[dict[str, Any]] = []
            load0 = os.getloadavg()[0]
            fit(model, ds, TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed, num_threads=t,
                                       patience=epochs + 1), Path(tmp) / f"run{t}",
                on_epoch_end=lambda _e, r, rec=records: rec.append(r), log=None)
            runs.append({
                "threads": t,
                "epochs": len(records),
                "wall_s_per_epoch": sum(r["seconds"] for r in records) / len(records),
                "cpu_s_per_epoch": sum(r["cpu_seconds"] for r in records) / len(records),
                "train_windows_per_s": len(ds.split("train")[1]) * len(records) / sum(r["seconds"] for r in records),
                "load_average_1min": [load0, os.getloadavg()[0]],
                "final_val_macro_f1": records[-1]["val_macro_f1"],
            })
        return {"model": "resnet1d default", "config": cfg_m.to_dict(), **summary,
                "dataset": {"task": m.task, "n": n, "train": len(ds.split("train")[1]), "val": len(ds.split("val")[1]),
                            "leads": m.n_leads, "n_samples": m.n_samples, "fs": m.fs},
                "batch_size": batch_size, "cpu_count": os.cpu_count(), "machine": platform.machine(),
                "torch": torch.__version__, "runs": runs}


def to_markdown(res: dict[str, Any]) -> str:
    d = res["dataset"]
    lines = ["# Training speed: default ResNet1D", "",
             f"{res['parameters']:,} parameters, {res['macs']:,} MACs per inference; synthetic {d['task']} "
             f"({d['train']} train / {d['val']} val windows, {d['leads']} lead x {d['n_samples']} @ {d['fs']:g} Hz), "
             f"batch {res['batch_size']}, torch {res['torch']}, {res['cpu_count']} CPUs.", "",
             "| threads | epochs | wall s/epoch | CPU s/epoch | train windows/s | load avg (start, end) |",
             "|---:|---:|---:|---:|---:|---|"]
    for r in res["runs"]:
        la = ", ".join(f"{v:.1f}" for v in r["load_average_1min"])
        lines.append(f"| {r['threads']} | {r['epochs']} | {r['wall_s_per_epoch']:.1f} | {r['cpu_s_per_epoch']:.1f} | "
                     f"{r['train_windows_per_s']:.0f} | {la} |")
    lines += ["", "An epoch = one pass over the training split + evaluation of the validation split.",
              "Wall time grows with other load on the machine; CPU seconds do not (with 1 thread)."]
    return "\n".join(lines) + "\n"


@click.command(help="Seconds per epoch of the default ResNet1D.")
@click.option("--n", "n", type=POSITIVE_INT, default=2400, show_default=True)
@click.option("--epochs", type=POSITIVE_INT, default=2, show_default=True)
@click.option("--threads", type=NumberList(integer=True, positive=True), default="1,2", show_default=True, help="torch thread counts, e.g. 1,2")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("bench"), show_default=True)
def command(n: int, epochs: int, threads: tuple[int, ...], out: Path) -> None:
    res = measure(n, epochs, threads)
    write_json(out / "train.json", res)
    write_text(out / "train.md", to_markdown(res))
    print(to_markdown(res))


main = entry_point(command, "python -m ecg_edge.train.bench")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
