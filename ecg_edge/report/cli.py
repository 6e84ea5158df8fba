"""`ecg-edge report ...`: reports built from re-runnable commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import torch

from ecg_edge.errors import EcgEdgeError
from ecg_edge.options import NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, finite
from ecg_edge.report.pareto import SERIES


@click.group("report")
def report() -> None:
    """Reports (ablation tables and figures)."""


@report.command("ablation")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None)
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None)
@click.option("--target", default="cortex-m4", show_default=True)
@click.option("--tolerance", type=finite(0.0, 1.0, max_open=True), default=0.01, show_default=True)
@click.option("--finetune-epochs", type=NON_NEGATIVE_INT, default=2, show_default=True)
@click.option("--finetune-lr", type=POSITIVE, default=1e-4, show_default=True)
@click.option("--finetune-max-train", type=NON_NEGATIVE_INT, default=0, show_default=True,
              help="training windows per fine-tuning epoch (0 = all)")
@click.option("--accuracy-from", type=click.Choice(["modelbin", "fakequant"]), default="modelbin", show_default=True)
@click.option("--val-max", type=POSITIVE_INT, default=1024, show_default=True)
@click.option("--no-compare", is_flag=True, help="skip the readings/orders/budget comparison rows")
@click.option("--quant-bits", default="8,7,6,5,4,3,2,1", show_default=True, help="fixed-quantization rows")
@click.option("--prune-pcts", default="10,30,50,70,90", show_default=True, help="fixed-pruning rows")
@click.option("--budget-crs", default="12", show_default=True, help="budget rows at these true CRs ('' = none)")
@click.option("--reading", type=click.Choice(["printed", "conservative"]), default=None,
              help="reading of eq. (3) for the LAQ rows (default: the compress default)")
@click.option("--adaptive", default="laq,lap,laq+lap", show_default=True, help="adaptive-method rows")
@click.option("--metric", type=click.Choice(["accuracy", "macro_f1"]), default="accuracy", show_default=True,
              help="search score the tolerance applies to")
@click.option("--qat-crs", default="12", show_default=True,
              help="`compress --method qat` rows at these true CRs ('' = none; model.bin only)")
@click.option("--qat-epochs", type=POSITIVE_INT, default=6, show_default=True)
@click.option("--qat-lr", type=POSITIVE, default=5e-4, show_default=True)
@click.option("--qat-augment", is_flag=True, help="QAT rows: distil on augmented training windows")
@click.option("--qat-sens-windows", type=POSITIVE_INT, default=256, show_default=True,
              help="training windows for the QAT rows' KL sensitivity")
def ablation(checkpoint: Path | None, data_dir: Path | None, out_dir: Path | None, target: str, tolerance: float,
             finetune_epochs: int, finetune_lr: float, finetune_max_train: int, accuracy_from: str,
             val_max: int, no_compare: bool, quant_bits: str, prune_pcts: str, budget_crs: str,
             reading: str | None, adaptive: str, metric: str, qat_crs: str, qat_epochs: int,
             qat_sens_windows: int, qat_lr: float, qat_augment: bool) -> None:
    """The paper's Table 1 (test split): Markdown, JSON, a Pareto PNG and a per-layer chart."""
    from ecg_edge.compress.engine import DEFAULT_READING
    from ecg_edge.report.ablation import AblationConfig, markdown, run_ablation
    from ecg_edge.report.plots import layers_png, pareto_png

    if not 0.0 <= tolerance < 1.0:
        raise EcgEdgeError(f"--tolerance {tolerance}: expected an absolute accuracy drop in [0, 1)")
    if finetune_epochs < 0:
        raise EcgEdgeError(f"--finetune-epochs {finetune_epochs}: expected >= 0")
    try:
        qb = tuple(int(b) for b in quant_bits.split(",") if b.strip())
        pp = tuple(int(p) for p in prune_pcts.split(",") if p.strip())
        crs = tuple(float(c) for c in budget_crs.split(",") if c.strip())
        qcrs = tuple(float(c) for c in qat_crs.split(",") if c.strip())
    except ValueError as exc:
        raise EcgEdgeError(f"--quant-bits/--prune-pcts/--budget-crs/--qat-crs: expected comma-separated numbers "
                           f"({exc})") from exc
    if any(not 1 <= b <= 8 for b in qb) or any(not 0 <= p <= 99 for p in pp) or any(c <= 0 for c in crs):
        raise EcgEdgeError("--quant-bits must be 1..8, --prune-pcts 0..99, --budget-crs > 0")
    if any(not c > 1 for c in qcrs):
        raise EcgEdgeError(f"--qat-crs {qat_crs!r}: expected true compression ratios > 1, e.g. 12")
    bad = [a for a in adaptive.split(",") if a.strip() and a.strip() not in ("laq", "lap", "laq+lap")]
    if bad:
        raise EcgEdgeError(f"--adaptive {adaptive!r}: unknown {bad}; expected a subset of laq,lap,laq+lap")
    cfg = AblationConfig(target=target, tolerance=tolerance, finetune_epochs=finetune_epochs, finetune_lr=finetune_lr,
                         finetune_max_train=finetune_max_train, accuracy_from=accuracy_from, val_max=val_max,
                         compare=not no_compare, quant_bits=qb, prune_pcts=pp, budget_crs=crs,
                         reading=reading or DEFAULT_READING, metric=metric, qat_crs=qcrs, qat_epochs=qat_epochs,
                         qat_sens_windows=qat_sens_windows, qat_lr=qat_lr, qat_augment=qat_augment,
                         adaptive=tuple(a.strip() for a in adaptive.split(",") if a.strip()))
    _report("ablation", checkpoint, data_dir, out_dir,
            lambda ck, dd, partial: run_ablation(ck, dd, cfg, log=lambda s: click.echo(s, err=True),
                                                 on_rows=lambda rows: partial({"rows": rows})),
            markdown, {"pareto.png": pareto_png, "layers.png": layers_png})


