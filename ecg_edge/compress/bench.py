"""Compression benchmark (`make bench`): wall time of the LAQ search for the default ResNet1D on
the default synthetic data (chapman4, 2400 windows, seed 0), with its evaluation count, bytes and
validation accuracy. Target: under 3 minutes on the 2-core build machine.

The model is the main job's checkpoint (ecg_edge.paths.default_checkpoint()) when present, else
one trained here for a few epochs (ecg_edge.train.loop.fit), cached under bench/compress-work/.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import click
import torch

from ecg_edge.atomic import write_json, write_text
from ecg_edge.options import entry_point


def _model_and_data(work: Path) -> tuple[Path, Path]:
    from ecg_edge.checkpoint import load_checkpoint
    from ecg_edge.paths import default_checkpoint

    ck = default_checkpoint()
    if ck.is_file():
        d = load_checkpoint(ck).data.get("dataset_dir")
        if d and Path(d).is_dir():
            return ck, Path(d)
    data = work / "chapman4"
    if not (data / "manifest.json").is_file():
        from ecg_edge.data.synth import make_synthetic_dataset

        make_synthetic_dataset("chapman4", 2400, 1, 0, data)
    ck = work / "train" / "best.pt"
    if not ck.is_file():
        from ecg_edge.checkpoint import save_checkpoint
        from ecg_edge.data.prepared import load_prepared
        from ecg_edge.models.registry import build_model
        from ecg_edge.models.resnet1d import ResNet1DConfig
        from ecg_edge.train.loop import TrainConfig, fit

        cfg = ResNet1DConfig().to_dict()
        ckpt = fit(build_model("resnet1d", cfg), load_prepared(data), TrainConfig(epochs=8, num_threads=2),
                   work / "train", arch="resnet1d", model_config=cfg)
        save_checkpoint(ck, ckpt)
    return ck, data


@click.command(help=__doc__.splitlines()[0])
def measure() -> dict:
    from ecg_edge.checkpoint import load_checkpoint
    from ecg_edge.compress.engine import CompressOptions, Compressor
    from ecg_edge.data.prepared import load_prepared
    from ecg_edge.targets.registry import get_target

    torch.set_num_threads(2)
    out = Path("bench")
    ck, data = _model_and_data(out / "compress-work")
    t0 = time.perf_counter()
    comp = Compressor(load_checkpoint(ck), load_prepared(data), get_target("cortex-m4"),
                      CompressOptions(tolerance=0.01, use_packer=False), source=str(ck))
    setup = time.perf_counter() - t0
    res = comp.search("laq")
    blocks = sum(comp.ctx.compressed(n, c).block_bytes()[1] for n, c in res.assign.items())
    result = {
        "what": f"LAQ search (tolerance 0.01, {comp.opts.reading} reading of eq. 3), default ResNet1D, synthetic chapman4",
        "checkpoint": str(ck), "dataset": str(data), "layers": len(comp.names),
        "params": int(sum(p.numel() for p in comp.model.parameters())), "val_windows": int(len(comp.y_val)),
        "setup_seconds": setup, "laq_seconds": res.seconds, "evaluations": res.evaluations,
        "baseline_val_acc": res.baseline_accuracy, "laq_val_acc": res.val_accuracy,
        "bits": {n: c[0] for n, c in res.assign.items()}, "weight_block_bytes": blocks,
        "under_3_minutes": res.seconds + setup < 180, "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(), "processor": platform.processor(),
    }
    write_json(out / "compress.json", result)
    write_text(out / "compress.md", "\n".join([
        "# compress benchmark", "", result["what"], "",
        "| layers | params | val windows | setup s | LAQ search s | evaluations | val acc fp32 -> LAQ | weight blocks B |",
        "|---|---|---|---|---|---|---|---|",
        f"| {result['layers']} | {result['params']} | {result['val_windows']} | {setup:.1f} | {res.seconds:.1f} | "
        f"{res.evaluations} | {res.baseline_accuracy:.4f} -> {res.val_accuracy:.4f} | {blocks} |", ""]))
    print(json.dumps({k: v for k, v in result.items() if k != "bits"}, indent=2))
    return result


main = entry_point(measure, "python -m ecg_edge.compress.bench")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
