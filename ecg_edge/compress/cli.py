"""`ecg-edge compress`: search a plan for a checkpoint on a target, write plan.json + compressed.pt."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click
import torch

from ecg_edge.errors import EcgEdgeError
from ecg_edge.options import NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, finite


def default_data_dir(ckpt_data: dict, ckpt_path: Path | None = None) -> Path:
    from ecg_edge.checkpoint import recorded_dataset_dir
    from ecg_edge.paths import default_dataset_dir

    return recorded_dataset_dir(ckpt_data, ckpt_path) or default_dataset_dir()


def layer_table(outcome) -> str:
    rows = [f"{'layer':<28} {'params':>7} {'bits':>4} {'sparsity':>8} {'nnz':>7} {'enc':>9} {'bytes':>7} {'I_l':>6}"]
    for lp in outcome.plan.layers:
        rows.append(f"{lp.name:<28} {lp.params:>7} {lp.bits:>4} {lp.sparsity:>8.3f} {lp.nnz:>7} "
                    f"{lp.encoding:>9} {lp.bytes:>7} {lp.importance:>6.3f}")
    m = outcome.plan.metrics
    rows.append(f"weight blocks {m['weight_block_bytes']} B; model {m['model_bytes']} B ({m['bytes_source']}); "
                f"arena {m['arena_bytes']} B ({m['arena_source']})")
    tcr = m.get("true_cr")
    rows.append(f"val accuracy (fake-quant, {m['val_windows']} windows): {m['val_accuracy_fakequant']:.4f} "
                f"(fp32 {m['val_accuracy_fp32']:.4f}); nominal CR {m['nominal_cr']:.2f}x; "
                + (f"true CR {tcr:.2f}x" if tcr else f"CR weight blocks only {m['cr_weight_blocks_only']:.2f}x")
                + f"; search {m['search_seconds']:.1f} s, {m['search_evaluations']} evaluations")
    rows.append(outcome.fit.summary())
    return "\n".join(rows)


def check_latency(outcome, target, max_ms: float, X) -> dict:
    """Simulated latency of the model.bin on the target; where there is none or the simulation
    fails, say plainly it is unchecked."""
    if outcome.size.model_bin is None:
        return {"checked": False, "reason": "no model.bin (this architecture is not lowered to model.bin), "
                                            "so nothing to simulate"}
    from ecg_edge.modelbin.executor import quantize_inputs
    from ecg_edge.modelbin.reader import read_model
    from ecg_edge.sim import simulate
    mb = read_model(outcome.size.model_bin)
    try:
        res = simulate(outcome.size.model_bin, quantize_inputs(mb, X[:1]), target, parity=False)
    except EcgEdgeError as exc:  # e.g. ToolchainMissing: say so, never guess a latency
        return {"checked": False, "reason": f"simulation failed: {exc}"}
    instr = max(int(i) for i in res.instructions)
    ms = target.ms_from_instructions(instr)
    return {"checked": True, "instructions": instr, "ms": ms, "max_ms": max_ms, "ok": ms <= max_ms,
            "cycles_per_instruction": target.cycles_per_instruction, "sim_fits": bool(res.fits)}


@click.command("compress")
@click.argument("checkpoint", required=False, type=click.Path(path_type=Path))
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="prepared dataset (default: the one recorded in the checkpoint)")
@click.option("--target", default="cortex-m4", show_default=True, help="cortex-m4|m7|m33|m55 (cortex-m = m4)")
@click.option("--method", default="laq", show_default=True,
              help="laq | lap | laq+lap | budget | qat | fixed-q<1..8> | fixed-p<0..99> (qat: label-free "
                   "sensitivity -> knapsack -> distillation QAT -> verify/repair on model.bin; writes OUT/model.bin)")
@click.option("--tolerance", type=finite(0.0, 1.0, max_open=True), default=0.01, show_default=True,
              help="allowed absolute validation drop of --metric (gamma / Delta); for qat: of the shipped model.bin")
@click.option("--reading", type=click.Choice(["printed", "conservative"]), default=None,
              help="reading of eq. (3) (default: conservative, measured better per byte; see compress/engine.py)")
@click.option("--order", type=click.Choice(["prune-then-quantize", "quantize-then-prune"]),
              default="prune-then-quantize", show_default=True)
@click.option("--finetune-epochs", type=NON_NEGATIVE_INT, default=0, show_default=True)
@click.option("--finetune-lr", type=POSITIVE, default=1e-4, show_default=True)
@click.option("--max-bytes", type=POSITIVE_INT, default=None, help="whole model.bin byte budget")
@click.option("--max-latency-ms", type=POSITIVE, default=None,
              help="latency on --target (simulated instructions x CPI / clock): the shipped model.bin is "
                   "simulated and refused when over; with --channel-prune it also sets the MAC budget")
@click.option("--val-max", type=POSITIVE_INT, default=1024, show_default=True, help="validation windows used by the search")
@click.option("--metric", type=click.Choice(["accuracy", "macro_f1"]), default="accuracy", show_default=True,
              help="search score the tolerance applies to (macro_f1 for imbalanced data)")
@click.option("--sensitivity", type=click.Choice(["kl", "hutchinson"]), default="kl", show_default=True,
              help="qat: label-free layer sensitivity (KL of the whole model's output, or Hutchinson Hessian trace)")
@click.option("--sens-windows", type=POSITIVE_INT, default=2000, show_default=True, help="qat: training windows for the sensitivity")
@click.option("--target-cr", type=POSITIVE, default=None,
              help="qat: whole model.bin budget as a true compression ratio (fp32 parameter bytes / CR)")
@click.option("--max-macs", type=POSITIVE_INT, default=None, help="qat: executed multiply-accumulates per window")
@click.option("--qat-epochs", type=POSITIVE_INT, default=6, show_default=True)
@click.option("--qat-lr", type=POSITIVE, default=5e-4, show_default=True)
@click.option("--qat-augment", is_flag=True,
              help="qat: distil on augmented training windows (shifts, baseline wander, muscle noise)")
@click.option("--sensitivity-from", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="qat: reuse the sensitivity a `compress --method qat` plan.json of this checkpoint recorded")
@click.option("--qat-step-lr", type=click.FloatRange(min=0.0), default=None,
              help="qat: learning rate of the weight step sizes relative to their size (0: --qat-lr, like the "
                   "weights) [default: 0.01 for hubert_ecg, 0 for resnet1d]")
@click.option("--max-repairs", type=NON_NEGATIVE_INT, default=3, show_default=True,
              help="qat: promotions of the most sensitive layer while the shipped drop exceeds --tolerance")
@click.option("--channel-prune", is_flag=True, default=False,
              help="qat: first remove inner channels of the residual blocks (KL sensitivity) to meet the MAC "
                   "budget of --max-macs / --max-latency-ms, distillation fine-tune, then quantize the narrow model")
@click.option("--prune-epochs", type=NON_NEGATIVE_INT, default=15, show_default=True,
              help="--channel-prune: distillation epochs of the narrow model before QAT")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None)
def compress(checkpoint: Path | None, data_dir: Path | None, target: str, method: str, tolerance: float,
             reading: str | None, order: str, finetune_epochs: int, finetune_lr: float, max_bytes: int | None,
             max_latency_ms: float | None, val_max: int, metric: str, sensitivity: str, sens_windows: int,
             target_cr: float | None, max_macs: int | None, qat_epochs: int, qat_lr: float, qat_augment: bool, sensitivity_from: Path | None, qat_step_lr: float | None,
             max_repairs: int,
             channel_prune: bool, prune_epochs: int, out_dir: Path | None) -> None:
    """Search a per-layer bit-width/sparsity plan and write OUT/plan.json + OUT/compressed.pt."""
    from ecg_edge.checkpoint import load_checkpoint
    from ecg_edge.compress.engine import parse_method
    from ecg_edge.data.prepared import load_prepared
    from ecg_edge.paths import default_checkpoint, default_compress_dir
    from ecg_edge.targets.registry import get_target

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    if not 0.0 <= tolerance < 1.0:
        raise EcgEdgeError(f"--tolerance {tolerance}: expected an absolute accuracy drop in [0, 1), e.g. 0.01")
    if finetune_epochs < 0:
        raise EcgEdgeError(f"--finetune-epochs {finetune_epochs}: expected >= 0")
    if max_bytes is not None and max_bytes <= 0:
        raise EcgEdgeError(f"--max-bytes {max_bytes}: expected a positive byte count")
    kind, _ = parse_method(method)
    if target_cr is not None and not target_cr > 1.0:
        raise EcgEdgeError(f"--target-cr {target_cr}: expected a ratio > 1, e.g. 16")
    if target_cr is not None and max_bytes is not None:
        raise EcgEdgeError("--target-cr and --max-bytes both set a byte budget; give one")
    if (target_cr is not None or max_macs is not None or channel_prune) and kind != "qat":
        raise EcgEdgeError("--target-cr / --max-macs / --channel-prune apply to --method qat only")
    if sensitivity_from is not None and kind != "qat":
        raise EcgEdgeError("--sensitivity-from applies to --method qat only")
    if channel_prune and max_macs is None and max_latency_ms is None:
        raise EcgEdgeError("--channel-prune needs a budget: --max-macs N or --max-latency-ms MS")
    from ecg_edge.compress.qat import QATConfig

    prune = {"epochs": prune_epochs} if channel_prune else None
    qat_opts = {"sensitivity": sensitivity, "sens_windows": sens_windows, "target_cr": target_cr,
                "max_macs": max_macs, "max_repairs": max_repairs, "qat": QATConfig(epochs=qat_epochs, lr=qat_lr, step_lr_relative=qat_step_lr,
                                                                      augment=qat_augment),
                "sensitivity_from": sensitivity_from}
    tgt = get_target(target)
    from ecg_edge.outputs import result_set

    ckpt_path = checkpoint or default_checkpoint()
    ckpt = load_checkpoint(ckpt_path)
    data_dir = data_dir or default_data_dir(ckpt.data, ckpt_path)
    ds = load_prepared(data_dir)
    explicit = out_dir is not None
    out_dir = out_dir or default_compress_dir()
    with result_set(out_dir, command="compress", inputs=[ckpt_path, data_dir], explicit=explicit) as stage:
        _compress_into(stage, out_dir, ckpt, ckpt_path, ds, tgt, method, tolerance, reading, order, max_bytes,
                       val_max, metric, finetune_epochs, finetune_lr, max_latency_ms, qat_opts, prune)


def _channel_prune(stage: Path, ckpt, ds, tgt, max_macs: int | None, max_latency_ms: float | None, prune: dict):
    """Narrow the checkpoint to the MAC budget (compress/channels.py); writes OUT/pruned.pt."""
    from ecg_edge.checkpoint import save_checkpoint
    from ecg_edge.compress.channels import PruneConfig, macs_for_latency, prune_checkpoint

    Xt, yt = ds.split("train")
    latency = None
    budgets, what = [], []
    if max_macs is not None:
        budgets.append(max_macs)
        what.append(f"--max-macs {max_macs:,}")
    if max_latency_ms is not None:
        lat = macs_for_latency(tgt, max_latency_ms)
        budgets.append(lat)
        what.append(f"--max-latency-ms {max_latency_ms:g} on {tgt.name} ({tgt.clock_hz / 1e6:g} MHz, CPI "
                    f"{tgt.cycles_per_instruction:g}, {tgt.instructions_per_mac:.3f} instructions per MAC: "
                    f"{lat:,} MACs)")
        latency = _measured_latency(ckpt, tgt, max_latency_ms, Xt)
    Xv, yv = ds.split("val")
    try:
        groups = ds.groups("val")
    except EcgEdgeError:
        groups = None
    pruned, report = prune_checkpoint(ckpt, Xt, yt, Xv, yv, min(budgets), PruneConfig(**prune), groups,
                                      " and ".join(what), click.echo, latency)
    save_checkpoint(stage / "pruned.pt", pruned)
    return pruned, report


def _measured_latency(ckpt, tgt, max_ms: float, X):
    """A LatencyCheck that packs a candidate narrow model int8 dense and counts its instructions
    on the simulated target; None (with a warning) when the simulator's toolchain is missing."""
    import numpy as np

    from ecg_edge.checkpoint import Checkpoint
    from ecg_edge.compress.channels import LatencyCheck
    from ecg_edge.modelbin.executor import quantize_inputs
    from ecg_edge.modelbin.packer import pack
    from ecg_edge.modelbin.reader import read_model
    from ecg_edge.sim import simulate
    from ecg_edge.sim.toolchain import find_toolchain

    try:
        find_toolchain()
    except EcgEdgeError as exc:
        click.echo(f"warning: --max-latency-ms: candidates are not simulated ({exc}); the MAC budget comes from "
                   f"{tgt.name}'s {tgt.instructions_per_mac:.3f} instructions per MAC alone", err=True)
        return None
    calib = np.asarray(X[:8])

    def instructions(narrow) -> int:
        ck = Checkpoint(ckpt.arch, narrow.cfg.to_dict(), narrow.state_dict(), list(ckpt.classes), dict(ckpt.data))
        data = pack(ck, None, calib, max_calib_windows=8).data
        res = simulate(data, quantize_inputs(read_model(data), calib[:1]), tgt, parity=False)
        return max(int(i) for i in res.instructions)

    limit = int(max_ms * 1e-3 * tgt.clock_hz / tgt.cycles_per_instruction)
    return LatencyCheck(instructions, limit)


