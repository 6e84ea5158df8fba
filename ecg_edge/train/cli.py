"""`ecg-edge train` and `ecg-edge evaluate`."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import click
import torch
from torch import nn

from ecg_edge import paths
from ecg_edge.errors import EcgEdgeError
from ecg_edge.options import NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, finite

ARCHS = ("resnet1d", "hubert_ecg")
SIZES = ("tiny", "small", "base", "large")


def parse_hubert_set(items: tuple[str, ...]) -> dict[str, Any]:
    """--hubert-set KEY=VALUE (VALUE as JSON, e.g. window_s=10.24, conv_stride=[4,2,2,2,1])."""
    from dataclasses import fields

    from ecg_edge.models.hubert_ecg import HubertECGConfig

    known = {f.name for f in fields(HubertECGConfig)} - {"in_leads", "n_samples", "fs", "n_classes", "size"}
    out: dict[str, Any] = {}
    for it in items:
        key, sep, val = it.partition("=")
        if not sep or key not in known:
            raise EcgEdgeError(f"--hubert-set {it!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(known))}")
        try:
            out[key] = json.loads(val)
        except json.JSONDecodeError as exc:
            raise EcgEdgeError(f"--hubert-set {it!r}: VALUE must be JSON (a number, or a list like [4,2,2,2,1])") from exc
    return out


def build_for_dataset(arch: str, manifest: Any, size: str | None = None, dropout: float | None = None,
                      head: str | None = None, hubert_set: dict[str, Any] | None = None
                      ) -> tuple[nn.Module, dict[str, Any]]:
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
        common.update({"fs": float(manifest.fs), "size": size or "tiny", **(hubert_set or {})})
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


def train_options(arch: str, given: dict[str, Any]) -> dict[str, Any]:
    """TrainConfig fields from the options given (None = not given) over the arch's defaults
    (ecg_edge.train.loop.ARCH_TRAIN_DEFAULTS). An arch's `warmup_fraction` sets warmup_epochs to
    that fraction of the epochs when --warmup-epochs is not given and the schedule is a step one."""
    from ecg_edge.train.loop import ARCH_TRAIN_DEFAULTS, STEP_SCHEDULES

    defaults = dict(ARCH_TRAIN_DEFAULTS.get(arch, {}))
    frac = defaults.pop("warmup_fraction", None)
    opts = {k: v for k, v in defaults.items() if given.get(k) is None}
    opts |= {k: v for k, v in given.items() if v is not None}
    opts.setdefault("epochs", 20)
    opts.setdefault("patience", 6)
    if frac is not None and given.get("warmup_epochs") is None and opts.get("lr_schedule") in STEP_SCHEDULES:
        opts["warmup_epochs"] = round(frac * opts["epochs"], 3)
    return opts


@click.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="prepared dataset folder [default: ecg-edge-out/data/chapman4]")
@click.option("--arch", type=click.Choice(ARCHS), default="resnet1d", show_default=True)
@click.option("--size", type=click.Choice(SIZES), default=None, help="hubert_ecg size [default: tiny]")
@click.option("--head", type=click.Choice(("gap", "flatten")), default=None,
              help="resnet1d classifier: global average pool (default) or the paper's flatten")
@click.option("--epochs", type=POSITIVE_INT, default=None, help="[default: the arch's, 20 for resnet1d]")
@click.option("--batch-size", type=POSITIVE_INT, default=64, show_default=True)
@click.option("--lr", type=POSITIVE, default=None, help="[default: 1e-3]")
@click.option("--weight-decay", type=NON_NEGATIVE, default=None, help="[default: the arch's, 1e-3 for resnet1d]")
@click.option("--dropout", type=finite(0.0, 1.0, max_open=True), default=None, help="model dropout [default: the model config's]")
@click.option("--patience", type=POSITIVE_INT, default=None,
              help="early stopping on val macro-F1 [default: the arch's, 6 for resnet1d]")
@click.option("--class-weights", is_flag=True, help="inverse-frequency class weights in the loss (= --balance weights)")
@click.option("--balance", type=click.Choice(("auto", "sampler", "weights", "both", "none")), default="auto",
              show_default=True, help="counter class imbalance; auto: class-balanced sampling when the training "
              "split's largest/smallest class ratio exceeds 2 (said in the train summary)")
@click.option("--lr-schedule", type=click.Choice(("plateau", "cosine", "linear", "constant")), default=None,
              help="plateau: halve the LR when the val loss stalls; cosine/linear/constant: per-step decay "
                   "after --warmup-epochs [default: the arch's, ecg_edge.train.loop.ARCH_TRAIN_DEFAULTS]")
@click.option("--warmup-epochs", type=NON_NEGATIVE, default=None,
              help="linear LR warmup over this many epochs (step schedules) [default: the arch's]")
@click.option("--optimizer", type=click.Choice(("adam", "adamw")), default=None,
              help="adamw: decoupled weight decay [default: the arch's]")
@click.option("--label-smoothing", type=finite(0.0, 1.0, max_open=True), default=None,
              help="cross-entropy label smoothing [default: the arch's]")
@click.option("--time-mask-spans", type=NON_NEGATIVE_INT, default=None,
              help="zero this many random spans of --time-mask-s per training window [default: the arch's, 0]")
@click.option("--time-mask-s", type=POSITIVE, default=None, help="length of each masked span, s [default: 0.4]")
@click.option("--ema-decay", type=finite(0.0, 1.0, max_open=True), default=None,
              help="validate and keep a moving average of the weights, this decay per step (e.g. 0.995) "
                   "[default: the arch's, 0 = off]")
@click.option("--augment/--no-augment", default=None,
              help="light ECG augmentations: time shifts, baseline wander and muscle noise (NSTDB when present) "
                   "[default: the arch's; on for hubert_ecg, off for resnet1d]")
@click.option("--seed", type=NON_NEGATIVE_INT, default=0, show_default=True)
@click.option("--threads", type=POSITIVE_INT, default=None, help="torch threads per process [default: torch's]")
@click.option("--hubert-set", "hubert_items", multiple=True, metavar="KEY=VALUE",
              help="hubert_ecg config field (repeatable), e.g. window_s=10.24 target_fs=200 hidden_dropout=0.2")
@click.option("--init-from", "init_path", type=click.Path(path_type=Path), default=None,
              help="start from these weights: a HuBERT-ECG checkpoint folder (e.g. pretrain's encoder/) or a .pt")
@click.option("--resume", is_flag=True, help="continue the interrupted run in --out")
@click.option("--force", is_flag=True,
              help="train anew into an --out that holds a run; the old run stays until the new one completes")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="output folder [default: ecg-edge-out/train]")
def train(data_dir: Path | None, arch: str, size: str | None, head: str | None, epochs: int | None,
          batch_size: int, lr: float | None, weight_decay: float | None, dropout: float | None, patience: int | None,
          class_weights: bool, balance: str, lr_schedule: str | None, warmup_epochs: float | None,
          optimizer: str | None, label_smoothing: float | None, time_mask_spans: int | None,
          time_mask_s: float | None, ema_decay: float | None, augment: bool | None, seed: int, threads: int | None, hubert_items: tuple[str, ...],
          init_path: Path | None, resume: bool, force: bool, out_dir: Path | None) -> None:
    """Train a classifier; writes best.pt, last.pt, history.json, curve.png and the test-split
    evaluation. Under `torchrun --nproc_per_node N -m ecg_edge.cli train ...` it runs DDP (gloo)."""
    from ecg_edge import outputs
    from ecg_edge.data.prepared import load_prepared
    from ecg_edge.errors import OutputRefused
    from ecg_edge.train import distributed as ddp
    from ecg_edge.train.loop import TrainConfig

    data_dir = data_dir or paths.default_dataset_dir()
    explicit = out_dir is not None
    out_dir = out_dir or paths.default_train_dir()
    ds = load_prepared(data_dir)
    opts = train_options(arch, {
        "epochs": epochs, "patience": patience, "weight_decay": weight_decay, "lr_schedule": lr_schedule,
        "warmup_epochs": warmup_epochs, "optimizer": optimizer, "label_smoothing": label_smoothing,
        "time_mask_spans": time_mask_spans, "time_mask_s": time_mask_s, "ema_decay": ema_decay, "augment": augment})
    cfg = TrainConfig(arch=arch, lr=lr, batch_size=batch_size, seed=seed, num_threads=threads or 0,
                      class_weights=class_weights, balance=balance, **opts)
    if resume and force:
        raise EcgEdgeError("--resume continues the run in --out, --force replaces it; give one of them")
    hubert_set = parse_hubert_set(hubert_items)
    if hubert_set and (arch != "hubert_ecg" or init_path is not None):
        raise EcgEdgeError("--hubert-set shapes a fresh --arch hubert_ecg model (not resnet1d, not with --init-from)")
    for split in ("train", "val", "test"):  # before any epoch: the test-split report needs windows too
        if len(ds.split(split)[1]) == 0:
            raise EcgEdgeError(f"{data_dir}: split {split!r} is empty (0 windows); training needs train, val and "
                               "test windows (prepare with other --split fractions or more records)")
    has_run = any((out_dir / f).exists() for f in ("last.pt", "best.pt"))
    if has_run and not (resume or force):
        raise OutputRefused(f"--out {out_dir}: holds a training run (last.pt/best.pt); pass --resume to continue "
                            "it, --force to train anew (the old run stays until the new one completes), "
                            "or choose another --out")
    if resume and not (out_dir / "last.pt").is_file():
        raise EcgEdgeError(f"--resume: {out_dir / 'last.pt'} not found; nothing to resume (leave out --resume)")
    info = ddp.init_from_env()
    inputs = [data_dir, init_path]
    if not info.is_main:
        where = contextlib.nullcontext(out_dir)
    elif force and has_run:
        if info.enabled:
            raise EcgEdgeError("--force is not supported under torchrun; choose a new --out")
        where = outputs.replace_dir(out_dir, kind="train", command="train", inputs=inputs)
    else:
        where = outputs.claim_dir(out_dir, kind="train", command="train", inputs=inputs, explicit=explicit)
    try:
        with where as work:
            _train_into(Path(work), out_dir, ds, data_dir, cfg, info, arch, size, dropout, head, seed, threads,
                        init_path, resume, hubert_set)
    finally:
        ddp.shutdown()


def _train_into(work: Path, out_dir: Path, ds: Any, data_dir: Path, cfg: Any, info: Any, arch: str,
                size: str | None, dropout: float | None, head: str | None, seed: int, threads: int | None,
                init_path: Path | None, resume: bool, hubert_set: dict[str, Any] | None = None) -> None:
    from ecg_edge.outputs import result_set
    from ecg_edge.train.evaluate import evaluate_checkpoint, format_report, write_report
    from ecg_edge.train.loop import fit

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)  # the initial weights are part of the seeded run
    if init_path is not None:
        model, note = init_from(init_path, arch, ds.manifest, size, dropout, head)
        if info.is_main:
            click.echo(note, err=True)
    else:
        model, _ = build_for_dataset(arch, ds.manifest, size, dropout, head, hubert_set)
    fit(model, ds, cfg, work, resume=resume)
    if info.is_main:
        res = evaluate_checkpoint(work / "best.pt", data_dir, "test", cfg.eval_batch_size)
        with result_set(work, command="train", explicit=False) as stage:
            written = [out_dir / p.name for p in write_report(res, stage, "eval_test")]
        click.echo(format_report(res))
        click.echo(f"wrote {out_dir / 'best.pt'}, {out_dir / 'last.pt'}, {out_dir / 'history.json'}, "
                   f"{out_dir / 'curve.png'}, {', '.join(str(p) for p in written)}")


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
    from ecg_edge.outputs import result_set
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
    if checkpoint.suffix != ".bin" and runtime != "numpy":
        raise EcgEdgeError(f"--runtime {runtime} applies to a model.bin; {checkpoint} is a PyTorch checkpoint")

    def run(path: Path) -> dict[str, Any]:
        if path.suffix == ".bin":
            return _evaluate_model_bin(path, data_dir, split, runtime)
        return evaluate_checkpoint(path, data_dir, split)

    stem = f"eval_{split}_bin_{runtime}" if checkpoint.suffix == ".bin" else f"eval_{split}"
    target = out_dir or checkpoint.parent
    text = None
    with result_set(target, command="evaluate", inputs=[checkpoint, data_dir, reference],
                    explicit=out_dir is not None) as stage:
        res = run(checkpoint)
        if reference is not None:
            cmp = compare_results(run(reference), res, split_groups(data_dir, split))
            res["vs_reference"] = {"reference": str(reference)} | cmp.to_dict()
            text = comparison_text(cmp, str(reference), str(checkpoint))
        if {"confusion", "classes", "per_class", "accuracy"} <= set(res):
            written = [target / p.name for p in write_report(res, stage, stem)]
        else:
            from ecg_edge.atomic import write_json

            write_json(stage / f"{stem}.json", res)
            written = [target / f"{stem}.json"]
    if as_json or "confusion" not in res:
        click.echo(json.dumps(res, indent=2, default=str))
        click.echo(f"wrote {', '.join(str(p) for p in written)}", err=True)
    else:
        click.echo(format_report(res))
        if text:
            click.echo("\n" + text)
        click.echo(f"wrote {', '.join(str(p) for p in written)}")


def _evaluate_model_bin(path: Path, data_dir: Path, split: str, runtime: str) -> dict[str, Any]:
    from ecg_edge.report.shipped import evaluate_model_bin

    return evaluate_model_bin(path, data_dir, split=split, runtime=runtime)


@click.command()
@click.argument(
    "checkpoints",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
)
@click.option(
    "--reference",
    "references",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="a run of the reference recipe (.pt or .bin; repeat for each seed)",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="prepared dataset folder [default: ecg-edge-out/data/chapman4]",
)
@click.option(
    "--split", type=click.Choice(("train", "val", "test")), default="test", show_default=True
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="folder for compare.json, compare.txt and compare.png",
)
def compare(
    checkpoints: tuple[Path, ...],
    references: tuple[Path, ...],
    data_dir: Path | None,
    split: str,
    out_dir: Path,
) -> None:
    """Two recipes over seeds: mean and spread of each, and mean(CHECKPOINTS) - mean(REFERENCE)
    with a 95% CI over test patients (runs fixed) and one that also redraws the runs (seeds)."""
    from ecg_edge.outputs import result_set
    from ecg_edge.train.evaluate import (
        compare_runs,
        evaluate_checkpoint,
        runs_text,
        split_groups,
        write_runs_report,
    )

    data_dir = data_dir or paths.default_dataset_dir()
    both = sorted(str(p) for p in set(checkpoints) & set(references))
    if both:
        raise EcgEdgeError(f"{', '.join(both)}: given both as a checkpoint and as --reference")

    def run(path: Path) -> dict[str, Any]:
        return (
            _evaluate_model_bin(path, data_dir, split, "numpy")
            if path.suffix == ".bin"
            else evaluate_checkpoint(path, data_dir, split)
        )

    with result_set(
        out_dir, command="compare", inputs=[*checkpoints, *references, data_dir]
    ) as stage:
        from ecg_edge.progress import progress

        results = [
            run(p) for p in progress([*references, *checkpoints], desc="evaluate", unit="model")
        ]
        refs, news = results[: len(references)], results[len(references) :]
        cmp = compare_runs(refs, news, split_groups(data_dir, split))
        text = runs_text(cmp, [str(p) for p in references], [str(p) for p in checkpoints])
        write_runs_report(
            stage, cmp, text, [str(p) for p in references], [str(p) for p in checkpoints]
        )
    click.echo(text)
    click.echo(
        f"wrote {out_dir / 'compare.json'}, {out_dir / 'compare.txt'}, {out_dir / 'compare.png'}"
    )
