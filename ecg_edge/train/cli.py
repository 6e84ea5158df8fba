"""`ecg-edge train` and `ecg-edge evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import torch
from torch import nn

from ecg_edge import paths
from ecg_edge.errors import EcgEdgeError

ARCHS = ("resnet1d", "hubert_ecg")
SIZES = ("tiny", "small", "base", "large")


def build_for_dataset(arch: str, manifest: Any, size: str | None = None, dropout: float | None = None,
                      head: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A fresh model shaped for the dataset's leads, window length, rate and classes."""
    from ecg_edge.models.registry import build_model

    common: dict[str, Any] = {"in_leads": manifest.n_leads, "n_samples": manifest.n_samples,
                              "n_classes": len(manifest.classes)}
    if dropout is not None:
        common["dropout"] = dropout
    if arch == "resnet1d":
        if size is not None:
            raise EcgEdgeError("--size applies to hubert_ecg only; resnet1d is shaped by its config")
        if head is not None:
            common["head"] = head
    elif arch == "hubert_ecg":
        if head is not None:
            raise EcgEdgeError("--head applies to resnet1d only; hubert_ecg mean-pools its frames")
        common.update({"fs": float(manifest.fs), "size": size or "tiny"})
    else:
        raise EcgEdgeError(f"unknown --arch {arch!r}; expected one of {', '.join(ARCHS)}")
    try:
        model = build_model(arch, common)
    except ValueError as exc:
        raise EcgEdgeError(f"cannot build {arch} for this dataset: {exc}") from exc
    return model, common


def init_from(path: Path, arch: str, manifest: Any, size: str | None, dropout: float | None,
              head: str | None) -> tuple[nn.Module, str]:
    """A model for the dataset whose weights start from PATH: a HuBERT-ECG checkpoint folder
    (config.json + safetensors, e.g. `ecg-edge pretrain`'s encoder/) or an ecg-edge .pt of the
    same architecture (tensors whose name and shape fit are taken; a new head stays fresh)."""
    if path.is_dir():
        if arch != "hubert_ecg":
            raise EcgEdgeError(f"--init-from {path}: a checkpoint folder initialises --arch hubert_ecg, not {arch}")
        if size is not None:
            raise EcgEdgeError(f"--size comes from the checkpoint in {path}; leave it out with --init-from")
        from ecg_edge.models.hubert_checkpoint import load_hubert_ecg_dir

        over = {} if dropout is None else {"dropout": dropout}
        model, report = load_hubert_ecg_dir(path, len(manifest.classes), in_leads=manifest.n_leads,
                                            n_samples=manifest.n_samples, fs=float(manifest.fs), verbose=False, **over)
        return model, str(report).splitlines()[0]
    from ecg_edge.checkpoint import load_checkpoint

    src = load_checkpoint(path)
    if src.arch != arch:
        raise EcgEdgeError(f"--init-from {path}: holds a {src.arch} model, cannot initialise --arch {arch}")
    # the source's architecture config, reshaped for this dataset (leads, window, classes)
    _, shape = build_for_dataset(arch, manifest, size, dropout, head)
    if arch == "hubert_ecg" and size is None:
        shape.pop("size")
    from ecg_edge.models.registry import build_model

    try:
        model = build_model(arch, {**src.config, **shape})
    except ValueError as exc:
        raise EcgEdgeError(f"--init-from {path}: its {arch} config does not fit this dataset: {exc}") from exc
    own = model.state_dict()
    take = {k: v for k, v in src.state_dict.items() if k in own and own[k].shape == v.shape}
    if not take:
        raise EcgEdgeError(f"--init-from {path}: none of its tensors fit this {arch} model")
    model.load_state_dict(take, strict=False)
    fresh = sorted(k for k in own if k not in take)
    return model, (f"initialised from {path}: {len(take)} tensors loaded, {len(fresh)} kept fresh"
                   + (f" ({', '.join(fresh[:6])}{', ...' if len(fresh) > 6 else ''})" if fresh else ""))


@click.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="prepared dataset folder [default: ecg-edge-out/data/chapman4]")
@click.option("--arch", type=click.Choice(ARCHS), default="resnet1d", show_default=True)
@click.option("--size", type=click.Choice(SIZES), default=None, help="hubert_ecg size [default: tiny]")
@click.option("--head", type=click.Choice(("gap", "flatten")), default=None,
              help="resnet1d classifier: global average pool (default) or the paper's flatten")
@click.option("--epochs", type=int, default=20, show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--lr", type=float, default=None, help="[default: 1e-3 resnet1d, 1e-4 hubert_ecg]")
@click.option("--weight-decay", type=float, default=1e-3, show_default=True)
@click.option("--dropout", type=float, default=None, help="model dropout [default: the model config's]")
@click.option("--patience", type=int, default=6, show_default=True, help="early stopping on val macro-F1")
@click.option("--class-weights", is_flag=True, help="inverse-frequency class weights in the loss")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=0, help="torch threads per process [default: torch's]")
@click.option("--init-from", "init_path", type=click.Path(path_type=Path), default=None,
              help="start from these weights: a HuBERT-ECG checkpoint folder (e.g. pretrain's encoder/) or a .pt")