def _compress_into(stage: Path, out_dir: Path, ckpt, ckpt_path: Path, ds, tgt, method: str, tolerance: float,
                   reading: str | None, order: str, max_bytes: int | None, val_max: int, metric: str,
                   finetune_epochs: int, finetune_lr: float, max_latency_ms: float | None, qat_opts: dict,
                   prune: dict | None = None) -> None:
    from ecg_edge.checkpoint import save_checkpoint
    from ecg_edge.compress.engine import DEFAULT_READING, CompressOptions, Compressor, parse_method
    from ecg_edge.compress.finetune import FinetuneConfig

    report = None
    opts_in = qat_opts
    qat_opts = {k: v for k, v in qat_opts.items() if k != "sensitivity_from"}
    if prune is not None:
        from ecg_edge.compress.layers import fp32_parameter_bytes
        from ecg_edge.models.registry import model_from_checkpoint

        if qat_opts["target_cr"] is not None:  # the ratio stays relative to the unpruned model
            max_bytes = int(fp32_parameter_bytes(model_from_checkpoint(ckpt)) / qat_opts["target_cr"])
            qat_opts = {**qat_opts, "target_cr": None}
        ckpt, report = _channel_prune(stage, ckpt, ds, tgt, qat_opts["max_macs"], max_latency_ms, prune)
    opts = CompressOptions(tolerance=tolerance, reading=reading or DEFAULT_READING, order=order,
                           max_bytes=max_bytes, val_max=val_max, metric=metric,
                           finetune=FinetuneConfig(epochs=finetune_epochs, lr=finetune_lr),
                           ship_source=str((out_dir / "compressed.pt").resolve()), **qat_opts)
    sens_from = opts_in.get("sensitivity_from")
    comp = Compressor(ckpt, ds, tgt, opts, source=str(ckpt_path))
    if sens_from is not None:
        from ecg_edge.layerplan.plan import CompressionPlan

        comp.reuse_sensitivity(CompressionPlan.load(sens_from), str(sens_from))
    kind, _ = parse_method(method)
    outcome = comp.shipped(log=click.echo) if kind == "qat" else comp.run(method)
    if report is not None:
        outcome.plan.metrics["channel_prune"] = report
        outcome.checkpoint.extra["channel_prune"] = report
    if kind == "qat":
        _check_shipped(outcome, comp, method)
    if max_latency_ms is not None:
        lat = check_latency(outcome, tgt, max_latency_ms, comp.X_val)
        outcome.plan.metrics["latency"] = lat
        if not lat["checked"]:
            click.echo(f"warning: the latency budget {max_latency_ms} ms cannot be checked yet: {lat['reason']}", err=True)
        elif not lat["ok"]:
            raise EcgEdgeError(f"the {method} plan takes {lat['ms']:.2f} ms ({lat['instructions']} instructions) "
                               f"on {tgt.name}, over --max-latency-ms {max_latency_ms}")
    outcome.checkpoint.extra["plan"] = asdict(outcome.plan)
    # Both files are staged and moved in together, so plan.json (what export reads beside it)
    # never describes weights that are not on disk.
    save_checkpoint(stage / "compressed.pt", outcome.checkpoint)
    outcome.plan.save(stage / "plan.json")
    if kind == "qat":  # the verified bytes themselves (export of compressed.pt writes the same file)
        from ecg_edge.atomic import write_bytes

        write_bytes(stage / "model.bin", outcome.size.model_bin)
    click.echo(layer_table(outcome))
    if kind == "qat":
        click.echo(shipped_summary(outcome.plan))
    if report is not None:
        m = outcome.plan.metrics
        click.echo(f"channel-pruned: {report['macs_before']:,} -> {report['macs_after']:,} MACs "
                   f"({report['macs_after'] / report['macs_before']:.3f}x); inner widths {report['widths_before']} -> "
                   f"{report['widths_after']}; true CR vs the unpruned fp32 model "
                   f"{report['fp32_param_bytes_unpruned'] / m['model_bytes']:.2f}x")
        m = outcome.plan.metrics
        if not m["within_tolerance"]:
            click.echo(f"warning: after {len(m['repairs'])} repair(s) the shipped model.bin still drops "
                       f"{m['val_drop_shipped']:+.4f} {m['metric']} on validation, over --tolerance {tolerance}; "
                       "raise --max-repairs or the byte budget", err=True)
    click.echo(f"wrote {out_dir / 'plan.json'}, {out_dir / 'compressed.pt'}"
               + (f" and {out_dir / 'model.bin'}" if kind == "qat" else "")
               + (f" (+ {out_dir / 'pruned.pt'}, the narrow fp32 model)" if report is not None else ""))


