"""Does self-supervised pretraining help HuBERT-tiny when labels are few?

    python -m ecg_edge.train.pretrain_study --labelled DS --unlabelled DS [--unlabelled DS2 ...] \
        --label-frac 0.1 --seeds 0,1,2 --out OUT

1. Few-label dataset: a class-stratified `label_frac` sample of DS's train AND val windows
   (the test split untouched), written as a prepared dataset OUT/few.
2. Pretraining (`ecg_edge.train.pretrain`) on the X arrays of the train splits of every
   --unlabelled dataset (labels ignored; test splits never seen) -> OUT/pretrain/encoder.
3. For every seed, the same HubertECG fine-tuned with B1's `fit` on OUT/few twice: from scratch
   and from the pretrained encoder (same config, learning rate, epochs, early stopping).
4. Test accuracy / macro-F1 of both on DS's full test split -> OUT/study.json and OUT/study.md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from ecg_edge.atomic import write_json, write_text
from ecg_edge.data.prepared import PreparedDataset, load_prepared, save_prepared
from ecg_edge.metrics import classification_metrics
from ecg_edge.models.hubert_checkpoint import load_hubert_ecg_dir
from ecg_edge.models.hubert_ecg import HubertECG, HubertECGConfig
from ecg_edge.models.predict import predict
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.options import POSITIVE, POSITIVE_INT, NumberList, entry_point, finite
from ecg_edge.train.loop import TrainConfig, fit
from ecg_edge.train.pretrain import PretrainConfig, pretrain


def stratified_subset(y: np.ndarray, frac: float, n_classes: int, seed: int, min_per_class: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = []
    for c in range(n_classes):
        members = np.flatnonzero(y == c)
        k = min(len(members), max(min_per_class, int(round(frac * len(members)))))
        idx.append(rng.choice(members, k, replace=False))
    return np.sort(np.concatenate(idx))


def make_few_label_dataset(src: PreparedDataset, frac: float, out: Path, seed: int = 0) -> PreparedDataset:
    """train and val at `frac` of their labels (stratified), test complete."""
    splits = {}
    for name in ("train", "val", "test"):
        X, y = src.split(name)
        g = src.groups(name)
        keep = np.arange(len(y)) if name == "test" else stratified_subset(y, frac, len(src.classes), seed)
        splits[name] = (np.asarray(X[keep]), y[keep], g[keep])
    m = src.manifest
    from ecg_edge.data.prepared import PreparedManifest

    man = PreparedManifest(task=m.task, classes=list(m.classes), fs=m.fs, n_samples=m.n_samples,
                           leads=list(m.leads), source=f"{src.root} ({frac:g} of train/val labels)",
                           provenance={"few_label_subset_of": str(src.root), "label_frac": frac, "seed": seed})
    return save_prepared(out, man, splits)


def evaluate_test(model: torch.nn.Module, ds: PreparedDataset) -> dict[str, Any]:
    X, y = ds.split("test")
    m = classification_metrics(np.asarray(y), predict(model, X).argmax(1), ds.classes)
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


def run_study(labelled: str, unlabelled: list[str], out: str, label_frac: float = 0.1,
              seeds: tuple[int, ...] = (0, 1, 2), pretrain_cfg: dict[str, Any] | None = None,
              finetune: dict[str, Any] | None = None, size: str = "tiny") -> dict[str, Any]:
    outp = Path(out)
    src = load_prepared(labelled)
    few = make_few_label_dataset(src, label_frac, outp / "few")
    man = few.manifest
    t0 = time.time()
    pcfg = PretrainConfig(data=list(unlabelled), out=str(outp / "pretrain"), size=size,
                          **(pretrain_cfg or {}))
    summary_pt = pretrain(pcfg, resume=(outp / "pretrain" / "pretrain_state.pt").is_file())
    pretrain_s = time.time() - t0
    ft = {"epochs": 40, "patience": 10, "batch_size": 32, "lr": 1e-3, "num_threads": 1, **(finetune or {})}
    rows = []
    for seed in seeds:
        for arm in ("scratch", "pretrained"):
            torch.manual_seed(seed)
            data = dict(in_leads=man.n_leads, n_samples=man.n_samples, fs=float(man.fs), n_classes=len(man.classes))
            if arm == "scratch":
                model = HubertECG(HubertECGConfig(size=size, **data,
                                                  **(pretrain_cfg or {}).get("model_overrides", {})))
            else:
                model, _ = load_hubert_ecg_dir(outp / "pretrain" / "encoder", verbose=False, **data)
            t1 = time.time()
            ck = fit(model, few, TrainConfig(arch="hubert_ecg", seed=seed, **ft), outp / f"{arm}_seed{seed}",
                     resume=(outp / f"{arm}_seed{seed}" / "last.pt").is_file())
            best = model_from_checkpoint(ck)
            rows.append({"seed": seed, "arm": arm, **evaluate_test(best, src),
                         "best_epoch": ck.metrics.get("epoch"), "seconds": round(time.time() - t1, 1)})
            print(json.dumps(rows[-1]), flush=True)
    agg = {}
    for arm in ("scratch", "pretrained"):
        r = [x for x in rows if x["arm"] == arm]
        agg[arm] = {k: {"mean": float(np.mean([x[k] for x in r])), "std": float(np.std([x[k] for x in r]))}
                    for k in ("accuracy", "macro_f1")}
    result = {"labelled": labelled, "unlabelled": unlabelled, "label_frac": label_frac,
              "train_labels": int(sum(man.counts["train"].values())), "val_labels": int(sum(man.counts["val"].values())),
              "pretrain": {"config": summary_pt["config"], "train_sequences": summary_pt["train_sequences"],
                           "seconds": round(pretrain_s, 1), "last_epoch": summary_pt["history"][-1]},
              "finetune": ft, "runs": rows, "aggregate": agg}
    write_json(outp / "study.json", result)
    lines = [f"# Pretraining vs scratch, HuBERT-{size}, {label_frac:.0%} of labels",
             "", f"labelled: {labelled} ({result['train_labels']} train / {result['val_labels']} val labels; full test split)",
             f"unlabelled: {', '.join(unlabelled)} ({summary_pt['train_sequences']} sequences)", "",
             "| arm | seed | test acc | test macro-F1 | best epoch |", "|---|---|---|---|---|"]
    lines += [f"| {r['arm']} | {r['seed']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['best_epoch']} |" for r in rows]
    lines += [f"| **{a} mean±std** | | {agg[a]['accuracy']['mean']:.4f} ± {agg[a]['accuracy']['std']:.4f} | "
              f"{agg[a]['macro_f1']['mean']:.4f} ± {agg[a]['macro_f1']['std']:.4f} | |" for a in agg]
    write_text(outp / "study.md", "\n".join(lines) + "\n")
    return result


@click.command(help=__doc__)
@click.option("--labelled", required=True)
@click.option("--unlabelled", multiple=True, required=True, help="repeated: every dataset pretrained on")
@click.option("--out", required=True)
@click.option("--label-frac", type=finite(0.0, 1.0, min_open=True), default=0.1, show_default=True)
@click.option("--seeds", type=NumberList(integer=True, minimum=0), default="0,1,2", show_default=True)
@click.option("--size", default="tiny", show_default=True)
@click.option("--clusters", type=POSITIVE_INT, default=50, show_default=True)
@click.option("--iterations", type=POSITIVE_INT, default=2, show_default=True)
@click.option("--pretrain-epochs", type=POSITIVE_INT, default=10, show_default=True)
@click.option("--pretrain-lr", type=POSITIVE, default=5e-4, show_default=True)
@click.option("--max-windows", type=POSITIVE_INT, default=None)
@click.option("--finetune-epochs", type=POSITIVE_INT, default=40, show_default=True)
@click.option("--finetune-lr", type=POSITIVE, default=1e-3, show_default=True)
@click.option("--patience", type=POSITIVE_INT, default=10, show_default=True)
@click.option("--threads", type=POSITIVE_INT, default=1, show_default=True)
def command(labelled: str, unlabelled: tuple[str, ...], out: str, label_frac: float, seeds: tuple[int, ...],
            size: str, clusters: int, iterations: int, pretrain_epochs: int, pretrain_lr: float,
            max_windows: int | None, finetune_epochs: int, finetune_lr: float, patience: int, threads: int) -> None:
    torch.set_num_threads(threads)
    run_study(labelled, list(unlabelled), out, label_frac, seeds,
              {"clusters": clusters, "iterations": iterations, "epochs": pretrain_epochs,
               "lr": pretrain_lr, "max_windows": max_windows},
              {"epochs": finetune_epochs, "lr": finetune_lr, "patience": patience, "num_threads": threads},
              size)


main = entry_point(command, "python -m ecg_edge.train.pretrain_study")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