def _report(name: str, checkpoint: Path | None, data_dir: Path | None, out_dir: Path | None,
            run: Callable[[Path, Path, Callable[[dict], None]], dict], markdown: Callable[[dict], str],
            pngs: dict[str, Callable[[dict, Path], None]]) -> None:
    """Run one report on the checkpoint and dataset (the main job's by default) into out_dir
    (default work_root()/report/<name>): what is done so far goes to <name>.partial.json as it
    comes (an interrupted run keeps it), the finished set (json, md, PNGs) is moved in whole."""
    from ecg_edge.atomic import write_json, write_text
    from ecg_edge.checkpoint import load_checkpoint
    from ecg_edge.compress.cli import default_data_dir
    from ecg_edge.outputs import result_set
    from ecg_edge.paths import default_checkpoint, work_root

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    checkpoint = checkpoint or default_checkpoint()
    data_dir = data_dir or default_data_dir(load_checkpoint(checkpoint).data, checkpoint)
    explicit = out_dir is not None
    out_dir = out_dir or work_root() / "report" / name
    partial = out_dir / f"{name}.partial.json"
    with result_set(out_dir, command=f"report {name}", inputs=[checkpoint, data_dir], explicit=explicit) as stage:
        rep = run(checkpoint, data_dir, lambda so_far: write_json(partial, so_far))
        md = markdown(rep)
        write_json(stage / f"{name}.json", rep)
        write_text(stage / f"{name}.md", md)
        for png, draw in pngs.items():
            draw(rep, stage / png)
    partial.unlink(missing_ok=True)
    click.echo(md)
    click.echo(f"wrote {out_dir}/{name}.md, {name}.json, {', '.join(pngs)}")


def _numbers(option: str, text: str, kind: type) -> tuple:
    try:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise EcgEdgeError(f"{option} {text!r}: expected comma-separated numbers ({exc})") from exc


