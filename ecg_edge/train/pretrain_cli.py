"""`ecg-edge pretrain`: self-supervised HuBERT-ECG pretraining on unlabelled prepared windows."""

from __future__ import annotations

import click
import torch

from ecg_edge.models.hubert_ecg import SIZES
from ecg_edge.options import NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, finite


@click.command("pretrain")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(),
              help="Prepared dataset folder (repeatable); only its X arrays are used, labels ignored.")
@click.option("--out", required=True, type=click.Path(), help="Output folder (state, iterN/, encoder/).")
@click.option("--size", type=click.Choice(list(SIZES)), default="tiny", show_default=True)
@click.option("--leads", "in_leads", type=POSITIVE_INT, default=1, show_default=True,
              help="Leads of the encoder's input; 1 turns every lead of every window into a sequence.")
@click.option("--iterations", type=POSITIVE_INT, default=2, show_default=True,
              help="Clustering iterations (1: signal features; >1: hidden states of --feature-layer).")
@click.option("--clusters", type=click.IntRange(min=2), default=50, show_default=True, help="k of k-means.")
@click.option("--mask-prob", type=finite(0.0, 1.0, min_open=True, max_open=True), default=0.33, show_default=True)
@click.option("--mask-length", type=POSITIVE_INT, default=1, show_default=True, help="Frames per masked span.")
@click.option("--epochs", type=POSITIVE_INT, default=10, show_default=True, help="Epochs per iteration.")
@click.option("--batch-size", type=POSITIVE_INT, default=32, show_default=True)
@click.option("--lr", type=POSITIVE, default=5e-4, show_default=True)
@click.option("--feature-layer", type=NON_NEGATIVE_INT, default=None,
              help="Transformer layer (1-based) whose hidden states are clustered after iteration 1.")
@click.option("--max-windows", type=POSITIVE_INT, default=None, help="Cap on unlabelled training sequences.")
@click.option("--seed", type=NON_NEGATIVE_INT, default=0, show_default=True)
@click.option("--threads", type=POSITIVE_INT, default=None, help="torch intra-op threads.")
@click.option("--window-s", type=POSITIVE, default=None,
              help="Seconds of each window the encoder sees [default: the model config's, 10.24 s].")
@click.option("--hubert-set", "hubert_items", multiple=True, metavar="KEY=VALUE",
              help="hubert_ecg config field (repeatable), e.g. target_fs=100 conv_stride=[4,2,2,2,1]; "
                   "fine-tuning from the encoder takes the adapter fields over")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out.")
def pretrain(data: tuple[str, ...], out: str, size: str, in_leads: int, iterations: int, clusters: int,
             mask_prob: float, mask_length: int, epochs: int, batch_size: int, lr: float,
             feature_layer: int | None, max_windows: int | None, seed: int, threads: int | None,
             window_s: float | None, hubert_items: tuple[str, ...], resume: bool) -> None:
    """Masked prediction of k-means cluster ids (HuBERT, the paper's eq. 2); writes OUT/encoder,
    a HuBERT-ECG checkpoint directory that fine-tuning starts from."""
    from ecg_edge.train.cli import parse_hubert_set
    from ecg_edge.train.pretrain import PretrainConfig
    from ecg_edge.train.pretrain import pretrain as run

    if threads:
        torch.set_num_threads(threads)
    overrides = parse_hubert_set(hubert_items)
    if window_s is not None:
        overrides["window_s"] = window_s
    cfg = PretrainConfig(data=list(data), out=out, size=size, in_leads=in_leads, iterations=iterations,
                         clusters=clusters, mask_prob=mask_prob, mask_length=mask_length, epochs=epochs,
                         batch_size=batch_size, lr=lr, feature_layer=feature_layer, seed=seed,
                         max_windows=max_windows,
                         model_overrides=overrides)
    run(cfg, resume=resume, log=click.echo)
