"""`ecg-edge run model.bin --data DIR --split test`: evaluate the shipped bytes through the C
runtime (the cffi binding), with the same report as `ecg-edge evaluate` and optionally the
byte-exact parity check against the numpy integer reference."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ecg_edge import paths
from ecg_edge.errors import EcgEdgeError


@click.command("run")
@click.argument("model_bin", type=click.Path(path_type=Path), required=False)
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="prepared dataset folder (default: the main job's dataset)")
@click.option("--split", type=click.Choice(("train", "val", "test")), default="test", show_default=True)
@click.option("--parity", is_flag=True,
              help="also run the numpy integer reference and require byte-identical int8 logits")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="where to write run_<split>_c.json/.txt (default: beside MODEL_BIN)")
@click.option("--json", "as_json", is_flag=True, help="print the metrics as JSON")
def run(model_bin: Path | None, data_dir: Path | None, split: str, parity: bool, out_dir: Path | None,
        as_json: bool) -> None:
    """Accuracy and macro precision/recall/F1 of MODEL_BIN run by the C runtime on a split."""
    from ecg_edge.report.shipped import evaluate_model_bin
    from ecg_edge.train.evaluate import format_report, write_report

    model_bin = model_bin or paths.default_model_bin()
    data_dir = data_dir or paths.default_dataset_dir()
    if not model_bin.is_file():
        raise EcgEdgeError(f"{model_bin}: no such model.bin (run `ecg-edge export` first)")
    from ecg_edge.outputs import result_set

    target = out_dir or model_bin.parent
    with result_set(target, command="run", inputs=[model_bin, data_dir], explicit=out_dir is not None) as stage:
        res = evaluate_model_bin(model_bin, data_dir, split=split, runtime="c")
        if parity:
            res["parity"] = _parity(model_bin, data_dir, split)
        written = [target / p.name for p in write_report(res, stage, f"run_{split}_c")]
    click.echo(json.dumps(res, indent=2, default=str) if as_json else format_report(res))
    if parity:
        p = res["parity"]
        click.echo(f"parity C vs numpy: {p['identical']}/{p['windows']} windows byte-identical", err=as_json)
    click.echo(f"wrote {', '.join(str(p) for p in written)}", err=as_json)
    if parity and res["parity"]["first_mismatch"]:
        raise EcgEdgeError(f"C runtime and numpy reference differ: {res['parity']['first_mismatch']}")


def _parity(model_bin: Path, data_dir: Path, split: str) -> dict:
    from ecg_edge.data.prepared import load_prepared
    from ecg_edge.modelbin import executor
    from ecg_edge.modelbin.reader import read_model
    from ecg_edge.runtime.parity import check_parity

    data = model_bin.read_bytes()
    X, _ = load_prepared(data_dir).split(split)
    X_q = executor.quantize_inputs(read_model(data, str(model_bin)), X)
    r = check_parity(data, X_q, str(model_bin))
    return {"windows": r.windows, "identical": r.identical, "first_mismatch": r.first_mismatch}