def _check_shipped(outcome, comp, method: str) -> None:
    lim = outcome.plan.metrics["byte_limit"]
    if outcome.size.total_bytes > lim and not outcome.plan.metrics["repairs"]:
        raise EcgEdgeError(f"the {method} plan needs {outcome.size.total_bytes} B, over the budget {lim} B")
    if not outcome.fit.fits:
        raise EcgEdgeError(f"the {method} plan does not fit {comp.target.name}: {outcome.fit.summary()}")


def shipped_summary(plan) -> str:
    m = plan.metrics
    rows = [f"shipped model.bin on validation ({m['val_windows']} windows, integer executor): {m['metric']} "
            f"{m['val_metric_shipped']:.4f} vs fp32 {m['val_metric_fp32']:.4f} (drop {m['val_drop_shipped']:+.4f}, "
            f"tolerance {plan.tolerance}: {'met' if m['within_tolerance'] else 'MISSED'}); "
            f"agreement with the QAT fake-quant {m['agreement_shipped_vs_fakequant_val']:.4f}, "
            f"logits equal: {m['logits_equal_val']}"]
    if m.get("val_delta_shipped"):
        from ecg_edge.stats import delta_line

        rows.append("shipped - fp32 on validation: " + delta_line(m["val_delta_shipped"]))
    for i, r in enumerate(m["repairs"], 1):
        rows.append(f"repair {i}: {r['layer']} {tuple(r['before'])} -> {tuple(r['after'])} "
                    f"(shipped drop {r['val_drop']:+.4f})")
    rows.append(f"true CR {m['true_cr']:.2f}x ({m['model_bytes']} B of {m['fp32_param_bytes']} fp32 B; budget {m['byte_limit']} B); "
                f"sensitivity {m['sensitivity']['method']} on {m['sensitivity']['windows']} training windows "
                f"{m['sensitivity']['seconds']:.1f} s; total {m['search_seconds']:.1f} s")
    return "\n".join(rows)
