"""`ecg-edge bench`: every runtime on one trained model and dataset, in one run."""

from __future__ import annotations

from pathlib import Path

import click

from ecg_edge.options import NON_NEGATIVE_INT, POSITIVE_INT


@click.command()
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path),
              help="trained checkpoint (best.pt) or compressed.pt")
@click.option("--plan", "plan_path", type=click.Path(path_type=Path), default=None,
              help="plan.json from `ecg-edge compress` (adds the compressed rows)")
@click.option("--compressed", type=click.Path(path_type=Path), default=None,
              help="compressed.pt from `ecg-edge compress` for the plan rows (default: apply the plan to --checkpoint)")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="prepared dataset folder")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--n-latency", type=POSITIVE_INT, default=200, show_default=True, help="single-window inferences timed per runtime")
@click.option("--max-windows", type=NON_NEGATIVE_INT, default=0, help="score only the first N windows (0 = all)")
@click.option("--target", default=None,
              help="also run int8, plan and TFLite Micro + CMSIS-NN side by side on this simulated Cortex-M "
                   "(cortex-m4; exact instruction counts)")
@click.option("--n-mcu", type=POSITIVE_INT, default=2, show_default=True, help="windows per runtime on the simulated target")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def bench(checkpoint: Path, plan_path: Path | None, compressed: Path | None, data: Path, split: str, n_latency: int,
          max_windows: int, target: str | None, n_mcu: int, out: Path) -> None:
    """Bytes, memory, latency, accuracy/F1 and fp32 agreement of our C runtime, TFLite Micro,
    LiteRT and onnxruntime on the same model: OUT/bench.md, bench.json, bench.png."""
    from ecg_edge.errors import EcgEdgeError
    from ecg_edge.mobile.bench import run_bench, to_markdown
    from ecg_edge.outputs import result_set
    from ecg_edge.targets.registry import get_target

    if target is not None:
        target = get_target(target).name
        from ecg_edge.sim.toolchain import find_toolchain

        find_toolchain()  # before any work: says exactly what to install
    if n_mcu < 1:
        raise EcgEdgeError(f"--n-mcu must be >= 1, got {n_mcu}")

    with result_set(out, command="bench", inputs=[checkpoint, plan_path, compressed, data]) as stage:
        res = run_bench(checkpoint, data, stage, plan_path, n_latency=n_latency, split=split,
                        max_windows=max_windows or None, log=lambda m: click.echo(m, err=True),
                        compressed=compressed, target=target, n_mcu=n_mcu)
    click.echo(to_markdown(res))
    click.echo(f"wrote {out / 'bench.md'}, {out / 'bench.json'}, {out / 'bench.png'}")