@click.option("--resume", is_flag=True, help="continue the interrupted run in --out")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="output folder [default: ecg-edge-out/train]")
def train(data_dir: Path | None, arch: str, size: str | None, head: str | None, epochs: int, batch_size: int,
          lr: float | None, weight_decay: float, dropout: float | None, patience: int, class_weights: bool,
          seed: int, threads: int, init_path: Path | None, resume: bool, out_dir: Path | None) -> None:
    """Train a classifier; writes best.pt, last.pt, history.json, curve.png and the test-split
    evaluation. Under `torchrun --nproc_per_node N -m ecg_edge.cli train ...` it runs DDP (gloo)."""
    from ecg_edge.data.prepared import load_prepared
    from ecg_edge.train import distributed as ddp
    from ecg_edge.train.evaluate import evaluate_checkpoint, format_report, write_report
    from ecg_edge.train.loop import TrainConfig, fit

    data_dir = data_dir or paths.default_dataset_dir()
    out_dir = out_dir or paths.default_train_dir()
    ds = load_prepared(data_dir)
    cfg = TrainConfig(arch=arch, lr=lr, weight_decay=weight_decay, epochs=epochs, batch_size=batch_size,
                      seed=seed, num_threads=threads, class_weights=class_weights, patience=patience)
    info = ddp.init_from_env()
    try:
        if threads > 0:
            torch.set_num_threads(threads)
        torch.manual_seed(seed)  # the initial weights are part of the seeded run
        if init_path is not None:
            model, note = init_from(init_path, arch, ds.manifest, size, dropout, head)
            if info.is_main:
                click.echo(note, err=True)
        else:
            model, _ = build_for_dataset(arch, ds.manifest, size, dropout, head)
        fit(model, ds, cfg, out_dir, resume=resume)
        if info.is_main:
            res = evaluate_checkpoint(out_dir / "best.pt", data_dir, "test", cfg.eval_batch_size)
            written = write_report(res, out_dir, "eval_test")
            click.echo(format_report(res))
            click.echo(f"wrote {out_dir / 'best.pt'}, {out_dir / 'last.pt'}, {out_dir / 'history.json'}, "
                       f"{out_dir / 'curve.png'}, {', '.join(str(p) for p in written)}")
    finally:
        ddp.shutdown()


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path), required=False)
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="prepared dataset folder [default: ecg-edge-out/data/chapman4]")
@click.option("--split", type=click.Choice(("train", "val", "test")), default="test", show_default=True)
@click.option("--runtime", type=click.Choice(("numpy", "c")), default="numpy", show_default=True,
              help="for a model.bin: the integer numpy reference or the C runtime")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="where to write eval_SPLIT.json/.txt/_confusion.png [default: beside CHECKPOINT]")
@click.option("--json", "as_json", is_flag=True, help="print the metrics as JSON instead of tables")
@click.option("--reference", "reference", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="a second model (.pt or .bin) evaluated on the same windows: print CHECKPOINT - REFERENCE "
                   "with a paired bootstrap 95%% CI (resampling patients/records)")
def evaluate(checkpoint: Path | None, data_dir: Path | None, split: str, runtime: str, out_dir: Path | None,
             as_json: bool, reference: Path | None) -> None:
    """Accuracy, macro precision/recall/F1, per-class figures and the confusion matrix of
    CHECKPOINT (a .pt checkpoint, or a .bin model run by the integer executor) on a split."""
    from ecg_edge.train.evaluate import (
        compare_results,
        comparison_text,
        evaluate_checkpoint,
        format_report,
        split_groups,
        write_report,
    )

    checkpoint = checkpoint or paths.default_checkpoint()
    data_dir = data_dir or paths.default_dataset_dir()

    def run(path: Path) -> dict[str, Any]:
        if path.suffix == ".bin":
            return _evaluate_model_bin(path, data_dir, split, runtime)
        if runtime != "numpy" and path == checkpoint:
            raise EcgEdgeError(f"--runtime {runtime} applies to a model.bin; {path} is a PyTorch checkpoint")
        return evaluate_checkpoint(path, data_dir, split)

    res = run(checkpoint)
    stem = f"eval_{split}_bin_{runtime}" if checkpoint.suffix == ".bin" else f"eval_{split}"
    text = None
    if reference is not None:
        cmp = compare_results(run(reference), res, split_groups(data_dir, split))
        res["vs_reference"] = {"reference": str(reference)} | cmp.to_dict()
        text = comparison_text(cmp, str(reference), str(checkpoint))
    target = out_dir or checkpoint.parent
    if {"confusion", "classes", "per_class", "accuracy"} <= set(res):
        written = write_report(res, target, stem)
        click.echo(json.dumps(res, indent=2, default=str) if as_json else format_report(res))
        if text and not as_json:
            click.echo("\n" + text)
        click.echo(f"wrote {', '.join(str(p) for p in written)}")
    else:
        from ecg_edge.atomic import write_json

        write_json(target / f"{stem}.json", res)
        click.echo(json.dumps(res, indent=2, default=str))


def _evaluate_model_bin(path: Path, data_dir: Path, split: str, runtime: str) -> dict[str, Any]:
    from ecg_edge.report.shipped import evaluate_model_bin

    return evaluate_model_bin(path, data_dir, split=split, runtime=runtime)

