"""`ecg-edge compress`: search a plan for a checkpoint on a target, write plan.json + compressed.pt."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click
import torch

from ecg_edge.errors import EcgEdgeError


def default_data_dir(ckpt_data: dict) -> Path:
    from ecg_edge.paths import default_dataset_dir

    d = ckpt_data.get("dataset_dir") if isinstance(ckpt_data, dict) else None
    return Path(d) if d else default_dataset_dir()


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
    """Simulated latency via ecg_edge.sim when it exists; otherwise say plainly it is unchecked."""
    try:
        import ecg_edge.sim as sim
    except ImportError:
        sim = None
    if sim is None or not hasattr(sim, "simulate"):
        return {"checked": False, "reason": "ecg_edge.sim.simulate (the Cortex-M simulator driver) is not available yet"}
    if outcome.size.model_bin is None:
        return {"checked": False, "reason": "no model.bin (packer unavailable), so nothing to simulate"}
    from ecg_edge.modelbin.executor import quantize_inputs
    from ecg_edge.modelbin.reader import read_model
    mb = read_model(outcome.size.model_bin)
    try:
        res = sim.simulate(outcome.size.model_bin, quantize_inputs(mb, X[:1]), target, parity=False)
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
              help="laq | lap | laq+lap | budget | fixed-q<1..8> | fixed-p<0..99>")
@click.option("--tolerance", type=float, default=0.01, show_default=True,
              help="allowed absolute validation-accuracy drop (gamma / Delta)")
@click.option("--reading", type=click.Choice(["printed", "conservative"]), default=None,
              help="reading of eq. (3) (default: conservative, measured better per byte; see compress/engine.py)")
@click.option("--order", type=click.Choice(["prune-then-quantize", "quantize-then-prune"]),
              default="prune-then-quantize", show_default=True)
@click.option("--finetune-epochs", type=int, default=0, show_default=True)
@click.option("--finetune-lr", type=float, default=1e-4, show_default=True)
@click.option("--max-bytes", type=int, default=None, help="whole model.bin byte budget")
@click.option("--max-latency-ms", type=float, default=None)
@click.option("--val-max", type=int, default=1024, show_default=True, help="validation windows used by the search")
@click.option("--metric", type=click.Choice(["accuracy", "macro_f1"]), default="accuracy", show_default=True,
              help="search score the tolerance applies to (macro_f1 for imbalanced data)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None)
def compress(checkpoint: Path | None, data_dir: Path | None, target: str, method: str, tolerance: float,
             reading: str | None, order: str, finetune_epochs: int, finetune_lr: float, max_bytes: int | None,
             max_latency_ms: float | None, val_max: int, metric: str, out_dir: Path | None) -> None:
    """Search a per-layer bit-width/sparsity plan and write OUT/plan.json + OUT/compressed.pt."""
    from ecg_edge.checkpoint import load_checkpoint, save_checkpoint
    from ecg_edge.compress.engine import DEFAULT_READING, CompressOptions, Compressor, parse_method
    from ecg_edge.compress.finetune import FinetuneConfig
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
    parse_method(method)
    tgt = get_target(target)
    ckpt_path = checkpoint or default_checkpoint()
    ckpt = load_checkpoint(ckpt_path)
    ds = load_prepared(data_dir or default_data_dir(ckpt.data))
    out_dir = out_dir or default_compress_dir()
    opts = CompressOptions(tolerance=tolerance, reading=reading or DEFAULT_READING, order=order,
                           max_bytes=max_bytes, val_max=val_max, metric=metric,
                           finetune=FinetuneConfig(epochs=finetune_epochs, lr=finetune_lr))
    comp = Compressor(ckpt, ds, tgt, opts, source=str(ckpt_path))
    outcome = comp.run(method)
    if max_latency_ms is not None:
        lat = check_latency(outcome, tgt, max_latency_ms, comp.X_val)
        outcome.plan.metrics["latency"] = lat
        if not lat["checked"]:
            click.echo(f"warning: the latency budget {max_latency_ms} ms cannot be checked yet: {lat['reason']}", err=True)
        elif not lat["ok"]:
            raise EcgEdgeError(f"the {method} plan takes {lat['ms']:.2f} ms ({lat['instructions']} instructions) "
                               f"on {tgt.name}, over --max-latency-ms {max_latency_ms}")
    outcome.checkpoint.extra["plan"] = asdict(outcome.plan)
    # Each file is written atomically; compressed.pt first, so plan.json (what export reads
    # beside it) never describes weights that are not on disk.
    save_checkpoint(out_dir / "compressed.pt", outcome.checkpoint)
    outcome.plan.save(out_dir / "plan.json")
    click.echo(layer_table(outcome))
    click.echo(f"wrote {out_dir / 'plan.json'} and {out_dir / 'compressed.pt'}")