@report.command("pareto")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None)
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="[default: ecg-edge-out/report/pareto]")
@click.option("--target", default="cortex-m4", show_default=True)
@click.option("--series", default=",".join(SERIES), show_default=True, help="which curves")
@click.option("--bits", default="8,6,4,3,2", show_default=True, help="fixed-q points")
@click.option("--tolerances", default="0.005,0.01,0.02,0.04", show_default=True, help="LAQ / LAQ+LAP points")
@click.option("--budget-crs", default="4,8,12,16,24,32", show_default=True, help="byte-budget points (true CR)")
@click.option("--budget-sparsities", default=None,
              help="sparsities the byte-budget knapsack may give a layer [default: the compress default]")
@click.option("--finetune-epochs", type=NON_NEGATIVE_INT, default=0, show_default=True,
              help="fine-tuning epochs for every compressed point except int8")
@click.option("--finetune-lr", type=POSITIVE, default=1e-4, show_default=True)
@click.option("--finetune-max-train", type=NON_NEGATIVE_INT, default=0, show_default=True,
              help="training windows per fine-tuning epoch (0 = all)")
@click.option("--val-max", type=POSITIVE_INT, default=1024, show_default=True)
@click.option("--metric", type=click.Choice(["accuracy", "macro_f1"]), default="accuracy", show_default=True,
              help="search score the tolerances apply to")
@click.option("--runtime", type=click.Choice(["c", "numpy"]), default="c", show_default=True,
              help="integer runtime that runs each model.bin over the test split (bit-exact with each other)")
@click.option("--qat-epochs", type=POSITIVE_INT, default=6, show_default=True, help="qat series: QAT epochs")
@click.option("--sens-windows", type=POSITIVE_INT, default=256, show_default=True,
              help="qat series: training windows for the KL sensitivity")
@click.option("--qat-max-repairs", type=NON_NEGATIVE_INT, default=3, show_default=True,
              help="qat series: verify/repair rounds per point (0 = ship the budget's plan as trained)")
@click.option("--qat-tolerance", type=finite(0.0, 1.0, max_open=True), default=0.005, show_default=True,
              help="qat series: allowed validation drop of the shipped model.bin (--metric)")
@click.option("--sensitivity-from", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="qat series: reuse the sensitivity recorded in this `compress --method qat` plan.json "
                   "of the same checkpoint instead of measuring it again")
def pareto(checkpoint: Path | None, data_dir: Path | None, out_dir: Path | None, target: str, series: str,
           bits: str, tolerances: str, budget_crs: str, budget_sparsities: str | None, finetune_epochs: int, finetune_lr: float,
           finetune_max_train: int, val_max: int, metric: str, runtime: str, qat_epochs: int,
           sens_windows: int, qat_max_repairs: int, qat_tolerance: float, sensitivity_from: Path | None) -> None:
    """Test macro-F1 of the shipped model.bin (95% CI bars) vs true CR: PNG + Markdown + JSON."""
    from ecg_edge.report.pareto import ParetoConfig, markdown, pareto_png, run_pareto

    cfg = ParetoConfig(target=target, series=tuple(s.strip() for s in series.split(",") if s.strip()),
                       bits=_numbers("--bits", bits, int), tolerances=_numbers("--tolerances", tolerances, float),
                       budget_crs=_numbers("--budget-crs", budget_crs, float), finetune_epochs=finetune_epochs,
                       **({} if budget_sparsities is None else
                          {"budget_sparsities": _numbers("--budget-sparsities", budget_sparsities, float)}),
                       finetune_lr=finetune_lr, finetune_max_train=finetune_max_train, val_max=val_max,
                       metric=metric, runtime=runtime, qat_epochs=qat_epochs, sens_windows=sens_windows,
                       qat_max_repairs=qat_max_repairs, qat_tolerance=qat_tolerance,
                       sensitivity_from=None if sensitivity_from is None else str(sensitivity_from))
    _report("pareto", checkpoint, data_dir, out_dir,
            lambda ck, dd, partial: run_pareto(ck, dd, cfg, log=lambda s: click.echo(s, err=True),
                                               on_points=lambda pts: partial({"points": pts})),
            markdown, {"pareto.png": pareto_png})
